import Foundation
import GRDB
import GRDBSQLite

/// Direct binding and stepping for the hot paths (enqueue, claim, complete), where
/// building `StatementArguments` for every row would cost more than the SQL itself.
extension Statement {
    @inline(__always) func bind(_ index: Int32, _ value: Int64) {
        sqlite3_bind_int64(sqliteStatement, index, value)
    }

    @inline(__always) func bind(_ index: Int32, _ value: Int) {
        sqlite3_bind_int64(sqliteStatement, index, Int64(value))
    }

    @inline(__always) func bind(_ index: Int32, _ value: String?) {
        guard let value else {
            sqlite3_bind_null(sqliteStatement, index)
            return
        }
        var text = value
        text.withUTF8 { bytes in
            bytes.withMemoryRebound(to: CChar.self) { chars in
                // An empty buffer may have no address; SQLite would read that as NULL.
                if let base = chars.baseAddress {
                    _ = sqlite3_bind_text(sqliteStatement, index, base, Int32(chars.count), SQLITE_TRANSIENT_VALUE)
                } else {
                    _ = sqlite3_bind_text(sqliteStatement, index, "", 0, SQLITE_TRANSIENT_VALUE)
                }
            }
        }
    }

    @inline(__always) func bind(_ index: Int32, _ value: Data?) {
        guard let value else {
            sqlite3_bind_null(sqliteStatement, index)
            return
        }
        value.withUnsafeBytes { bytes in
            _ = sqlite3_bind_blob(sqliteStatement, index, bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(bytes.count), SQLITE_TRANSIENT_VALUE)
        }
    }

    @inline(__always) func bind(_ index: Int32, _ value: Double) {
        sqlite3_bind_double(sqliteStatement, index, value)
    }

    @inline(__always) func bindNull(_ index: Int32) {
        sqlite3_bind_null(sqliteStatement, index)
    }

    /// Runs a statement that returns no rows, then resets it for the next use.
    func stepDone(_ db: Database) throws {
        let code = sqlite3_step(sqliteStatement)
        sqlite3_reset(sqliteStatement)
        guard code == SQLITE_DONE || code == SQLITE_ROW else {
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)), sql: sql)
        }
    }

    /// Runs a statement and calls `row` for each result row, then resets it.
    func stepRows(_ db: Database, _ row: (OpaquePointer) throws -> Void) throws {
        defer { sqlite3_reset(sqliteStatement) }
        while true {
            let code = sqlite3_step(sqliteStatement)
            if code == SQLITE_DONE { return }
            guard code == SQLITE_ROW else {
                throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)), sql: sql)
            }
            try row(sqliteStatement)
        }
    }
}

/// `SQLITE_TRANSIENT`: SQLite copies the bound bytes, so they may be freed after binding.
let SQLITE_TRANSIENT_VALUE = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

@inline(__always) func columnInt64(_ statement: OpaquePointer, _ index: Int32) -> Int64 {
    sqlite3_column_int64(statement, index)
}

@inline(__always) func columnDouble(_ statement: OpaquePointer, _ index: Int32) -> Double {
    sqlite3_column_double(statement, index)
}

@inline(__always) func columnIsNull(_ statement: OpaquePointer, _ index: Int32) -> Bool {
    sqlite3_column_type(statement, index) == SQLITE_NULL
}

@inline(__always) func columnText(_ statement: OpaquePointer, _ index: Int32) -> String? {
    guard let text = sqlite3_column_text(statement, index) else { return nil }
    return String(cString: text)
}

@inline(__always) func columnData(_ statement: OpaquePointer, _ index: Int32) -> Data? {
    if sqlite3_column_type(statement, index) == SQLITE_NULL { return nil }
    let count = Int(sqlite3_column_bytes(statement, index))
    guard count > 0, let bytes = sqlite3_column_blob(statement, index) else { return Data() }
    return Data(bytes: bytes, count: count)
}

/// Microseconds since 1970, the stored form of every time.
@inline(__always) func micros(_ date: Date) -> Int64 {
    Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
}

@inline(__always) func date(micros: Int64) -> Date {
    Date(timeIntervalSince1970: Double(micros) / 1_000_000)
}
