import Foundation

/// Decodes one CSV record into a `Decodable` value, by header name: a flat struct whose
/// properties are named like the columns (`CodingKeys` may rename them).
///
/// Fields are trimmed. An empty field is `nil` for an optional property and an error for any
/// other; numbers and booleans (`true`/`false`, `1`/`0`, `yes`/`no`) are parsed from the text;
/// `Date` reads ISO 8601. A property with no column is a ``RowDecodingProblem/missingColumn(_:)``.
struct CSVRowDecoder {
    let columns: [String: Int]

    init(header: [String]) {
        var columns: [String: Int] = [:]
        for (index, name) in header.enumerated() where columns[name] == nil { columns[name] = index }
        self.columns = columns
    }

    func decode<Row: Decodable>(_ type: Row.Type, from fields: [String]) throws -> Row {
        try Row(from: FieldsDecoder(columns: columns, fields: fields))
    }
}

/// Why a row could not be decoded, in words for a row issue.
enum RowDecodingProblem: Error {
    case missingColumn(String)
    case badValue(column: String, value: String, expected: String)
    case unsupported(column: String, what: String)

    var reason: String {
        switch self {
        case .missingColumn(let column): "no column '\(column)'"
        case .badValue(let column, let value, let expected) where value.isEmpty: "column '\(column)' is empty, expected \(expected)"
        case .badValue(let column, let value, let expected): "column '\(column)': \"\(value)\" is not \(expected)"
        case .unsupported(let column, let what): "column '\(column)': \(what) cannot be read from a CSV field"
        }
    }
}

private struct FieldsDecoder: Decoder {
    let columns: [String: Int]
    let fields: [String]
    var codingPath: [any CodingKey] = []
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(Container<Key>(decoder: self))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        throw RowDecodingProblem.unsupported(column: codingPath.last?.stringValue ?? "?", what: "a list")
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        throw RowDecodingProblem.unsupported(column: codingPath.last?.stringValue ?? "?", what: "a single value row")
    }

    func field(_ key: some CodingKey) throws -> String {
        guard let index = columns[key.stringValue] else { throw RowDecodingProblem.missingColumn(key.stringValue) }
        return index < fields.count ? trimmingWhitespace(fields[index]) : ""
    }

    struct Container<Key: CodingKey>: KeyedDecodingContainerProtocol {
        let decoder: FieldsDecoder
        var codingPath: [any CodingKey] { decoder.codingPath }
        var allKeys: [Key] { decoder.columns.keys.compactMap { Key(stringValue: $0) } }

        func contains(_ key: Key) -> Bool { decoder.columns[key.stringValue] != nil }

        func decodeNil(forKey key: Key) throws -> Bool {
            // A missing column decodes as nil for an optional property, like a missing JSON key.
            guard contains(key) else { return true }
            return try decoder.field(key).isEmpty
        }

        func decode(_ type: String.Type, forKey key: Key) throws -> String { try decoder.field(key) }

        func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool {
            let text = try decoder.field(key)
            switch text.lowercased() {
            case "true", "1", "yes", "y", "t": return true
            case "false", "0", "no", "n", "f": return false
            default: throw RowDecodingProblem.badValue(column: key.stringValue, value: text, expected: "a boolean (true or false)")
            }
        }

        func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try number(key) }
        func decode(_ type: Float.Type, forKey key: Key) throws -> Float { Float(try number(key) as Double) }
        func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try integer(key) }
        func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try integer(key) }
        func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try integer(key) }
        func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try integer(key) }
        func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try integer(key) }
        func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try integer(key) }
        func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try integer(key) }
        func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try integer(key) }
        func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try integer(key) }
        func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try integer(key) }

        func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
            if type == Date.self {
                let text = try decoder.field(key)
                guard let date = Self.date(text) else {
                    throw RowDecodingProblem.badValue(column: key.stringValue, value: text, expected: "an ISO 8601 date")
                }
                return date as! T
            }
            if type == Decimal.self {
                let text = try decoder.field(key)
                guard let value = Decimal(string: text, locale: Locale(identifier: "en_US_POSIX")), !text.isEmpty else {
                    throw RowDecodingProblem.badValue(column: key.stringValue, value: text, expected: "a number")
                }
                return value as! T
            }
            // Enums and wrappers with a single value read the field itself.
            var nested = decoder
            nested.codingPath.append(key)
            return try T(from: SingleFieldDecoder(text: try decoder.field(key), codingPath: nested.codingPath))
        }

        func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
            throw RowDecodingProblem.unsupported(column: key.stringValue, what: "a nested value")
        }

        func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
            throw RowDecodingProblem.unsupported(column: key.stringValue, what: "a list")
        }

        func superDecoder() throws -> any Decoder { decoder }
        func superDecoder(forKey key: Key) throws -> any Decoder { decoder }

        private func number(_ key: Key) throws -> Double {
            let text = try decoder.field(key)
            guard let value = Double(text), value.isFinite else {
                throw RowDecodingProblem.badValue(column: key.stringValue, value: text, expected: "a number")
            }
            return value
        }

        private func integer<T: FixedWidthInteger>(_ key: Key) throws -> T {
            let text = try decoder.field(key)
            guard let value = T(text) else {
                throw RowDecodingProblem.badValue(column: key.stringValue, value: text, expected: "an integer in \(T.min)...\(T.max)")
            }
            return value
        }

        private static func date(_ text: String) -> Date? {
            if let date = try? Date(text, strategy: .iso8601) { return date }
            // A bare day: `2026-12-04`.
            return try? Date(text + "T00:00:00Z", strategy: .iso8601)
        }
    }
}

/// One field's text as a single value: `RawRepresentable` enums and one-value wrappers.
private struct SingleFieldDecoder: Decoder, SingleValueDecodingContainer {
    let text: String
    var codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    private var column: String { codingPath.last?.stringValue ?? "?" }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        throw RowDecodingProblem.unsupported(column: column, what: "a nested value")
    }
    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        throw RowDecodingProblem.unsupported(column: column, what: "a list")
    }
    func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

    func decodeNil() -> Bool { text.isEmpty }
    func decode(_ type: String.Type) throws -> String { text }
    func decode(_ type: Bool.Type) throws -> Bool {
        switch text.lowercased() {
        case "true", "1", "yes": return true
        case "false", "0", "no": return false
        default: throw RowDecodingProblem.badValue(column: column, value: text, expected: "a boolean (true or false)")
        }
    }
    func decode(_ type: Double.Type) throws -> Double { try number() }
    func decode(_ type: Float.Type) throws -> Float { Float(try number()) }
    func decode(_ type: Int.Type) throws -> Int { try integer() }
    func decode(_ type: Int8.Type) throws -> Int8 { try integer() }
    func decode(_ type: Int16.Type) throws -> Int16 { try integer() }
    func decode(_ type: Int32.Type) throws -> Int32 { try integer() }
    func decode(_ type: Int64.Type) throws -> Int64 { try integer() }
    func decode(_ type: UInt.Type) throws -> UInt { try integer() }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try integer() }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try integer() }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try integer() }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try integer() }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try T(from: self) }

    private func number() throws -> Double {
        guard let value = Double(text), value.isFinite else {
            throw RowDecodingProblem.badValue(column: column, value: text, expected: "a number")
        }
        return value
    }
    private func integer<T: FixedWidthInteger>() throws -> T {
        guard let value = T(text) else {
            throw RowDecodingProblem.badValue(column: column, value: text, expected: "an integer in \(T.min)...\(T.max)")
        }
        return value
    }
}
