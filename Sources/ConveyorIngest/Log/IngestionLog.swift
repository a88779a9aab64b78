import Conveyor
import Foundation

/// One attempt to ingest a source: what was fetched, what it did, how long it took.
public struct IngestionEntry: Sendable, Equatable, Codable {
    public enum Status: String, Sendable, Codable, CaseIterable {
        /// Fetched and loaded.
        case succeeded
        /// Fetched, and its checksum equals the last successful ingestion's: the load was skipped.
        case unchanged
        /// The server said it has not changed (HTTP 304): nothing was fetched.
        case notModified = "not-modified"
        /// An HTML page came where data was expected (an error page served with 200).
        case htmlError = "html-error"
        case failed
    }

    /// Given by the log when the entry is recorded; 0 before.
    public var id: Int64
    public var source: String
    /// When the attempt started, by the log's own clock when the entry was opened through it.
    public var startedAt: Date
    public var duration: Duration
    public var status: Status
    public var added: Int
    public var updated: Int
    public var skipped: Int
    public var failed: Int
    public var bytes: Int64
    /// The content's SHA-256, hex.
    public var checksum: String?
    public var error: String?
    /// Free text: the URL, the file, the job.
    public var detail: String?

    public init(id: Int64 = 0, source: String, startedAt: Date, duration: Duration = .zero, status: Status,
                added: Int = 0, updated: Int = 0, skipped: Int = 0, failed: Int = 0, bytes: Int64 = 0,
                checksum: String? = nil, error: String? = nil, detail: String? = nil) {
        self.id = id
        self.source = source
        self.startedAt = startedAt
        self.duration = duration
        self.status = status
        self.added = added
        self.updated = updated
        self.skipped = skipped
        self.failed = failed
        self.bytes = bytes
        self.checksum = checksum
        self.error = error
        self.detail = detail
    }

    /// Whether a later fetch with the same checksum may skip its load.
    public var isSuccess: Bool { status == .succeeded || status == .unchanged }

    /// JSON carries the duration as `durationSeconds`, a number, for the CLI and the server.
    private enum CodingKeys: String, CodingKey {
        case id, source, startedAt, durationSeconds, status, added, updated, skipped, failed, bytes, checksum, error, detail
    }

    public init(from decoder: any Decoder) throws {
        let values = try decoder.container(keyedBy: CodingKeys.self)
        self.init(id: try values.decode(Int64.self, forKey: .id), source: try values.decode(String.self, forKey: .source),
                  startedAt: try values.decode(Date.self, forKey: .startedAt),
                  duration: .nanoseconds(Int64(try values.decode(Double.self, forKey: .durationSeconds) * 1e9)),
                  status: try values.decode(Status.self, forKey: .status),
                  added: try values.decode(Int.self, forKey: .added), updated: try values.decode(Int.self, forKey: .updated),
                  skipped: try values.decode(Int.self, forKey: .skipped), failed: try values.decode(Int.self, forKey: .failed),
                  bytes: try values.decode(Int64.self, forKey: .bytes), checksum: try values.decodeIfPresent(String.self, forKey: .checksum),
                  error: try values.decodeIfPresent(String.self, forKey: .error), detail: try values.decodeIfPresent(String.self, forKey: .detail))
    }

    public func encode(to encoder: any Encoder) throws {
        var values = encoder.container(keyedBy: CodingKeys.self)
        try values.encode(id, forKey: .id)
        try values.encode(source, forKey: .source)
        try values.encode(startedAt, forKey: .startedAt)
        try values.encode(duration.seconds, forKey: .durationSeconds)
        try values.encode(status, forKey: .status)
        try values.encode(added, forKey: .added)
        try values.encode(updated, forKey: .updated)
        try values.encode(skipped, forKey: .skipped)
        try values.encode(failed, forKey: .failed)
        try values.encode(bytes, forKey: .bytes)
        try values.encodeIfPresent(checksum, forKey: .checksum)
        try values.encodeIfPresent(error, forKey: .error)
        try values.encodeIfPresent(detail, forKey: .detail)
    }
}

/// Which entries a query wants: newest first, a page at a time.
public struct IngestionQuery: Sendable, Equatable {
    public var source: String?
    public var status: IngestionEntry.Status?
    /// Entries that started at or after this.
    public var since: Date?
    /// Entries that started before this.
    public var until: Date?
    /// Entries older than the one with this id (the last id of the page before).
    public var before: Int64?
    /// Entries per page: 1 to ``maximumLimit``, so one query does bounded work.
    public var limit: Int {
        didSet { limit = min(max(1, limit), Self.maximumLimit) }
    }

    public static let maximumLimit = 10_000

    public init(source: String? = nil, status: IngestionEntry.Status? = nil, since: Date? = nil, until: Date? = nil,
                before: Int64? = nil, limit: Int = 100) {
        self.source = source
        self.status = status
        self.since = since
        self.until = until
        self.before = before
        self.limit = min(max(1, limit), Self.maximumLimit)
    }
}

/// Where ingestion attempts are recorded: a table in the job store's SQLite or PostgreSQL
/// database (`ConveyorIngestSQLite`, `ConveyorIngestPostgres`). A Redis deployment keeps its
/// log in a SQLite file beside the workers or in a PostgreSQL database, named by URL.
public protocol IngestionLog: Sendable {
    /// Records an attempt and returns it with its id.
    @discardableResult
    func record(_ entry: IngestionEntry) async throws -> IngestionEntry
    /// Entries, newest first.
    func entries(_ query: IngestionQuery) async throws -> [IngestionEntry]
    /// The last entry of `source` that succeeded or was unchanged: change detection compares
    /// against its checksum.
    func lastSuccess(of source: String) async throws -> IngestionEntry?
    /// Deletes up to `limit` entries that started more than `age` ago, by the log's clock, and
    /// returns how many; call it again while it returns `limit`.
    func prune(olderThan age: Duration, limit: Int) async throws -> Int
    /// The log's clock: the database's time.
    func now() async throws -> Date
}

