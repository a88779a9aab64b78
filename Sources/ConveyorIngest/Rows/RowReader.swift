import Foundation

/// A row that was not read, and why: the rest of the input is read on.
public struct RowIssue: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file or URL the row came from.
    public var source: String
    /// The 1-based line the row starts on.
    public var line: Int
    public var reason: String
    /// The row as written (its first line when it spans several), shortened for reports.
    public var text: String

    public init(source: String, line: Int, reason: String, text: String) {
        self.source = source
        self.line = line
        self.reason = reason
        self.text = text
    }

    /// `prices.csv line 7: column 'price': "abc" is not a number: "7,abc,3"`
    public var description: String {
        "\(source) line \(line): \(reason): \"\(KeyFile.Issue.printable(text))\""
    }
}

/// What a row stream yields: a decoded row with its line, or a row that could not be read.
public enum RowEvent<Row: Sendable>: Sendable {
    case row(Row, line: Int)
    case issue(RowIssue)
}

/// An input that cannot be read at all (as opposed to a bad row, which is a ``RowIssue``).
public enum RowReadError: Error, Equatable, CustomStringConvertible {
    /// The rows' type needs a column the header does not have.
    case missingColumn(source: String, column: String, available: [String])
    case emptyHeader(source: String)
    case cannotOpen(path: String, reason: String)

    public var description: String {
        switch self {
        case .missingColumn(let source, let column, let available):
            "\(source): no column '\(column)' in the header (the columns are \(available.map { "'\($0)'" }.joined(separator: ", ")))"
        case .emptyHeader(let source):
            "\(source): the first line should be a header naming the columns, and it is empty"
        case .cannotOpen(let path, let reason):
            "cannot read \(path): \(reason)"
        }
    }
}

/// Streams typed rows out of CSV (RFC 4180, with a header row naming the columns) or JSON
/// lines, in bounded memory: bytes come in chunks (a file, a download) and rows go out as
/// soon as they are whole. A row that does not parse or decode is yielded as a
/// ``RowEvent/issue(_:)`` naming the source, the line and what is wrong, and reading goes on.
///
/// ```swift
/// struct Sale: Codable, Sendable { let branch: String; let pos: Int; let day: Date; let total: Double }
/// for try await event in RowReader<Sale>(.csv, source: "pos-17.csv").rows(ofFile: path) {
///     switch event {
///     case .row(let sale, _): try await sink.send(sale)
///     case .issue(let issue): log.warning("\(issue)")
///     }
/// }
/// ```
public struct RowReader<Row: Decodable & Sendable>: Sendable {
    public enum Format: Sendable, Equatable {
        /// A header row, then one record per row; columns match the row type's coding keys.
        case csv
        /// One JSON object per line; blank lines are skipped, dates are ISO 8601.
        case jsonLines
    }

    public let format: Format
    public let source: String
    /// A record or line longer than this is reported and skipped: it bounds the memory held.
    public let maxRecordBytes: Int

    public init(_ format: Format, source: String, maxRecordBytes: Int = 1 << 20) {
        self.format = format
        self.source = source
        self.maxRecordBytes = maxRecordBytes
    }

    /// The rows of bytes that arrive in chunks.
    public func rows<Chunks: AsyncSequence>(from chunks: Chunks) -> RowStream<Row, Chunks> where Chunks.Element == [UInt8] {
        RowStream(reader: self, chunks: chunks)
    }

    /// The rows of a file, read `chunkSize` bytes at a time.
    public func rows(ofFile path: String, chunkSize: Int = 64 << 10) -> RowStream<Row, FileChunks> {
        RowStream(reader: self, chunks: FileChunks(path: path, chunkSize: chunkSize))
    }

    /// Every row of `bytes` at once, for small inputs and tests.
    public func rows(of bytes: [UInt8]) async throws -> (rows: [Row], issues: [RowIssue]) {
        var rows: [Row] = []
        var issues: [RowIssue] = []
        for try await event in self.rows(from: OneChunk(bytes: bytes)) {
            switch event {
            case .row(let row, _): rows.append(row)
            case .issue(let issue): issues.append(issue)
            }
        }
        return (rows, issues)
    }
}

/// The rows of one input; see ``RowReader``.
public struct RowStream<Row: Decodable & Sendable, Chunks: AsyncSequence>: AsyncSequence where Chunks.Element == [UInt8] {
    public typealias Element = RowEvent<Row>
    let reader: RowReader<Row>
    let chunks: Chunks

