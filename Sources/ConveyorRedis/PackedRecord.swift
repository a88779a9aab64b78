import Conveyor
import Foundation
import NIOCore

/// The few MessagePack forms the job records use (see the layout notes in ``RedisScripts``):
/// a record is several MessagePack values one after another, which is what Redis's Lua
/// `cmsgpack.pack(a, b, c)` writes and `cmsgpack.unpack` reads back as several values.
/// Strings (any bytes) and integers are all a record holds.
struct PackedWriter {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int = 96) {
        bytes.reserveCapacity(capacity)
    }

    var count: Int { bytes.count }

    mutating func string(_ text: String) {
        header(text.utf8.count)
        bytes.append(contentsOf: text.utf8)
    }

    mutating func bytes(_ data: Data) {
        header(data.count)
        bytes.append(contentsOf: data)
    }

    private mutating func header(_ length: Int) {
        switch length {
        case ..<32: bytes.append(UInt8(0xa0 | length))
        case ..<0x100: bytes.append(0xd9); bytes.append(UInt8(length))
        case ..<0x1_0000: bytes.append(0xda); bigEndian(UInt16(length))
        default: bytes.append(0xdb); bigEndian(UInt32(length))
        }
    }

    /// The header of an array of `count` values, which follow it.
    mutating func arrayHeader(_ count: Int) {
        switch count {
        case ..<16: bytes.append(UInt8(0x90 | count))
        case ..<0x1_0000: bytes.append(0xdc); bigEndian(UInt16(count))
        default: bytes.append(0xdd); bigEndian(UInt32(count))
        }
    }

    mutating func int(_ value: Int) {
        switch value {
        case 0..<128: bytes.append(UInt8(value))
        case -32..<0: bytes.append(UInt8(bitPattern: Int8(value)))
        default: bytes.append(0xd3); bigEndian(Int64(value))
        }
    }

    private mutating func bigEndian<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }
}

/// Reads what ``PackedWriter`` or Lua's `cmsgpack.pack` wrote. Anything else (a float, a
/// map, nil, a truncated record) is an error naming the record, never a crash.
struct PackedReader {
    enum Value {
        case int(Int64)
        case bytes(ByteBuffer)
    }

    private var buffer: ByteBuffer

    init(_ buffer: ByteBuffer) { self.buffer = buffer }

    /// Whether every value has been read (a record of an older layout may end before a field
    /// added since).
    var isAtEnd: Bool { buffer.readableBytes == 0 }

    mutating func next() throws -> Value {
        guard let tag: UInt8 = buffer.readInteger() else { throw malformed("it ends early") }
        switch tag {
        case 0x00...0x7f: return .int(Int64(tag))
        case 0xe0...0xff: return .int(Int64(Int8(bitPattern: tag)))
        case 0xa0...0xbf: return try bytes(Int(tag & 0x1f))
        case 0xd9, 0xc4: return try bytes(Int(try read(UInt8.self)))
        case 0xda, 0xc5: return try bytes(Int(try read(UInt16.self)))
        case 0xdb, 0xc6: return try bytes(Int(try read(UInt32.self)))
        case 0xcc: return .int(Int64(try read(UInt8.self)))
        case 0xcd: return .int(Int64(try read(UInt16.self)))
        case 0xce: return .int(Int64(try read(UInt32.self)))
        case 0xcf: return .int(Int64(bitPattern: try read(UInt64.self)))
        case 0xd0: return .int(Int64(try read(Int8.self)))
        case 0xd1: return .int(Int64(try read(Int16.self)))
        case 0xd2: return .int(Int64(try read(Int32.self)))
        case 0xd3: return .int(try read(Int64.self))
        case 0xcb:
            // Lua numbers are doubles; cmsgpack writes whole ones as integers, but be lenient.
            let value = Double(bitPattern: try read(UInt64.self))
            guard let whole = Int64(exactly: value) else { throw malformed("it holds the fraction \(value)") }
            return .int(whole)
        default: throw malformed("it holds the unexpected MessagePack tag 0x\(String(tag, radix: 16))")
        }
    }

    mutating func string() throws -> String {
        switch try next() {
        case .bytes(let b): return String(buffer: b)
        case .int(let i): return String(i)
        }
    }

    /// A string where the empty one means absent.
    mutating func optionalString() throws -> String? {
        let text = try string()
        return text.isEmpty ? nil : text
    }

    mutating func data() throws -> Data {
        switch try next() {
        case .bytes(let b): return Data(b.readableBytesView)
        case .int(let i): return Data(String(i).utf8)
        }
    }

    mutating func int() throws -> Int {
        switch try next() {
        case .int(let i): return Int(i)
        case .bytes(let b):
            guard let i = Int(String(buffer: b)) else { throw malformed("a number field holds \"\(String(buffer: b).prefix(40))\"") }
            return i
        }
    }

    private mutating func bytes(_ count: Int) throws -> Value {
        guard let slice = buffer.readSlice(length: count) else { throw malformed("a string runs past its end") }
        return .bytes(slice)
    }

    private mutating func read<T: FixedWidthInteger>(_: T.Type) throws -> T {
        guard let value: T = buffer.readInteger() else { throw malformed("it ends early") }
        return value
    }

    private func malformed(_ what: String) -> ConveyorError {
        ConveyorError.storeFailure("a job record in Redis is malformed: \(what)")
    }
}
