import ConveyorIngest
import Logging
import PostgresNIO

/// A ``SinkTarget`` that upserts into a PostgreSQL table through postgres-nio: each write is
/// one statement (so one transaction and one round trip), whatever its size. The rows travel
/// as one typed array per column and are unpacked by `unnest`; `INSERT … ON CONFLICT (key) DO
/// UPDATE` changes a row only when a value differs, and `RETURNING (xmax = 0)` tells
/// inserted rows from changed ones.
///
/// ```swift
/// let target = try await PostgresUpsertTarget<Property>(client: client, table: "properties")
/// try await BatchSink.withSink(target, spill: SpillFile(path: "properties.spill.jsonl")) { sink in
///     for property in scraped { try await sink.send(property) }
/// }
/// ```
///
/// Lost connections, serialization failures, deadlocks, lock timeouts and a server shutting
/// down are transient: the sink retries the whole write. Data errors (a constraint, a value
/// out of range) are the records': the sink splits the write to find them.
public struct PostgresUpsertTarget<Record: SinkRecord>: SinkTarget {
    public let client: PostgresClient
    public let table: String
    public let logger: Logger
    public var name: String { "postgres table \(table)" }
    private let sql: String

    /// `createTable` makes the table (with the natural key as its primary key) when it is
    /// missing. The client must be running (`client.run()`).
    public init(client: PostgresClient, table: String, createTable: Bool = true,
                logger: Logger = Logger(label: "conveyor.sink.postgres")) async throws {
        self.client = client
        self.table = table
        self.logger = logger
        sql = Self.upsertSQL(table: table)
        if createTable {
            let columns = Record.columns.map { column in
                "\(quotedIdentifier(column.name)) \(Self.sqlType(column.kind))\(column.nullable ? "" : " NOT NULL")"
            }
            let key = Record.key.map(quotedIdentifier).joined(separator: ", ")
            try await client.query(PostgresQuery(unsafeSQL: """
                CREATE TABLE IF NOT EXISTS \(quotedTableName(table)) (\(columns.joined(separator: ", ")), PRIMARY KEY (\(key)))
                """), logger: logger)
        }
    }

    static func sqlType(_ kind: SinkColumn.Kind) -> String {
        switch kind {
        case .integer: "bigint"
        case .real: "double precision"
        case .text: "text"
        case .bool: "boolean"
        }
    }

    /// The statement for any number of rows: `$1…$n` are the columns' arrays, and a nullable
    /// column has a second, boolean array saying which of its values are null.
    static func upsertSQL(table: String) -> String {
        let table = quotedTableName(table)
        var parameter = 0
        var arrays: [String] = []
        var aliases: [String] = []
        var selected: [String] = []
        for (index, column) in Record.columns.enumerated() {
            parameter += 1
            arrays.append("$\(parameter)::\(sqlType(column.kind))[]")
            aliases.append("c\(index)")
            if column.nullable {
                parameter += 1
                arrays.append("$\(parameter)::boolean[]")
                aliases.append("n\(index)")
                selected.append("CASE WHEN n\(index) THEN NULL ELSE c\(index) END")
            } else {
                selected.append("c\(index)")
            }
        }
        let names = Record.columns.map { quotedIdentifier($0.name) }
        let key = Set(Record.key)
        let others = Record.columns.filter { !key.contains($0.name) }.map { quotedIdentifier($0.name) }
        let conflict = Record.key.map(quotedIdentifier).joined(separator: ", ")
        let action: String
        if others.isEmpty {
            action = "NOTHING"
        } else {
            let list = others.joined(separator: ", ")
            let excluded = others.map { "EXCLUDED.\($0)" }.joined(separator: ", ")
            let current = others.map { "t.\($0)" }.joined(separator: ", ")
            action = "UPDATE SET (\(list)) = ROW(\(excluded)) WHERE ROW(\(current)) IS DISTINCT FROM ROW(\(excluded))"
        }
        return """
            WITH written AS (
                INSERT INTO \(table) AS t (\(names.joined(separator: ", ")))
                SELECT \(selected.joined(separator: ", ")) FROM unnest(\(arrays.joined(separator: ", "))) AS v(\(aliases.joined(separator: ", ")))
                ON CONFLICT (\(conflict)) DO \(action)
                RETURNING (xmax = 0) AS inserted)
            SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM written
            """
    }