    public func makeAsyncIterator() -> Iterator {
        Iterator(reader: reader, chunks: chunks.makeAsyncIterator())
    }

    public struct Iterator: AsyncIteratorProtocol {
        let reader: RowReader<Row>
        var chunks: Chunks.AsyncIterator
        var parser: Parser
        var pending: [RowEvent<Row>] = []
        var next = 0
        var finished = false

        init(reader: RowReader<Row>, chunks: Chunks.AsyncIterator) {
            self.reader = reader
            self.chunks = chunks
            parser = reader.format == .csv
                ? .csv(CSVRows(source: reader.source, parser: CSVChunkParser(maxRecordBytes: reader.maxRecordBytes)))
                : .jsonLines(JSONLines(source: reader.source, maxLineBytes: reader.maxRecordBytes))
        }

        public mutating func next() async throws -> RowEvent<Row>? {
            while next == pending.count {
                guard !finished else { return nil }
                pending.removeAll(keepingCapacity: true)
                next = 0
                if let chunk = try await chunks.next() {
                    pending = try parser.feed(chunk)
                } else {
                    finished = true
                    pending = try parser.finish()
                }
            }
            defer { next += 1 }
            return pending[next]
        }
    }

    enum Parser {
        case csv(CSVRows)
        case jsonLines(JSONLines)

        mutating func feed(_ chunk: [UInt8]) throws -> [RowEvent<Row>] {
            switch self {
            case .csv(var rows):
                defer { self = .csv(rows) }
                return try rows.events(rows.parser.feed(chunk))
            case .jsonLines(var lines):
                defer { self = .jsonLines(lines) }
                return lines.feed(chunk, final: false)
            }
        }

        mutating func finish() throws -> [RowEvent<Row>] {
            switch self {
            case .csv(var rows):
                defer { self = .csv(rows) }
                return try rows.events(rows.parser.finish())
            case .jsonLines(var lines):
                defer { self = .jsonLines(lines) }
                return lines.feed([], final: true)
            }
        }
    }

    struct CSVRows {
        let source: String
        var parser: CSVChunkParser
        var header: [String]?
        var decoder: CSVRowDecoder?

        mutating func events(_ items: [CSVChunkParser.Item]) throws -> [RowEvent<Row>] {
            var events: [RowEvent<Row>] = []
            events.reserveCapacity(items.count)
            for item in items {
                switch item {
                case .problem(let line, let reason, let text):
                    guard header != nil else {
                        throw KeyFileError.malformedHeader(path: source, line: line, reason: reason)
                    }
                    events.append(.issue(RowIssue(source: source, line: line, reason: reason, text: text)))
                case .record(let fields, let line, let text):
                    guard let header else {
                        let names = fields.map(trimmingWhitespace)
                        guard names.contains(where: { !$0.isEmpty }) else { throw RowReadError.emptyHeader(source: source) }
                        header = names
                        decoder = CSVRowDecoder(header: names)
                        continue
                    }
                    guard fields.count == header.count else {
                        let reason = "has \(KeyFile.count(fields.count, "field")), the header has \(header.count)"
                        events.append(.issue(RowIssue(source: source, line: line, reason: reason, text: text)))
                        continue
                    }
                    do {
                        events.append(.row(try decoder!.decode(Row.self, from: fields), line: line))
                    } catch RowDecodingProblem.missingColumn(let column) {
                        // Every row would fail the same way: the input is not what the type reads.
                        throw RowReadError.missingColumn(source: source, column: column, available: header)
                    } catch let problem as RowDecodingProblem {
                        events.append(.issue(RowIssue(source: source, line: line, reason: problem.reason, text: text)))
                    } catch {
                        events.append(.issue(RowIssue(source: source, line: line, reason: "\(error)", text: text)))
                    }
                }
            }
            return events
        }
    }

    struct JSONLines {
        let source: String
        let maxLineBytes: Int
        var buffer: [UInt8] = []
        var line = 1
        /// Inside a line longer than the limit, already reported: its bytes are dropped up to
        /// the next line break.
        var skipping = false
        /// Dates are ISO 8601 text, as the sink's spill files write them.
        let decoder: JSONDecoder = {
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            return decoder
        }()

