import NIOCore

/// One key/value pair of a RESP3 map or attribute, in the order the server sent it.
public struct RESPPair: Sendable, Hashable {
    public var key: RESPValue
    public var value: RESPValue

    public init(_ key: RESPValue, _ value: RESPValue) {
        self.key = key
        self.value = value
    }
}

/// A reply from a Redis server, RESP2 or RESP3.
///
/// Bulk payloads are `ByteBuffer` slices of the received bytes (no copy). RESP2's null bulk string
/// and null array and RESP3's null all parse as `.null`. Simple errors (`-`) and blob errors (`!`)
/// both parse as `.error`.
public indirect enum RESPValue: Sendable, Hashable {
    case simpleString(String)
    case error(String)
    case integer(Int64)
    case bulkString(ByteBuffer)
    case null
    case array([RESPValue])
    case boolean(Bool)
    case double(Double)
    /// A RESP3 big number, as its decimal digits (with an optional leading `-`).
    case bigNumber(String)
    /// A RESP3 verbatim string: a three-letter format (`txt`, `mkd`) and the text.
    case verbatimString(format: String, text: ByteBuffer)
    case map([RESPPair])
    case set([RESPValue])
    /// A RESP3 out-of-band push (pub/sub message, client-side caching invalidation).
    case push([RESPValue])
    /// A RESP3 attribute (`|`) and the reply it annotates.
    case attributed(attributes: [RESPPair], value: RESPValue)
}

extension RESPValue {
    /// The text of a simple, bulk or verbatim string (bytes decoded as UTF-8), or of an integer,
    /// double or big number; nil for anything else.
    public var string: String? {
        switch self {
        case .simpleString(let s), .bigNumber(let s): s
        case .bulkString(let b), .verbatimString(_, let b): String(buffer: b)
        case .integer(let i): String(i)
        case .double(let d): String(d)
        case .attributed(_, let v): v.string
        default: nil
        }
    }

    /// An integer reply, or a string reply that holds a decimal integer.
    public var int: Int? {
        switch self {
        case .integer(let i): Int(exactly: i)
        case .simpleString, .bulkString, .bigNumber: string.flatMap { Int($0) }
        case .boolean(let b): b ? 1 : 0
        case .attributed(_, let v): v.int
        default: nil
        }
    }

    /// The raw bytes of a bulk, verbatim or simple string.
    public var bytes: [UInt8]? {
        switch self {
        case .bulkString(let b), .verbatimString(_, let b): Array(b.readableBytesView)
        case .simpleString(let s): Array(s.utf8)
        case .attributed(_, let v): v.bytes
        default: nil
        }
    }

    /// The elements of an array, set or push reply, or the flattened key, value list of a map.
    public var array: [RESPValue]? {
        switch self {
        case .array(let a), .set(let a), .push(let a): a
        case .map(let pairs): pairs.flatMap { [$0.key, $0.value] }
        case .attributed(_, let v): v.array
        default: nil
        }
    }

    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }
}

extension RESPValue: CustomStringConvertible {
    public var description: String {
        switch self {
        case .simpleString(let s): return s
        case .error(let s): return "(error) \(s)"
        case .integer(let i): return "(integer) \(i)"
        case .bulkString(let b): return "\"\(String(buffer: b))\""
        case .null: return "(nil)"
        case .array(let a): return "[" + a.map(\.description).joined(separator: ", ") + "]"
        case .boolean(let b): return b ? "(true)" : "(false)"
        case .double(let d): return "(double) \(d)"
        case .bigNumber(let s): return "(big number) \(s)"
        case .verbatimString(let f, let t): return "\(f):\(String(buffer: t))"
        case .map(let pairs): return "{" + pairs.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + "}"
        case .set(let a): return "~[" + a.map(\.description).joined(separator: ", ") + "]"
        case .push(let a): return ">[" + a.map(\.description).joined(separator: ", ") + "]"
        case .attributed(let attrs, let v):
            return "|{" + attrs.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + "} \(v)"
        }
    }
}