    public func write(_ records: [Record]) async throws -> SinkWriteResult {
        let rows = try UpsertRows(records)
        guard !rows.rows.isEmpty else { return SinkWriteResult() }
        var bindings = PostgresBindings(capacity: rows.columns.count * 2)
        for (index, column) in rows.columns.enumerated() {
            Self.bind(column: index, kind: column.kind, nullable: column.nullable, of: rows.rows, into: &bindings)
        }
        do {
            let result = try await client.query(PostgresQuery(unsafeSQL: sql, binds: bindings), logger: logger)
            for try await (inserted, changed) in result.decode((Int64, Int64).self) {
                return rows.result(inserted: Int(inserted), changed: Int(changed))
            }
            return rows.result(inserted: 0, changed: 0)
        } catch let error as PSQLError {
            throw PostgresTargetError(error, table: table)
        }
    }

    /// One column's values as a typed array (`UpsertRows` has checked each value's kind), and
    /// for a nullable column a second array saying which are null.
    private static func bind(column index: Int, kind: SinkColumn.Kind, nullable: Bool, of rows: [[SinkValue]],
                             into bindings: inout PostgresBindings) {
        switch kind {
        case .integer:
            bindings.append(rows.map { row -> Int64 in if case .integer(let value) = row[index] { value } else { 0 } })
        case .real:
            bindings.append(rows.map { row -> Double in
                switch row[index] {
                case .real(let value): value
                case .integer(let value): Double(value)
                default: 0
                }
            })
        case .text:
            bindings.append(rows.map { row -> String in if case .text(let value) = row[index] { value } else { "" } })
        case .bool:
            bindings.append(rows.map { row -> Bool in if case .bool(let value) = row[index] { value } else { false } })
        }
        if nullable { bindings.append(rows.map { $0[index] == .null }) }
    }

    public func isTransient(_ error: any Error) -> Bool {
        (error as? PostgresTargetError)?.isTransient ?? false
    }
}

/// A failed write, in words: postgres-nio's own errors print a fixed text (so that nothing
/// sensitive is logged by accident); this one carries the server's message, SQLSTATE and
/// constraint, which the spill file keeps beside the record.
public struct PostgresTargetError: Error, CustomStringConvertible {
    public let table: String
    /// The server's SQLSTATE (`23514` for a check constraint), nil for a connection error.
    public let sqlState: String?
    public let message: String
    public let detail: String?
    public let constraint: String?
    /// Connection exceptions, rollbacks (serialization, deadlock), too many connections, lock
    /// not available, a server shutting down, a connection lost: nothing about the records.
    public let isTransient: Bool

    init(_ error: PSQLError, table: String) {
        self.table = table
        let info = error.serverInfo
        sqlState = info?[.sqlState]
        message = info?[.message] ?? "connection error (\(error.code))"
        detail = info?[.detail]
        constraint = info?[.constraintName]
        if let state = sqlState {
            isTransient = state.hasPrefix("08") || state.hasPrefix("40") || state.hasPrefix("53") || state == "55P03" || state.hasPrefix("57")
        } else {
            isTransient = [.connectionError, .serverClosedConnection, .uncleanShutdown, .clientClosedConnection, .poolClosed]
                .contains(error.code)
        }
    }

    public var description: String {
        var text = "writing to \(table): \(message)"
        if let sqlState { text += " (SQLSTATE \(sqlState))" }
        if let constraint { text += ", constraint \(constraint)" }
        if let detail { text += ": \(detail)" }
        return text
    }
}
