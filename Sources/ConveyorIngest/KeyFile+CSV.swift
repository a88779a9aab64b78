extension KeyFile {
    /// CSV: a header row, then one record per key. Blank lines and `#` comments are skipped.
    static func readCSV(_ bytes: ArraySlice<UInt8>, column: String?, source: String, into collector: inout KeyCollector) throws {
        var reader = CSVReader(bytes)
        guard let header = reader.next() else { throw KeyFileError.emptyHeader(path: source) }
        if let problem = header.quoteProblem {
            throw KeyFileError.malformedHeader(path: source, line: header.line, reason: problem.reason(spanningLines: false))
        }
        let names = header.fields.map(trimmingWhitespace)
        guard names.contains(where: { !$0.isEmpty }) else { throw KeyFileError.emptyHeader(path: source) }
        let keyColumn = try keyColumnIndex(column, in: names, source: source)

        while let record = reader.next() {
            if let problem = record.quoteProblem {
                report(problem, in: record, reader: &reader, collector: &collector)
                continue
            }
            let text = reader.text(of: record)
            guard record.fields.count == names.count else {
                let reason = "has \(count(record.fields.count, "field")), header has \(names.count)"
                collector.reject(line: record.line, reason: reason, text: text)
                continue
            }
            let key = trimmingWhitespace(record.fields[keyColumn])
            guard !key.isEmpty else {
                let name = names[keyColumn].isEmpty ? "\(keyColumn + 1)" : "'\(names[keyColumn])'"
                collector.reject(line: record.line, reason: "empty key in column \(name)", text: text)
                continue
            }
            collector.add(key, line: record.line, text: text)
        }
    }

    /// A quote problem in a record that spans lines almost always means a missing closing
    /// quote swallowed the lines after it. Those lines are most likely good records, so the
    /// bad line alone is reported and reading starts again on the next line: a single typo
    /// must not cost the rest of the file.
    static func report(_ problem: CSVReader.QuoteProblem, in record: CSVReader.Record,
                       reader: inout CSVReader, collector: inout KeyCollector) {
        if record.spansLines {
            collector.reject(line: record.line, reason: problem.reason(spanningLines: true), text: reader.firstLineText(of: record))
            reader.resume(afterFirstLineOf: record)
        } else {
            collector.reject(line: record.line, reason: problem.reason(spanningLines: false), text: reader.text(of: record))
        }
    }

    /// The index of the key column: an exact match of the trimmed name first, then one that
    /// differs only in case (`HSN_Code` for `hsn_code`); the first column when `column` is nil.
    static func keyColumnIndex(_ column: String?, in names: [String], source: String) throws -> Int {
        guard let column else { return 0 }
        let wanted = trimmingWhitespace(column)
        if let exact = names.firstIndex(of: wanted) { return exact }
        let lowercased = wanted.lowercased()
        if let loose = names.firstIndex(where: { $0.lowercased() == lowercased }) { return loose }
        throw KeyFileError.missingColumn(path: source, column: column, available: names)
    }
}

/// Reads RFC 4180 records from UTF-8 bytes: quoted fields may hold commas, doubled quotes
/// and line breaks. It is lenient where that loses nothing (spaces around a quoted field, a
/// quote inside an unquoted field is kept as text) and reports the rest in ``Record/quoteProblem``.
struct CSVReader {
    struct Record {
        var fields: [String] = []
        /// The line the record starts on: the one to report.
        var line: Int
        /// The line it ends on: later than `line` when a quoted field holds line breaks.
        var lastLine: Int
        /// The record's bytes, without its final line break.
        var bytes: Range<Int>
        var quoteProblem: QuoteProblem?

        var spansLines: Bool { lastLine > line }
    }

    enum QuoteProblem: Equatable {
        case unterminated(field: Int)
        case textAfterQuote(field: Int)

        func reason(spanningLines: Bool) -> String {
            switch self {
            case .unterminated(let field):
                "unterminated quote in field \(field)"
            case .textAfterQuote(let field) where spanningLines:
                // The quote that "closed" the field is really the opening quote of a later
                // line: the quote opened here is the one missing its partner.
                "unterminated quote in field \(field)"
            case .textAfterQuote(let field):
                "text after the closing quote in field \(field) (write a quote inside a quoted field as \"\")"
            }
        }
    }

    let bytes: ArraySlice<UInt8>
    /// The offset of the first byte not read yet.
    private(set) var position: Int
    /// The line `position` is on.
    private(set) var line: Int
    /// False while more bytes may follow `bytes` (a stream read in chunks): then ``next()``
    /// returns nil instead of a record or blank line that is not ended by a line break yet,
    /// and reads nothing of it.
    var isFinal = true
    /// Key files skip lines whose first non-blank character is `#`; data files do not.
    var skipsComments = true
    /// Reused for the unescaped text of quoted fields, to avoid an allocation per field.
    private var quoted: [UInt8] = []

