import ConveyorIngest
import Foundation

/// Opens the ingestion log in the SQLite file that `sqlite:///abs/path`, `sqlite:relative` or a
/// plain path names: the job store's own file, or one beside a Redis deployment's workers.
public struct SQLiteIngestionLogProvider: IngestionLogProvider {
    public init() {}

    public var schemes: [String] { ["sqlite", ""] }

    public func withLog<T: Sendable>(_ url: String, _ body: (any IngestionLog) async throws -> T) async throws -> T {
        var path = url
        if path.lowercased().hasPrefix("sqlite:") { path = String(path.dropFirst("sqlite:".count)) }
        if path.hasPrefix("//") { path = String(path.dropFirst(2)) }
        if let query = path.firstIndex(of: "?") { path = String(path[..<query]) }
        guard !path.isEmpty else { throw IngestionLogError.badURL(url, reason: "no file path after sqlite:") }
        let directory = (path as NSString).deletingLastPathComponent
        guard directory.isEmpty || FileManager.default.fileExists(atPath: directory) else {
            throw IngestionLogError.badURL(url, reason: "the directory \(directory) does not exist")
        }
        return try await body(try SQLiteIngestionLog(path: path))
    }
}
