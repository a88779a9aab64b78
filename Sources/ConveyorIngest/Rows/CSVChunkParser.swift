/// Reads CSV records from bytes that arrive in chunks, holding only the unread tail: a
/// record is handed out once its line break has arrived (or at the end of the input).
///
/// The parsing is ``CSVReader``'s (RFC 4180, the key-file loader's parser); what this adds is
/// the carry-over between chunks and a bound on it. A record longer than `maxRecordBytes`
/// is almost always an unterminated quote swallowing the file: its first line is reported
/// and reading starts again on the next line, so memory stays bounded whatever the input.
struct CSVChunkParser {
    /// A record as read, or the first line of one that could not be read.
    enum Item {
        case record(fields: [String], line: Int, text: String)
        case problem(line: Int, reason: String, text: String)
    }

    let maxRecordBytes: Int
    private var buffer: [UInt8] = []
    private var line = 1
    private var skipsBOM = true

    init(maxRecordBytes: Int = 1 << 20) {
        self.maxRecordBytes = maxRecordBytes
    }

    /// Adds `chunk` and returns the records it completes.
    mutating func feed(_ chunk: some Collection<UInt8>) -> [Item] {
        buffer.append(contentsOf: chunk)
        return drain(final: false)
    }

    /// The records left at the end of the input.
    mutating func finish() -> [Item] {
        drain(final: true)
    }

    private mutating func drain(final: Bool) -> [Item] {
        if skipsBOM {
            if buffer.count < 3, !final, buffer.elementsEqual([0xEF, 0xBB, 0xBF].prefix(buffer.count)) { return [] }
            if buffer.starts(with: [0xEF, 0xBB, 0xBF]) { buffer.removeFirst(3) }
            skipsBOM = false
        }
        var items: [Item] = []
        var reader = CSVReader(buffer[...], line: line)
        reader.isFinal = final
        reader.skipsComments = false
        while true {
            if let record = reader.next() {
                items.append(Self.item(record, reader: &reader))
                continue
            }
            guard !final, buffer.count - reader.position > maxRecordBytes else { break }
            // Nothing ends within the limit: read what there is as if the input ended here.
            reader.isFinal = true
            if let record = reader.next() {
                let text = reader.firstLineText(of: record)
                let reason = record.quoteProblem.map { $0.reason(spanningLines: true) }
                    ?? "record longer than \(maxRecordBytes) bytes"
                items.append(.problem(line: record.line, reason: reason, text: text))
                reader.resume(afterFirstLineOf: record)
            }
            reader.isFinal = false
        }
        line = reader.line
        buffer.removeFirst(reader.position)
        return items
    }

    private static func item(_ record: CSVReader.Record, reader: inout CSVReader) -> Item {
        guard let problem = record.quoteProblem else {
            return .record(fields: record.fields, line: record.line, text: reader.text(of: record))
        }
        if record.spansLines {
            // As in key files: the bad line alone is reported, the lines it swallowed are read again.
            let text = reader.firstLineText(of: record)
            reader.resume(afterFirstLineOf: record)
            return .problem(line: record.line, reason: problem.reason(spanningLines: true), text: text)
        }
        return .problem(line: record.line, reason: problem.reason(spanningLines: false), text: reader.text(of: record))
    }
}
