import Foundation

/// A record a sink could not write, with why: one JSON line of a spill file.
public struct SpilledRecord<Record: SinkRecord>: Codable, Sendable {
    public var record: Record
    /// Why the sink gave up on it: `"refused by the target"` (the record itself is bad) or
    /// `"transient failures: 5 attempts"` (the target stayed unreachable).
    public var reason: String
    /// The database's own error text.
    public var error: String
    public var target: String
    public var spilledAt: Date
}

/// A JSON-lines file of records a sink could not write. Every line is whole and on disk
/// (fsynced) before the sink counts the record as spilled; ``replay(into:)`` sends the records
/// to a sink again, and those that fail again are spilled anew.
public struct SpillFile: Sendable, Equatable {
    public let path: String

    public init(path: String) {
        self.path = path
    }

    /// The records in the file; a line that does not decode is a ``RowIssue``.
    public func records<Record: SinkRecord>(as type: Record.Type) async throws -> (records: [SpilledRecord<Record>], issues: [RowIssue]) {
        guard FileManager.default.fileExists(atPath: path) else { return ([], []) }
        var records: [SpilledRecord<Record>] = []
        var issues: [RowIssue] = []
        for try await event in RowReader<SpilledRecord<Record>>(.jsonLines, source: path).rows(ofFile: path) {
            switch event {
            case .row(let record, _): records.append(record)
            case .issue(let issue): issues.append(issue)
            }
        }
        return (records, issues)
    }

    /// Sends every spilled record to `sink` again and waits until they are written. The file
    /// is renamed before it is read, so the records that fail again go to a new file at `path`
    /// and none is lost or repeated; the old file is removed once all are through. Returns
    /// how many were sent.
    @discardableResult
    public func replay<Target: SinkTarget>(into sink: BatchSink<Target>) async throws -> Int {
        let replaying = path + ".replaying"
        let manager = FileManager.default
        if !manager.fileExists(atPath: replaying) {
            guard manager.fileExists(atPath: path) else { return 0 }
            try manager.moveItem(atPath: path, toPath: replaying)
        }
        // A replay cut short left `.replaying` behind: it is read again (upserts repeat safely).
        let (records, _) = try await SpillFile(path: replaying).records(as: Target.Record.self)
        for spilled in records { try await sink.send(spilled.record) }
        try await sink.flush()
        try manager.removeItem(atPath: replaying)
        return records.count
    }

    /// Appends lines and fsyncs them.
    func append<Record: SinkRecord>(_ spilled: [SpilledRecord<Record>]) throws {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var data = Data()
        for record in spilled {
            data.append(try encoder.encode(record))
            data.append(0x0A)
        }
        let manager = FileManager.default
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty, !manager.fileExists(atPath: directory) {
            throw SinkError.badConfiguration("the spill file's directory \(directory) does not exist")
        }
        if !manager.fileExists(atPath: path) { _ = manager.createFile(atPath: path, contents: nil) }
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw SinkError.badConfiguration("cannot open the spill file \(path) for writing")
        }
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: data)
        try handle.synchronize()
    }
}
