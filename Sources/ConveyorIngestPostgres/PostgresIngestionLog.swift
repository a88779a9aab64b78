import Conveyor
import ConveyorIngest
import Foundation
import Logging
import PostgresNIO

/// The ingestion log in PostgreSQL: the job store's database (any schema) or another, in the
/// table `conveyor_ingestion_log`. Times are the server's (`now()`); retention deletes in
/// bounded steps, oldest first, through an index on the start time.
public struct PostgresIngestionLog: IngestionLog {
    public let client: PostgresClient
    /// The table, optionally schema-qualified.
    public let table: String
    public let logger: Logger
    private let quoted: String

    /// Creates the table when it is missing. The client must be running (`client.run()`).
    public init(client: PostgresClient, table: String = "conveyor_ingestion_log",
                logger: Logger = Logger(label: "conveyor.ingest.log")) async throws {
        self.client = client
        self.table = table
        self.logger = logger
        quoted = quotedTableName(table)
        let base = table.split(separator: ".").last.map(String.init) ?? table
        try await client.withConnection { connection in
            for statement in [
                """
                CREATE TABLE IF NOT EXISTS \(quoted) (
                    id bigserial PRIMARY KEY,
                    source text NOT NULL,
                    started_at timestamptz NOT NULL,
                    duration double precision NOT NULL,
                    status text NOT NULL,
                    added bigint NOT NULL, updated bigint NOT NULL, skipped bigint NOT NULL, failed bigint NOT NULL,
                    bytes bigint NOT NULL,
                    checksum text, error text, detail text)
                """,
                "CREATE INDEX IF NOT EXISTS \(quotedIdentifier(base + "_source")) ON \(quoted) (source, id)",
                "CREATE INDEX IF NOT EXISTS \(quotedIdentifier(base + "_started")) ON \(quoted) (started_at)",
                "CREATE INDEX IF NOT EXISTS \(quotedIdentifier(base + "_status")) ON \(quoted) (status, id)",
                """
                CREATE INDEX IF NOT EXISTS \(quotedIdentifier(base + "_success")) ON \(quoted) (source, id)
                WHERE status IN ('succeeded', 'unchanged')
                """,
            ] {
                try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
            }
        }
    }

    public func now() async throws -> Date {
        let rows = try await client.query("SELECT extract(epoch FROM clock_timestamp())::float8", logger: logger)
        for try await seconds in rows.decode(Double.self) { return Date(timeIntervalSince1970: seconds) }
        return Date()
    }

    @discardableResult
    public func record(_ entry: IngestionEntry) async throws -> IngestionEntry {
        var bindings = PostgresBindings()
        bindings.append(entry.source)
        bindings.append(entry.startedAt.timeIntervalSince1970)
        bindings.append(entry.duration.seconds)
        bindings.append(entry.status.rawValue)
        for count in [entry.added, entry.updated, entry.skipped, entry.failed] { bindings.append(Int64(count)) }
        bindings.append(entry.bytes)
        bindings.append(entry.checksum)
        bindings.append(entry.error)
        bindings.append(entry.detail)
        let rows = try await client.query(PostgresQuery(unsafeSQL: """
            INSERT INTO \(quoted) (source, started_at, duration, status, added, updated, skipped, failed, bytes, checksum, error, detail)
            VALUES ($1, to_timestamp($2), $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id
            """, binds: bindings), logger: logger)
        var recorded = entry
        for try await id in rows.decode(Int64.self) { recorded.id = id }
        return recorded
    }

    private static let columns = """
        id, source, extract(epoch FROM started_at)::float8, duration, status, added, updated, skipped, failed, bytes, checksum, error, detail
        """

    public func entries(_ query: IngestionQuery) async throws -> [IngestionEntry] {
        var bindings = PostgresBindings()
        var conditions: [String] = []
        func condition(_ sql: String, _ value: some PostgresThrowingDynamicTypeEncodable) throws {
            try bindings.append(value)
            conditions.append(sql.replacingOccurrences(of: "?", with: "$\(bindings.count)"))
        }
        if let source = query.source { try condition("source = ?", source) }
        if let status = query.status { try condition("status = ?", status.rawValue) }
        if let since = query.since { try condition("started_at >= to_timestamp(?)", since.timeIntervalSince1970) }
        if let until = query.until { try condition("started_at < to_timestamp(?)", until.timeIntervalSince1970) }
        if let before = query.before { try condition("id < ?", before) }
        bindings.append(Int64(max(0, query.limit)))
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        return try await fetch(PostgresQuery(unsafeSQL: """
            SELECT \(Self.columns) FROM \(quoted) \(filter) ORDER BY id DESC LIMIT $\(bindings.count)
            """, binds: bindings))
    }

    public func lastSuccess(of source: String) async throws -> IngestionEntry? {
        var bindings = PostgresBindings()
        bindings.append(source)
        return try await fetch(PostgresQuery(unsafeSQL: """
            SELECT \(Self.columns) FROM \(quoted)
            WHERE source = $1 AND status IN ('succeeded', 'unchanged') ORDER BY id DESC LIMIT 1
            """, binds: bindings)).first
    }

    public func prune(olderThan age: Duration, limit: Int) async throws -> Int {
        var bindings = PostgresBindings()
        bindings.append(age.seconds)
        bindings.append(Int64(max(0, limit)))
        let rows = try await client.query(PostgresQuery(unsafeSQL: """
            WITH gone AS (
                DELETE FROM \(quoted) WHERE id IN (
                    SELECT id FROM \(quoted) WHERE started_at < now() - make_interval(secs => $1)
                    ORDER BY started_at LIMIT $2)
                RETURNING 1)
            SELECT count(*) FROM gone
            """, binds: bindings), logger: logger)
        for try await count in rows.decode(Int64.self) { return Int(count) }
        return 0
    }

    private func fetch(_ query: PostgresQuery) async throws -> [IngestionEntry] {
        let rows = try await client.query(query, logger: logger)
        var entries: [IngestionEntry] = []
        for try await row in rows {
            let c = try row.decode((Int64, String, Double, Double, String, Int64, Int64, Int64, Int64, Int64,
                                    String?, String?, String?).self)
            entries.append(IngestionEntry(
                id: c.0, source: c.1, startedAt: Date(timeIntervalSince1970: c.2),
                duration: .nanoseconds(Int64(c.3 * 1e9)), status: IngestionEntry.Status(rawValue: c.4) ?? .failed,
                added: Int(c.5), updated: Int(c.6), skipped: Int(c.7), failed: Int(c.8), bytes: c.9,
                checksum: c.10, error: c.11, detail: c.12))
        }
        return entries
    }

}
