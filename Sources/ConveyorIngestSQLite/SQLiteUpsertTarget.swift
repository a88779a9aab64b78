import ConveyorIngest
import GRDB

/// A ``SinkTarget`` that upserts into a SQLite table through GRDB: one write transaction per
/// write, multi-row `INSERT … ON CONFLICT (key) DO UPDATE` statements prepared once per
/// shape, and a row whose values are all the same left alone (counted as unchanged).
///
/// ```swift
/// let database = try DatabasePool(path: "app.sqlite")
/// let target = try await SQLiteUpsertTarget<Property>(database: database, table: "properties")
/// try await BatchSink.withSink(target, spill: SpillFile(path: "properties.spill.jsonl")) { sink in
///     for property in scraped { try await sink.send(property) }
/// }
/// ```
///
/// A busy or locked database is transient: the sink retries the whole write.
public struct SQLiteUpsertTarget<Record: SinkRecord>: SinkTarget {
    public let database: any DatabaseWriter
    public let table: String
    public var name: String { "sqlite:\(database.path) table \(table)" }

    /// Statements bind at most this many values (SQLite's default limit is 32,766).
    static var maxValuesPerStatement: Int { 30_000 }
    /// Rows per `INSERT`: more gains little and costs a larger statement to prepare.
    static var maxRowsPerStatement: Int { 500 }

    /// Opens the target; `createTable` makes the table (with the natural key as its primary
    /// key) when it is missing, and a unique index on the key when the table has none.
    public init(database: any DatabaseWriter, table: String, createTable: Bool = true) async throws {
        self.database = database
        self.table = table
        if createTable { try await Self.prepareTable(table, in: database) }
        let quoted = quotedTableName(table)
        // A rowid table tells inserted rows from changed ones by their rowids (new ones are past
        // the largest before the write); a WITHOUT ROWID table counts the keys already there.
        // An `INTEGER PRIMARY KEY` is the rowid itself: its rowids are the keys, not new ones.
        usesRowID = (try? await database.read { db -> Bool in
            try db.execute(sql: "SELECT rowid FROM \(quoted) LIMIT 0")
            let keys = try Row.fetchAll(db, sql: "SELECT type, pk FROM pragma_table_info(?)", arguments: [table])
                .filter { ($0["pk"] as Int) > 0 }
            return !(keys.count == 1 && (keys[0]["type"] as String).uppercased() == "INTEGER")
        }) ?? false
        rowsPerStatement = max(1, min(Self.maxRowsPerStatement, Self.maxValuesPerStatement / Record.columns.count))
        fullStatementSQL = ""
        fullStatementSQL = upsertSQL(rows: rowsPerStatement)
    }

    /// Whether the table has rowids (see `init`).
    let usesRowID: Bool
    /// Rows per `INSERT`, and its text for a full statement (built once: only a write's last,
    /// shorter statement builds its own).
    let rowsPerStatement: Int
    private var fullStatementSQL: String

    private static func prepareTable(_ table: String, in database: any DatabaseWriter) async throws {
        let columns = Record.columns.map { column in
            "\(quotedIdentifier(column.name)) \(Self.sqlType(column.kind))\(column.nullable ? "" : " NOT NULL")"
        }
        let key = Record.key.map(quotedIdentifier).joined(separator: ", ")
        let quoted = quotedTableName(table)
        let index = quotedIdentifier("\(table.replacingOccurrences(of: ".", with: "_"))_natural_key")
        try await database.write { db in
            try db.execute(sql: "CREATE TABLE IF NOT EXISTS \(quoted) (\(columns.joined(separator: ", ")), PRIMARY KEY (\(key)))")
            try db.execute(sql: "CREATE UNIQUE INDEX IF NOT EXISTS \(index) ON \(quoted) (\(key))")
        }
    }

    static func sqlType(_ kind: SinkColumn.Kind) -> String {
        switch kind {
        case .integer, .bool: "INTEGER"
        case .real: "REAL"
        case .text: "TEXT"
        }
    }

    public func write(_ records: [Record]) async throws -> SinkWriteResult {
        let rows = try UpsertRows(records)
        guard !rows.rows.isEmpty else { return SinkWriteResult() }
        do {
            let (inserted, changed) = try await database.write { db in try self.upsert(rows, in: db) }
            return rows.result(inserted: inserted, changed: changed)
        } catch let error as DatabaseError {
            throw SQLiteTargetError(error, table: table)
        }
    }

