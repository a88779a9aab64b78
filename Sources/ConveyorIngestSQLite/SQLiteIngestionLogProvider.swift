import Conveyor
import ConveyorIngest
import ConveyorSQLite
import Foundation

/// Opens the ingestion log in the SQLite file that `sqlite:///abs/path`, `sqlite:relative` or a
/// plain path names: the job store's own file, or one beside a Redis deployment's workers.
public struct SQLiteIngestionLogProvider: IngestionLogProvider {
    public init() {}

    public var schemes: [String] { ["sqlite"] }

    public func withLog<T: Sendable>(_ url: String, _ body: (any IngestionLog) async throws -> T) async throws -> T {
        try await body(try SQLiteIngestionLog(path: try SQLiteURL.path(url)))
    }
}

/// The file a SQLite URL names, read as the SQLite store reads `--store` (its options checked),
/// and checked to be in a directory that exists.
public enum SQLiteURL {
    public static func path(_ url: String) throws -> String {
        let path = try SQLiteStoreProvider().configuration(StoreURL(url)).path
        let directory = (path as NSString).deletingLastPathComponent
        guard directory.isEmpty || FileManager.default.fileExists(atPath: directory) else {
            throw IngestionLogError.badURL(url, reason: "the directory \(directory) does not exist")
        }
        return path
    }
}
