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
    public mutating func writeRESPCommand(_ arguments: [RESPArgument]) {
        writeInteger(UInt8(ascii: "*"))
        writeDecimal(arguments.count)
        writeStaticString("\r\n")
        for argument in arguments {
            switch argument {
            case .string(let s):
                writeInteger(UInt8(ascii: "$"))
                writeDecimal(s.utf8.count)
                writeStaticString("\r\n")
                writeString(s)
            case .bytes(let b):
                writeInteger(UInt8(ascii: "$"))
                writeDecimal(b.readableBytes)
                writeStaticString("\r\n")
                writeImmutableBuffer(b)
            case .int(let i):
                writeInteger(UInt8(ascii: "$"))
                writeDecimal(decimalLength(i))
                writeStaticString("\r\n")
                writeDecimal(i)
            }
            writeStaticString("\r\n")
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

private func decimalLength(_ value: Int) -> Int {
    var magnitude = value.magnitude
    var length = value < 0 ? 2 : 1
    while magnitude >= 10 {
        magnitude /= 10
        length += 1
    }
    return length
}