        mutating func feed(_ chunk: [UInt8], final: Bool) -> [RowEvent<Row>] {
            var events: [RowEvent<Row>] = []
            var start = 0
            var bytes = buffer
            bytes.append(contentsOf: chunk)
            while let end = bytes[start...].firstIndex(of: ASCII.lf) {
                if skipping {
                    skipping = false
                } else {
                    decodeLine(bytes[start..<end], into: &events)
                }
                line += 1
                start = end + 1
            }
            if final, start < bytes.count, !skipping {
                decodeLine(bytes[start...], into: &events)
                start = bytes.count
            } else if !skipping, bytes.count - start > maxLineBytes {
                let text = String(decoding: bytes[start..<(start + Swift.min(200, maxLineBytes))], as: UTF8.self)
                events.append(.issue(RowIssue(source: source, line: line, reason: "line longer than \(maxLineBytes) bytes", text: text)))
                skipping = true
            }
            buffer = skipping ? [] : Array(bytes[start...])
            return events
        }

        private func decodeLine(_ raw: ArraySlice<UInt8>, into events: inout [RowEvent<Row>]) {
            var bytes = raw
            if bytes.last == ASCII.cr { bytes = bytes.dropLast() }
            if line == 1, bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes = bytes.dropFirst(3) }
            guard bytes.contains(where: { $0 != ASCII.space && $0 != ASCII.tab }) else { return }
            do {
                events.append(.row(try decoder.decode(Row.self, from: Data(bytes)), line: line))
            } catch let error as DecodingError {
                let text = String(decoding: bytes.prefix(200), as: UTF8.self)
                events.append(.issue(RowIssue(source: source, line: line, reason: Self.reason(error), text: text)))
            } catch {
                let text = String(decoding: bytes.prefix(200), as: UTF8.self)
                events.append(.issue(RowIssue(source: source, line: line, reason: "\(error)", text: text)))
            }
        }

        static func reason(_ error: DecodingError) -> String {
            func path(_ context: DecodingError.Context, _ key: (any CodingKey)? = nil) -> String {
                let keys = context.codingPath + (key.map { [$0] } ?? [])
                return keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            }
            switch error {
            case .keyNotFound(let key, let context):
                return "no field '\(path(context, key))'"
            case .valueNotFound(let type, let context):
                return "field '\(path(context))' is null, expected \(type)"
            case .typeMismatch(let type, let context):
                return "field '\(path(context))' is not \(type)"
            case .dataCorrupted(let context) where context.codingPath.isEmpty:
                return "not valid JSON"
            case .dataCorrupted(let context):
                return "field '\(path(context))': \(context.debugDescription)"
            @unknown default:
                return "\(error)"
            }
        }
    }
}

/// One chunk of bytes as an async sequence.
struct OneChunk: AsyncSequence, Sendable {
    typealias Element = [UInt8]
    let bytes: [UInt8]

    func makeAsyncIterator() -> Iterator { Iterator(bytes: bytes) }

    struct Iterator: AsyncIteratorProtocol {
        var bytes: [UInt8]?
        mutating func next() async -> [UInt8]? {
            defer { bytes = nil }
            return bytes
        }
    }
}

/// A file's bytes, `chunkSize` at a time.
public struct FileChunks: AsyncSequence, Sendable {
    public typealias Element = [UInt8]
    public let path: String
    public let chunkSize: Int

    public init(path: String, chunkSize: Int = 64 << 10) {
        self.path = path
        self.chunkSize = chunkSize
    }

    public func makeAsyncIterator() -> Iterator { Iterator(path: path, chunkSize: chunkSize) }

    public struct Iterator: AsyncIteratorProtocol {
        let path: String
        let chunkSize: Int
        var handle: FileHandle?
        var done = false

        public mutating func next() async throws -> [UInt8]? {
            guard !done else { return nil }
            if handle == nil {
                guard let opened = FileHandle(forReadingAtPath: path) else {
                    let reason = FileManager.default.fileExists(atPath: path) ? "permission denied" : "no such file"
                    throw RowReadError.cannotOpen(path: path, reason: reason)
                }
                handle = opened
            }
            guard let data = try handle!.read(upToCount: chunkSize), !data.isEmpty else {
                done = true
                try? handle?.close()
                return nil
            }
            return [UInt8](data)
        }
    }
}
