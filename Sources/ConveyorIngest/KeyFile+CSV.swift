import Foundation

extension KeyFile {
    /// One CSV record: its fields and the line it starts on.
    struct Record {
        var fields: [String]
        var line: Int
        var raw: String
        var unterminated = false
    }

    /// Reads RFC 4180 records: quoted fields may hold commas, doubled quotes and newlines.
    static func records(_ text: Substring) -> [Record] {
        var records: [Record] = []
        var fields: [String] = []
        var field = ""
        var raw = ""
        var line = 1
        var recordLine = 1
        var inQuotes = false
        var fieldStarted = false
        var characters = text.makeIterator()
        var pending: Character? = nil

        func endRecord() {
            fields.append(field)
            let blank = fields.count == 1 && fields[0].trimmingCharacters(in: .whitespaces).isEmpty && !fieldStarted
            if !blank { records.append(Record(fields: fields, line: recordLine, raw: raw)) }
            fields = []
            field = ""
            raw = ""
            fieldStarted = false
        }

        while let character = pending ?? characters.next() {
            pending = nil
            if inQuotes {
                if character == "\"" {
                    let next = characters.next()
                    if next == "\"" {
                        field.append("\"")
                        raw.append("\"\"")
                    } else {
                        inQuotes = false
                        raw.append("\"")
                        pending = next
                    }
                } else {
                    if character == "\n" || character == "\r\n" { line += 1 }
                    field.append(character == "\r\n" ? "\n" : character)
                    raw.append(character)
                }
                continue
            }
            switch character {
            case "\"":
                inQuotes = true
                fieldStarted = true
                raw.append(character)
            case ",":
                fields.append(field)
                field = ""
                fieldStarted = true
                raw.append(character)
            case "\n", "\r\n":
                endRecord()
                line += 1
                recordLine = line
            case "\r":
                continue
            default:
                field.append(character)
                raw.append(character)
            }
        }
        if inQuotes {
            fields.append(field)
            records.append(Record(fields: fields, line: recordLine, raw: raw, unterminated: true))
        } else if !field.isEmpty || !fields.isEmpty || fieldStarted {
            endRecord()
        }
        return records
    }

    static func parseCSV(
        _ text: Substring, column: String?, source: String, validator: KeyValidator,
        file: inout KeyFile, accept: (String, Int, inout KeyFile) -> Void
    ) throws {
        var all = records(text)[...]
        // Comment lines before the header are allowed.
        while let first = all.first, first.fields.count == 1, first.fields[0].trimmingCharacters(in: .whitespaces).hasPrefix("#") {
            all = all.dropFirst()
        }
        guard let header = all.first else { throw KeyFileError.emptyHeader(path: source) }
        let names = header.fields.map { $0.trimmingCharacters(in: .whitespaces) }
        guard !names.allSatisfy(\.isEmpty) else { throw KeyFileError.emptyHeader(path: source) }
        let keyIndex: Int
        if let column {
            guard let index = names.firstIndex(of: column) ?? names.firstIndex(where: { $0.lowercased() == column.lowercased() }) else {
                throw KeyFileError.missingColumn(path: source, column: column, available: names)
            }
            keyIndex = index
        } else {
            keyIndex = 0
        }
        for record in all.dropFirst() {
            if record.unterminated {
                file.issues.append(Issue(line: record.line, reason: "unterminated quoted field (runs to the end of the file)", text: record.raw))
                continue
            }
            guard record.fields.count == names.count else {
                file.issues.append(Issue(line: record.line, reason: "has \(record.fields.count) field\(record.fields.count == 1 ? "" : "s"), the header has \(names.count)", text: record.raw))
                continue
            }
            let key = record.fields[keyIndex].trimmingCharacters(in: .whitespaces)
            if key.isEmpty {
                file.issues.append(Issue(line: record.line, reason: "empty '\(names[keyIndex])'", text: record.raw))
            } else if let reason = validator.problem(key, textFile: false) {
                file.issues.append(Issue(line: record.line, reason: reason, text: record.raw))
            } else {
                accept(key, record.line, &file)
            }
        }
    }
}
