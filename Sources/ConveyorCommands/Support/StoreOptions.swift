import ArgumentParser
import Conveyor
import ConveyorSQLite
import Foundation

/// Where the jobs live: `--store URL`, else `CONVEYOR_URL`, else `conveyor.sqlite` here.
///
/// Forms: `sqlite:///abs/path.sqlite`, `sqlite:relative.sqlite`, a plain file path, or
/// `memory:` (this process only).
public struct StoreOptions: ParsableArguments, Sendable {
    @Option(name: .long, help: ArgumentHelp("The store: a SQLite file path or URL (sqlite:///path). Default: $CONVEYOR_URL, else ./conveyor.sqlite.", valueName: "url"))
    public var store: String?

    public init() {}

    public static let defaultPath = "conveyor.sqlite"

    public var url: String {
        store ?? ProcessInfo.processInfo.environment["CONVEYOR_URL"] ?? Self.defaultPath
    }

    public func open() throws -> any JobBackend {
        try Self.open(url)
    }

    public static func open(_ url: String) throws -> any JobBackend {
        if url == "memory:" || url == "memory://" { return MemoryBackend() }
        if let scheme = url.range(of: "://").map({ String(url[..<$0.lowerBound]) }) ?? (url.hasPrefix("sqlite:") ? "sqlite" : nil) {
            switch scheme {
            case "sqlite":
                var path = url.dropFirst("sqlite:".count)
                if path.hasPrefix("//") { path = path.dropFirst(2) }
                guard !path.isEmpty else { throw ConveyorError.invalidStoreURL(url, reason: "no file path after sqlite:") }
                return try SQLiteBackend(path: String(path))
            case "redis", "rediss", "postgres", "postgresql":
                throw ConveyorError.invalidStoreURL(url, reason: "the \(scheme) store is planned but not built yet; use a SQLite file for now")
            default:
                throw ConveyorError.invalidStoreURL(url, reason: "unknown scheme '\(scheme)'; use sqlite:///path or a file path")
            }
        }
        return try SQLiteBackend(path: url)
    }
}