extension IngestionLog {
    /// Prunes in bounded steps until nothing older than `age` is left; returns the total.
    @discardableResult
    public func pruneAll(olderThan age: Duration = .seconds(90 * 86_400), step: Int = 1_000) async throws -> Int {
        var total = 0
        while true {
            let deleted = try await prune(olderThan: age, limit: step)
            total += deleted
            if deleted < step { return total }
        }
    }

    /// Every entry of a query, page by page.
    public func allEntries(_ query: IngestionQuery) async throws -> [IngestionEntry] {
        var query = query
        var all: [IngestionEntry] = []
        while true {
            let page = try await entries(query)
            all += page
            guard page.count == query.limit, let last = page.last else { return all }
            query.before = last.id
        }
    }
}

/// What a fetch produced, for ``Ingestion/run(source:detail:fetch:load:)``.
public enum FetchOutcome: Sendable {
    /// Content on hand, with its SHA-256 (hex) and size.
    case content(checksum: String, bytes: Int64)
    /// The server said the content has not changed since the conditions sent.
    case notModified
    /// An HTML page where data was expected: recorded as such, never loaded.
    case htmlError(status: Int, snippet: String)
}

/// What a load did.
public struct LoadCounts: Sendable, Equatable {
    public var added: Int
    public var updated: Int
    public var skipped: Int
    public var failed: Int

    public init(added: Int = 0, updated: Int = 0, skipped: Int = 0, failed: Int = 0) {
        self.added = added
        self.updated = updated
        self.skipped = skipped
        self.failed = failed
    }
}

/// The result of ``Ingestion/run(source:detail:fetch:load:)``: the entry recorded, and
/// whether the source had changes (seed 001's `has_changes`).
public struct IngestionResult: Sendable, Equatable {
    public var entry: IngestionEntry
    public var hasChanges: Bool { entry.status == .succeeded }
}

/// One ingestion attempt, from fetch to log entry, with change detection: a fetch whose
/// checksum equals the last successful ingestion of the same source is recorded as
/// `unchanged` and its load is skipped.
///
/// ```swift
/// let result = try await Ingestion(log: log).run(source: "faostat:prices") {
///     let download = try await downloader.download(url, to: "faostat-prices.csv")
///     return .content(checksum: download.sha256, bytes: download.bytes)
/// } load: {
///     try await loadRows(from: "faostat-prices.csv")   // LoadCounts
/// }
/// if !result.hasChanges { print("unchanged since \(result.entry.startedAt)") }
/// ```
public struct Ingestion: Sendable {
    public let log: any IngestionLog

    public init(log: any IngestionLog) {
        self.log = log
    }

    /// Runs `fetch`, then `load` unless the content is unchanged, and records the attempt
    /// whatever happens. An error from `fetch` or `load` is recorded as `failed` and rethrown.
    @discardableResult
    public func run(source: String, detail: String? = nil,
                    fetch: @Sendable () async throws -> FetchOutcome,
                    load: @Sendable () async throws -> LoadCounts) async throws -> IngestionResult {
        let startedAt = try await log.now()
        let started = ContinuousClock.now
        var entry = IngestionEntry(source: source, startedAt: startedAt, status: .failed, detail: detail)
        do {
            switch try await fetch() {
            case .notModified:
                entry.status = .notModified
            case .htmlError(let status, let snippet):
                entry.status = .htmlError
                entry.error = "HTTP \(status) with an HTML page where data was expected: \(snippet.prefix(200))"
            case .content(let checksum, let bytes):
                entry.checksum = checksum
                entry.bytes = bytes
                if let last = try await log.lastSuccess(of: source), last.checksum == checksum {
                    entry.status = .unchanged
                } else {
                    let counts = try await load()
                    entry.added = counts.added
                    entry.updated = counts.updated
                    entry.skipped = counts.skipped
                    entry.failed = counts.failed
                    entry.status = .succeeded
                }
            }
        } catch {
            entry.error = "\(error)"
            entry.duration = ContinuousClock.now - started
            try await log.record(entry)
            throw error
        }
        entry.duration = ContinuousClock.now - started
        return IngestionResult(entry: try await log.record(entry))
    }
}

/// Opens an ingestion log from a URL, for the command line (`conveyor ingest log --store …`):
/// the program passes the providers it links, as it does its stores.
public protocol IngestionLogProvider: Sendable {
    /// The URL schemes it opens (`sqlite`, `postgres`), as ``Conveyor/StoreURL`` reads them
    /// (a plain file path is `sqlite`).
    var schemes: [String] { get }
    /// Opens the log `url` names for the length of `body`.
    func withLog<T: Sendable>(_ url: String, _ body: (any IngestionLog) async throws -> T) async throws -> T
}


public enum IngestionLogError: Error, Equatable, CustomStringConvertible {
    case badURL(String, reason: String)
    /// No linked provider opens this kind of URL.
    case noLog(String, reason: String)

    public var description: String {
        switch self {
        case .badURL(let url, let reason): "bad ingestion log URL \(url): \(reason)"
        case .noLog(let url, let reason): "no ingestion log at \(url): \(reason)"
        }
    }
}
