import Conveyor
import ConveyorIngest
import Foundation
import GRDB

/// The ingestion log in a SQLite database: the job store's own file or one beside it (a
/// Redis deployment names a file), in the table `conveyor_ingestion_log`.
///
/// Times are the database's (`julianday('now')`), so every process writing the log agrees on
/// them; retention deletes in bounded steps, oldest first, through an index on the start time.
public struct SQLiteIngestionLog: IngestionLog {
    public let database: any DatabaseWriter

    /// Opens (and creates) the log in the database at `path`.
    public init(path: String) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        try self.init(database: DatabasePool(path: path, configuration: configuration))
    }

    public init(database: any DatabaseWriter) throws {
        self.database = database
        try database.write { db in
            try db.execute(sql: """
                CREATE TABLE IF NOT EXISTS conveyor_ingestion_log (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    source TEXT NOT NULL,
                    started_at REAL NOT NULL,
                    duration REAL NOT NULL,
                    status TEXT NOT NULL,
                    added INTEGER NOT NULL, updated INTEGER NOT NULL, skipped INTEGER NOT NULL, failed INTEGER NOT NULL,
                    bytes INTEGER NOT NULL,
                    checksum TEXT, error TEXT, detail TEXT);
                CREATE INDEX IF NOT EXISTS conveyor_ingestion_log_source ON conveyor_ingestion_log (source, id);
                CREATE INDEX IF NOT EXISTS conveyor_ingestion_log_started ON conveyor_ingestion_log (started_at);
                CREATE INDEX IF NOT EXISTS conveyor_ingestion_log_status ON conveyor_ingestion_log (status, id);
                CREATE INDEX IF NOT EXISTS conveyor_ingestion_log_success ON conveyor_ingestion_log (source, id)
                    WHERE status IN ('succeeded', 'unchanged');
                """)
        }
    }

    /// Seconds since 1970 by the database's clock.
    static let nowSQL = "((julianday('now') - 2440587.5) * 86400.0)"

    public func now() async throws -> Date {
        try await database.read { db in
            Date(timeIntervalSince1970: try Double.fetchOne(db, sql: "SELECT \(Self.nowSQL)") ?? 0)
        }
    }

    @discardableResult
    public func record(_ entry: IngestionEntry) async throws -> IngestionEntry {
        try await database.write { db in
            try db.execute(sql: """
                INSERT INTO conveyor_ingestion_log
                    (source, started_at, duration, status, added, updated, skipped, failed, bytes, checksum, error, detail)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [entry.source, entry.startedAt.timeIntervalSince1970, entry.duration.seconds,
                                 entry.status.rawValue, entry.added, entry.updated, entry.skipped, entry.failed,
                                 entry.bytes, entry.checksum, entry.error, entry.detail])
            var recorded = entry
            recorded.id = db.lastInsertedRowID
            return recorded
        }
    }

    public func entries(_ query: IngestionQuery) async throws -> [IngestionEntry] {
        var conditions: [String] = []
        var arguments: StatementArguments = []
        if let source = query.source { conditions.append("source = ?"); arguments += [source] }
        if let status = query.status { conditions.append("status = ?"); arguments += [status.rawValue] }
        if let since = query.since { conditions.append("started_at >= ?"); arguments += [since.timeIntervalSince1970] }
        if let until = query.until { conditions.append("started_at < ?"); arguments += [until.timeIntervalSince1970] }
        if let before = query.before { conditions.append("id < ?"); arguments += [before] }
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        arguments += [max(0, query.limit)]
        let bound = arguments
        return try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM conveyor_ingestion_log \(filter) ORDER BY id DESC LIMIT ?",
                             arguments: bound).map(Self.entry)
        }
    }

    public func lastSuccess(of source: String) async throws -> IngestionEntry? {
        try await database.read { db in
            try Row.fetchOne(db, sql: """
                SELECT * FROM conveyor_ingestion_log
                WHERE source = ? AND status IN ('succeeded', 'unchanged') ORDER BY id DESC LIMIT 1
                """, arguments: [source]).map(Self.entry)
        }
    }

    public func prune(olderThan age: Duration, limit: Int) async throws -> Int {
        try await database.write { db in
            try db.execute(sql: """
                DELETE FROM conveyor_ingestion_log WHERE id IN (
                    SELECT id FROM conveyor_ingestion_log WHERE started_at < \(Self.nowSQL) - ? ORDER BY started_at LIMIT ?)
                """, arguments: [age.seconds, max(0, limit)])
            return db.changesCount
        }
    }


    static func entry(_ row: Row) -> IngestionEntry {
        IngestionEntry(
            id: row["id"], source: row["source"],
            startedAt: Date(timeIntervalSince1970: row["started_at"]),
            duration: .nanoseconds(Int64((row["duration"] as Double) * 1e9)),
            status: IngestionEntry.Status(rawValue: row["status"]) ?? .failed,
            added: row["added"], updated: row["updated"], skipped: row["skipped"], failed: row["failed"],
            bytes: row["bytes"], checksum: row["checksum"], error: row["error"], detail: row["detail"])
    }
}
