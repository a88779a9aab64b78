import NIOCore

/// One argument of a command. Every argument goes to the server as a bulk string.
public enum RESPArgument: Sendable, Hashable {
    case string(String)
    case bytes(ByteBuffer)
    case int(Int)

    public init(_ bytes: [UInt8]) {
        self = .bytes(ByteBuffer(bytes: bytes))
    }

    public init(_ string: String) { self = .string(string) }
    public init(_ int: Int) { self = .int(int) }
    public init(_ buffer: ByteBuffer) { self = .bytes(buffer) }
}

extension RESPArgument: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
}

extension RESPArgument {
    /// The argument as text, for error messages and logs.
    var text: String {
        switch self {
        case .string(let s): s
        case .bytes(let b): String(buffer: b)
        case .int(let i): String(i)
        }
    }
}

extension [RESPArgument] {
    /// The command's name, for messages: the first argument, upper-cased.
    var commandName: String {
        first.map { $0.text.uppercased() } ?? "(empty command)"
    }
}

extension ByteBuffer {
    /// Writes `arguments` as one command: a RESP array of bulk strings.
    ///
    /// The size is worked out first and the command is filled into one reserved region:
    /// a bulk of thousands of small arguments (a job enqueue) would otherwise pay the
    /// buffer's bounds and uniqueness checks five times per argument.
    public mutating func writeRESPCommand(_ arguments: [RESPArgument]) {
        var size = 1 + decimalLength(arguments.count) + 2
        for argument in arguments {
            let length = argument.encodedLength
            size += 1 + decimalLength(length) + 2 + length + 2
        }
        writeWithUnsafeMutableBytes(minimumWritableBytes: size) { raw in
            var out = RESPWriter(base: raw.baseAddress!)
            out.byte(UInt8(ascii: "*"))
            out.decimal(arguments.count)
            out.crlf()
            for argument in arguments {
                out.byte(UInt8(ascii: "$"))
                switch argument {
                case .string(var s):
                    out.decimal(s.utf8.count)
                    out.crlf()
                    s.withUTF8 { out.bytes($0) }
                case .bytes(let b):
                    out.decimal(b.readableBytes)
                    out.crlf()
                    b.withUnsafeReadableBytes { out.bytes(UnsafeBufferPointer(start: $0.baseAddress?.assumingMemoryBound(to: UInt8.self), count: $0.count)) }
                case .int(let i):
                    out.decimal(decimalLength(i))
                    out.crlf()
                    out.decimal(i)
                }
                out.crlf()
            }
            assert(out.offset == size)
            return out.offset
        }
    }

    /// Writes `value` in RESP3 (RESP2 for the types RESP2 has). Simple strings and simple errors
    /// are written as they are: they must not contain CR or LF (an error that does is written as
    /// a blob error).
    public mutating func writeRESPValue(_ value: RESPValue) {
        switch value {
        case .simpleString(let s):
            writeInteger(UInt8(ascii: "+"))
            writeString(s)
            writeStaticString("\r\n")
        case .error(let s):
            if s.utf8.contains(where: { $0 == 13 || $0 == 10 }) {
                writeInteger(UInt8(ascii: "!"))
                writeDecimal(s.utf8.count)
                writeStaticString("\r\n")
                writeString(s)
            } else {
                writeInteger(UInt8(ascii: "-"))
                writeString(s)
            }
            writeStaticString("\r\n")
        case .integer(let i):
            writeInteger(UInt8(ascii: ":"))
            writeString(String(i))
            writeStaticString("\r\n")
        case .bulkString(let b):
            writeInteger(UInt8(ascii: "$"))
            writeDecimal(b.readableBytes)
            writeStaticString("\r\n")
            writeImmutableBuffer(b)
            writeStaticString("\r\n")
        case .null:
            writeStaticString("_\r\n")
        case .array(let a): writeAggregate("*", a)
        case .set(let a): writeAggregate("~", a)
        case .push(let a): writeAggregate(">", a)
        case .boolean(let b):
            writeStaticString(b ? "#t\r\n" : "#f\r\n")
        case .double(let d):
            writeInteger(UInt8(ascii: ","))
            writeString(String(d))
            writeStaticString("\r\n")
        case .bigNumber(let s):
            writeInteger(UInt8(ascii: "("))
            writeString(s)
            writeStaticString("\r\n")
        case .verbatimString(let format, let text):
            writeInteger(UInt8(ascii: "="))
            writeDecimal(text.readableBytes + 4)
            writeStaticString("\r\n")
            writeString(format)
            writeInteger(UInt8(ascii: ":"))
            writeImmutableBuffer(text)
            writeStaticString("\r\n")
        case .map(let pairs):
            writePairs("%", pairs)
        case .attributed(let attributes, let value):
            writePairs("|", attributes)
            writeRESPValue(value)
        }
    }

    private mutating func writeAggregate(_ type: Unicode.Scalar, _ elements: [RESPValue]) {
        writeInteger(UInt8(ascii: type))
        writeDecimal(elements.count)
        writeStaticString("\r\n")
        for e in elements { writeRESPValue(e) }
    }

    private mutating func writePairs(_ type: Unicode.Scalar, _ pairs: [RESPPair]) {
        writeInteger(UInt8(ascii: type))
        writeDecimal(pairs.count)
        writeStaticString("\r\n")
        for p in pairs {
            writeRESPValue(p.key)
            writeRESPValue(p.value)
        }
    }

    /// Writes a decimal integer without allocating a String.
    mutating func writeDecimal(_ value: Int) {
        if value >= 0 && value < 10 {
            writeInteger(UInt8(48 + value))
            return
        }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for 20 digits and a sign
        withUnsafeMutableBytes(of: &digits) { raw in
            var magnitude = value.magnitude
            var i = raw.count
            repeat {
                i -= 1
                raw[i] = UInt8(48 + magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            if value < 0 {
                i -= 1
                raw[i] = UInt8(ascii: "-")
            }
            writeBytes(UnsafeRawBufferPointer(rebasing: raw[i...]))
        }
    }
}

/// Fills a region sized in advance (see `writeRESPCommand`).
private struct RESPWriter {
    let base: UnsafeMutableRawPointer
    var offset = 0

    mutating func byte(_ value: UInt8) {
        base.storeBytes(of: value, toByteOffset: offset, as: UInt8.self)
        offset += 1
    }

    mutating func crlf() {
        byte(13)
        byte(10)
    }

    mutating func bytes(_ source: UnsafeBufferPointer<UInt8>) {
        guard let start = source.baseAddress, source.count > 0 else { return }
        (base + offset).copyMemory(from: start, byteCount: source.count)
        offset += source.count
    }

    mutating func decimal(_ value: Int) {
        let length = decimalLength(value)
        var magnitude = value.magnitude
        var i = offset + length
        repeat {
            i -= 1
            base.storeBytes(of: UInt8(48 + magnitude % 10), toByteOffset: i, as: UInt8.self)
            magnitude /= 10
        } while magnitude > 0
        if value < 0 { base.storeBytes(of: UInt8(ascii: "-"), toByteOffset: offset, as: UInt8.self) }
        offset += length
    }
}

extension RESPArgument {
    /// The argument's length as a bulk string.
    var encodedLength: Int {
        switch self {
        case .string(let s): s.utf8.count
        case .bytes(let b): b.readableBytes
        case .int(let i): decimalLength(i)
        }
    }
}

private func decimalLength(_ value: Int) -> Int {
    var magnitude = value.magnitude
    var length = value < 0 ? 2 : 1
    while magnitude >= 10 {
        magnitude /= 10
        length += 1
    }
    return length
}