    /// Counts the keys already there, then upserts; both inside the caller's transaction.
    private func upsert(_ rows: UpsertRows, in db: Database) throws -> (inserted: Int, changed: Int) {
        let columns = rows.columns.count
        let perStatement = rowsPerStatement
        let largestRowID = usesRowID ? try Int64.fetchOne(db, sql: "SELECT coalesce(max(rowid), 0) FROM \(quotedTableName(table))") ?? 0 : 0
        var existing = 0
        var written = 0
        var inserted = 0
        var start = 0
        while start < rows.rows.count {
            let end = min(start + perStatement, rows.rows.count)
            let chunk = rows.rows[start..<end]
            if !usesRowID { existing += try countExisting(chunk, keyIndexes: rows.keyIndexes, in: db) }
            let statement = try db.cachedStatement(sql: chunk.count == perStatement ? fullStatementSQL : upsertSQL(rows: chunk.count))
            var values: [DatabaseValue] = []
            values.reserveCapacity(chunk.count * columns)
            for row in chunk { for value in row { values.append(Self.databaseValue(value)) } }
            statement.setUncheckedArguments(StatementArguments(values))
            if usesRowID {
                // RETURNING gives the rows inserted or changed, not those left alone.
                let rowIDs = try Int64.fetchCursor(statement)
                while let rowID = try rowIDs.next() {
                    written += 1
                    if rowID > largestRowID { inserted += 1 }
                }
            } else {
                try statement.execute()
                written += db.changesCount
            }
            start = end
        }
        // Without rowids: `changes` counts inserted and changed rows; those not there before were inserted.
        if !usesRowID { inserted = rows.rows.count - existing }
        return (inserted, written - inserted)
    }

    private func countExisting(_ chunk: ArraySlice<[SinkValue]>, keyIndexes: [Int], in db: Database) throws -> Int {
        let table = quotedTableName(self.table)
        let sql: String
        if keyIndexes.count == 1 {
            let key = quotedIdentifier(Record.key[0])
            sql = "SELECT count(*) FROM \(table) WHERE \(key) IN (\(repeatElement("?", count: chunk.count).joined(separator: ",")))"
        } else {
            let keys = Record.key.map(quotedIdentifier).joined(separator: ", ")
            let tuple = "(" + repeatElement("?", count: keyIndexes.count).joined(separator: ",") + ")"
            sql = "SELECT count(*) FROM \(table) WHERE (\(keys)) IN (VALUES \(repeatElement(tuple, count: chunk.count).joined(separator: ",")))"
        }
        let statement = try db.cachedStatement(sql: sql)
        var values: [DatabaseValue] = []
        values.reserveCapacity(chunk.count * keyIndexes.count)
        for row in chunk { for index in keyIndexes { values.append(Self.databaseValue(row[index])) } }
        statement.setUncheckedArguments(StatementArguments(values))
        return try Int.fetchOne(statement) ?? 0
    }

    private func upsertSQL(rows: Int) -> String {
        let names = Record.columns.map { quotedIdentifier($0.name) }
        let key = Set(Record.key)
        let others = Record.columns.filter { !key.contains($0.name) }.map { quotedIdentifier($0.name) }
        let tuple = "(" + repeatElement("?", count: names.count).joined(separator: ",") + ")"
        var sql = "INSERT INTO \(quotedTableName(table)) (\(names.joined(separator: ", "))) VALUES "
        sql += repeatElement(tuple, count: rows).joined(separator: ",")
        // A row whose values all match is left alone: `changes` does not count it.
        sql += " ON CONFLICT (\(Record.key.map(quotedIdentifier).joined(separator: ", "))) DO "
        if others.isEmpty {
            sql += "NOTHING"
        } else {
            sql += "UPDATE SET " + others.map { "\($0) = excluded.\($0)" }.joined(separator: ", ")
            sql += " WHERE " + others.map { "\(quotedTableName(table)).\($0) IS NOT excluded.\($0)" }.joined(separator: " OR ")
        }
        if usesRowID { sql += " RETURNING rowid" }
        return sql
    }

    static func databaseValue(_ value: SinkValue) -> DatabaseValue {
        switch value {
        case .null: .null
        case .integer(let number): number.databaseValue
        case .real(let number): number.databaseValue
        case .text(let text): text.databaseValue
        case .bool(let flag): (flag ? 1 : 0).databaseValue
        }
    }

    public func isTransient(_ error: any Error) -> Bool {
        (error as? SQLiteTargetError)?.isTransient ?? false
    }
}

/// A failed write, in words: SQLite's message and code without the statement (which a
/// spill file would otherwise repeat for every record).
public struct SQLiteTargetError: Error, CustomStringConvertible {
    public let table: String
    public let code: Int32
    public let message: String
    /// A busy or locked database: nothing about the records.
    public let isTransient: Bool

    init(_ error: DatabaseError, table: String) {
        self.table = table
        code = error.extendedResultCode.rawValue
        message = error.message ?? "SQLite error \(error.resultCode.rawValue)"
        isTransient = error.resultCode == .SQLITE_BUSY || error.resultCode == .SQLITE_LOCKED
    }

    public var description: String { "writing to \(table): \(message) (SQLite error \(code))" }
}