    init(_ bytes: ArraySlice<UInt8>, line: Int = 1) {
        self.bytes = bytes
        position = bytes.startIndex
        self.line = line
    }

    /// The next record, skipping blank and comment lines; nil at the end of the file.
    mutating func next() -> Record? {
        skipBlankAndCommentLines()
        guard position < bytes.endIndex else { return nil }
        let start = position
        let startLine = line
        var record = Record(line: line, lastLine: line, bytes: start..<start)
        repeat {
            record.fields.append(readField(number: record.fields.count + 1, problem: &record.quoteProblem))
        } while consumeComma()
        guard isFinal || isLineBreakComplete(at: position) else {
            (position, line) = (start, startLine)
            return nil
        }
        record.lastLine = line
        record.bytes = start..<position
        if position < bytes.endIndex {
            position = bytes.startOfNextLine(after: position)
            line += 1
        }
        return record
    }

    /// Continues on the line after the one `record` starts on; see `KeyFile.report`.
    mutating func resume(afterFirstLineOf record: Record) {
        position = bytes.startOfNextLine(after: bytes.endOfLine(from: record.bytes.lowerBound))
        line = record.line + 1
    }

    /// The record as written in the file, for issues.
    func text(of record: Record) -> String {
        trimmingWhitespace(String(decoding: bytes[record.bytes], as: UTF8.self))
    }

    func firstLineText(of record: Record) -> String {
        let start = record.bytes.lowerBound
        return trimmingWhitespace(String(decoding: bytes[start..<bytes.endOfLine(from: start)], as: UTF8.self))
    }

    private mutating func skipBlankAndCommentLines() {
        while position < bytes.endIndex {
            let first = firstNonBlank(from: position)
            let end = bytes.endOfLine(from: position)
            guard first == end || (skipsComments && bytes[first] == ASCII.hash) else { return }
            guard isFinal || isLineBreakComplete(at: end) else { return }
            position = bytes.startOfNextLine(after: end)
            line += 1
        }
    }

    private mutating func readField(number: Int, problem: inout QuoteProblem?) -> String {
        // Spaces before an opening quote are tolerated: `a, "b, c"` is two fields.
        let first = firstNonBlank(from: position)
        if first < bytes.endIndex, bytes[first] == ASCII.quote {
            position = first + 1
            return readQuoted(number: number, problem: &problem)
        }
        let start = position
        skipToFieldEnd()
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    /// Reads from after an opening quote through the closing one; `""` stands for a quote.
    private mutating func readQuoted(number: Int, problem: inout QuoteProblem?) -> String {
        quoted.removeAll(keepingCapacity: true)
        while position < bytes.endIndex {
            let byte = bytes[position]
            position += 1
            if byte == ASCII.quote {
                guard position < bytes.endIndex, bytes[position] == ASCII.quote else {
                    return finishQuoted(number: number, problem: &problem)
                }
                position += 1
            } else if byte == ASCII.lf || (byte == ASCII.cr && (position == bytes.endIndex || bytes[position] != ASCII.lf)) {
                line += 1  // counted once for `\r\n`, on its `\n`
            }
            quoted.append(byte)
        }
        problem = problem ?? .unterminated(field: number)
        return String(decoding: quoted, as: UTF8.self)
    }

    /// After a closing quote only spaces may come before the comma or line break.
    private mutating func finishQuoted(number: Int, problem: inout QuoteProblem?) -> String {
        position = firstNonBlank(from: position)
        if position < bytes.endIndex, !isFieldEnd(bytes[position]) {
            problem = problem ?? .textAfterQuote(field: number)
            skipToFieldEnd()
        }
        return String(decoding: quoted, as: UTF8.self)
    }

    /// Whether the line break at `offset` is all there: `\r` as the last byte may be the
    /// first half of `\r\n`.
    private func isLineBreakComplete(at offset: Int) -> Bool {
        offset < bytes.endIndex && (bytes[offset] != ASCII.cr || offset + 1 < bytes.endIndex)
    }

    private mutating func consumeComma() -> Bool {
        guard position < bytes.endIndex, bytes[position] == ASCII.comma else { return false }
        position += 1
        return true
    }

    private mutating func skipToFieldEnd() {
        while position < bytes.endIndex, !isFieldEnd(bytes[position]) { position += 1 }
    }

    private func isFieldEnd(_ byte: UInt8) -> Bool {
        byte == ASCII.comma || byte == ASCII.lf || byte == ASCII.cr
    }

    private func firstNonBlank(from offset: Int) -> Int {
        var index = offset
        while index < bytes.endIndex, bytes[index] == ASCII.space || bytes[index] == ASCII.tab { index += 1 }
        return index
    }
}
