/// A value of one column, as a sink writes it.
public enum SinkValue: Sendable, Hashable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case bool(Bool)

    /// Whether a column of `kind` can hold the value as it is: an integer also fits a real
    /// column; nothing else is converted, so a typo in `values()` is an error, not a silent 0.
    func fits(_ kind: SinkColumn.Kind) -> Bool {
        switch (self, kind) {
        case (.integer, .integer), (.integer, .real), (.real, .real), (.text, .text), (.bool, .bool): true
        default: false
        }
    }

    /// About how many bytes the value takes in a statement: what a sink's byte limit counts.
    var estimatedBytes: Int {
        switch self {
        case .null: 1
        case .integer, .real: 8
        case .bool: 1
        case .text(let text): text.utf8.count
        }
    }
}

/// A column of a sink's table.
public struct SinkColumn: Sendable, Hashable {
    public enum Kind: Sendable, Hashable {
        case integer, real, text, bool
    }

    public var name: String
    public var kind: Kind
    public var nullable: Bool

    public init(_ name: String, _ kind: Kind, nullable: Bool = false) {
        self.name = name
        self.kind = kind
        self.nullable = nullable
    }
}

/// A row a ``BatchSink`` upserts: its columns, its natural key, and its values in column order.
/// It is `Codable` so that a record the target refuses can be written to a spill file and
/// replayed.
///
/// ```swift
/// struct Property: SinkRecord {
///     var id: String, price: Double, rooms: Int, city: String
///     static let columns: [SinkColumn] = [.init("id", .text), .init("price", .real), .init("rooms", .integer), .init("city", .text)]
///     static let key = ["id"]
///     func values() -> [SinkValue] { [.text(id), .real(price), .integer(Int64(rooms)), .text(city)] }
/// }
/// ```
public protocol SinkRecord: Codable, Sendable {
    /// The columns, in the order ``values()`` gives them.
    static var columns: [SinkColumn] { get }
    /// The natural key's column names: a record whose key is already in the table updates that row.
    static var key: [String] { get }
    func values() -> [SinkValue]
}

extension SinkRecord {
    /// About how many bytes the record takes in a statement.
    public var estimatedBytes: Int {
        values().reduce(0) { $0 + $1.estimatedBytes }
    }
}

/// What one write did: rows inserted, rows changed, and rows whose key was there with the same values.
public struct SinkWriteResult: Sendable, Equatable {
    public var added: Int
    public var updated: Int
    public var unchanged: Int

    public init(added: Int = 0, updated: Int = 0, unchanged: Int = 0) {
        self.added = added
        self.updated = updated
        self.unchanged = unchanged
    }

    public static func += (lhs: inout SinkWriteResult, rhs: SinkWriteResult) {
        lhs.added += rhs.added
        lhs.updated += rhs.updated
        lhs.unchanged += rhs.unchanged
    }
}

/// Where a ``BatchSink`` writes: one call, one transaction, all of the records or none.
public protocol SinkTarget<Record>: Sendable {
    associatedtype Record: SinkRecord
    /// Upserts every record by its natural key in one transaction: on an error nothing of it stays.
    func write(_ records: [Record]) async throws -> SinkWriteResult
    /// Whether an error says nothing about the records (a locked database, a dropped
    /// connection): the whole write is tried again after a pause instead of being split.
    func isTransient(_ error: any Error) -> Bool
    /// The target in words, for logs and spill files (`sqlite:/data/app.db table properties`).
    var name: String { get }
}

extension SinkTarget {
    /// Validates a record type against the rules every target needs.
    static func checkColumns() throws {
        let names = Record.columns.map(\.name)
        guard !names.isEmpty else { throw SinkError.badRecordType("\(Record.self) has no columns") }
        guard Set(names).count == names.count else {
            throw SinkError.badRecordType("\(Record.self) names a column twice: \(names)")
        }
        guard !Record.key.isEmpty else { throw SinkError.badRecordType("\(Record.self) has no key columns") }
        for key in Record.key where !names.contains(key) {
            throw SinkError.badRecordType("\(Record.self)'s key column '\(key)' is not one of its columns \(names)")
        }
    }
}

public enum SinkError: Error, Equatable, CustomStringConvertible {
    case closed
    case badRecordType(String)
    case badConfiguration(String)
    /// A record gave a different number of values than its type has columns.
    case wrongValueCount(record: Int, got: Int, columns: Int)
    /// A record has no value for a column that needs one.
    case nullValue(record: Int, column: String)
    /// A record's value is not of its column's kind (text for an integer column).
    case wrongKind(record: Int, column: String, expected: SinkColumn.Kind, got: SinkValue)

    public var description: String {
        switch self {
        case .closed: "the sink is closed: it takes no more records"
        case .badRecordType(let reason): "bad sink record type: \(reason)"
        case .badConfiguration(let reason): "bad sink configuration: \(reason)"
        case .wrongValueCount(let record, let got, let columns):
            "record \(record) of the write has \(got) values, its type has \(columns) columns"
        case .nullValue(let record, let column):
            "record \(record) of the write has no value for column '\(column)', which is not nullable"
        case .wrongKind(let record, let column, let expected, let got):
            "record \(record) of the write has \(got) for column '\(column)', which holds \(expected) values"
        }
    }
}
