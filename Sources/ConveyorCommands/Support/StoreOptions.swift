import ArgumentParser
import Conveyor
import ConveyorRedis
import ConveyorSQLite
import Foundation

/// Where the jobs live: `--store URL`, else `CONVEYOR_URL`, else `conveyor.sqlite` here.
///
/// Forms: `sqlite:///abs/path.sqlite`, `sqlite:relative.sqlite`, a plain file path,
/// `redis://[[user]:password@]host[:port][/db]` (`rediss://` for TLS; `?namespace=` and
/// `?retention=seconds`), or `memory:` (this process only). For SQLite, `?synchronous=full`
/// makes every commit survive a power loss.
public struct StoreOptions: ParsableArguments, Sendable {
    @Option(name: .long, help: ArgumentHelp("The store: a SQLite file path or URL (sqlite:///path), or redis://host:port/db. Default: $CONVEYOR_URL, else ./conveyor.sqlite.", valueName: "url"))
    public var store: String?

    public init() {}

    public static let defaultPath = "conveyor.sqlite"

    public var url: String {
        store ?? ProcessInfo.processInfo.environment["CONVEYOR_URL"] ?? Self.defaultPath
    }

    /// The URL as messages show it: a password in it is replaced by `***`.
    public var shownURL: String { RedisBackend.Configuration.redacted(url) }

    /// Opens the store. A `patient` caller (a worker) waits out a store server that is down;
    /// one-shot commands give up after a few seconds with the connection error.
    public func open(patient: Bool = false) throws -> any JobBackend {
        try Self.open(url, patient: patient)
    }

    public static func open(_ url: String, patient: Bool = false) throws -> any JobBackend {
        if url == "memory:" || url == "memory://" { return MemoryBackend() }
        var location = url
        var query: [String: String] = [:]
        if let mark = url.firstIndex(of: "?") {
            location = String(url[..<mark])
            for pair in url[url.index(after: mark)...].split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
                query[parts[0]] = parts.count > 1 ? parts[1] : ""
            }
        }
        let scheme = location.range(of: "://").map { String(location[..<$0.lowerBound]) } ?? (location.hasPrefix("sqlite:") ? "sqlite" : nil)
        switch scheme {
        case nil, "sqlite":
            var path = Substring(location)
            if scheme != nil {
                path = path.dropFirst("sqlite:".count)
                if path.hasPrefix("//") { path = path.dropFirst(2) }
            }
            guard !path.isEmpty else { throw ConveyorError.invalidStoreURL(url, reason: "no file path after sqlite:") }
            var configuration = SQLiteBackend.Configuration(path: String(path))
            for (key, value) in query {
                switch (key, value.lowercased()) {
                case ("synchronous", "normal"): configuration.synchronous = .normal
                case ("synchronous", "full"): configuration.synchronous = .full
                case ("retention", let seconds):
                    if seconds == "forever" {
                        configuration.retention = nil
                    } else if let whole = Int(seconds), whole > 0 {
                        configuration.retention = .seconds(whole)
                    } else {
                        throw ConveyorError.invalidStoreURL(url, reason: "retention must be a whole number of seconds or 'forever', not '\(value)'")
                    }
                default:
                    throw ConveyorError.invalidStoreURL(
                        url, reason: "unknown option '\(key)=\(value)'; the SQLite store takes synchronous=normal|full and retention=seconds|forever")
                }
            }
            return try SQLiteBackend(configuration: configuration)
        case "redis", "rediss":
            var configuration = try RedisBackend.Configuration(url: url)
            if !patient { configuration.redis.connectionWaitTimeout = .seconds(3) }
            return RedisBackend(configuration: configuration)
        case "postgres", "postgresql":
            throw ConveyorError.invalidStoreURL(url, reason: "the \(scheme!) store is planned but not built yet; use a SQLite file for now")
        default:
            throw ConveyorError.invalidStoreURL(url, reason: "unknown scheme '\(scheme!)'; use sqlite:///path, a file path or redis://host:port/db")
        }
    }
}
