import NIOCore

/// Bounds that keep a broken or hostile server from making the client allocate without limit
/// or recurse without bound.
public struct RESPParserLimits: Sendable, Hashable {
    /// The deepest nesting of aggregates (arrays, maps, sets, pushes, attributes). Default 64.
    public var maxDepth: Int
    /// The longest bulk, verbatim or blob-error payload, in bytes. Default 512 MiB (Redis's own
    /// `proto-max-bulk-len`).
    public var maxBulkLength: Int
    /// The most elements in one aggregate (a map counts its pairs). Default 16 Mi.
    public var maxAggregateCount: Int
    /// The longest simple string, error, integer, double or big-number line. Default 64 KiB.
    public var maxLineLength: Int

    public init(
        maxDepth: Int = 64,
        maxBulkLength: Int = 512 * 1024 * 1024,
        maxAggregateCount: Int = 16 * 1024 * 1024,
        maxLineLength: Int = 64 * 1024
    ) {
        self.maxDepth = maxDepth
        self.maxBulkLength = maxBulkLength
        self.maxAggregateCount = maxAggregateCount
        self.maxLineLength = maxLineLength
    }
}

/// An incremental RESP2/RESP3 reply parser.
///
/// Feed it the bytes received so far with `next(from:)`: it returns a whole value and consumes its
/// bytes, returns nil (consuming nothing) when the buffer holds only part of a value, or throws a
/// `RedisClientError` of kind `.protocolError` naming what was wrong and the offending byte's
/// offset in the stream. After an error the stream cannot be resynchronised: close the connection.
///
/// Each call first validates a whole frame without allocating, then builds the value, so a partial
/// frame costs a scan, not a tree of values thrown away.
public struct RESPParser: Sendable {
    public var limits: RESPParserLimits
    /// How many bytes this parser has consumed: the stream offset of the next value.
    public private(set) var consumedBytes: Int = 0

    public init(limits: RESPParserLimits = RESPParserLimits()) {
        self.limits = limits
    }

    /// The next whole value in `buffer`, or nil if more bytes are needed.
    public mutating func next(from buffer: inout ByteBuffer) throws(RedisClientError) -> RESPValue? {
        let base = consumedBytes
        let limits = self.limits
        let snapshot = buffer
        let outcome: Result<(RESPValue, Int)?, RedisClientError> = snapshot.withUnsafeReadableBytes { bytes in
            let scanner = Scanner(bytes: bytes, base: base, limits: limits)
            do throws(RedisClientError) {
                guard let end = try scanner.scan(at: 0, depth: 1) else { return .success(nil) }
                var index = 0
                let value = Builder(bytes: bytes, buffer: snapshot).build(at: &index)
                assert(index == end)
                return .success((value, end))
            } catch {
                return .failure(error)
            }
        }
        guard let (value, length) = try outcome.get() else { return nil }
        buffer.moveReaderIndex(forwardBy: length)
        consumedBytes += length
        return value
    }
}

private let cr: UInt8 = 13
private let lf: UInt8 = 10

/// Validates one frame and finds its end, allocating nothing.
private struct Scanner {
    let bytes: UnsafeRawBufferPointer
    let base: Int
    let limits: RESPParserLimits

    func fail(_ what: String, at index: Int) -> RedisClientError {
        .protocolError(what, offset: base + index)
    }

    /// The index of the CR ending the line that starts at `start`, or nil if it hasn't arrived.
    func lineEnd(from start: Int) throws(RedisClientError) -> Int? {
        var i = start
        let limit = min(bytes.count, start + limits.maxLineLength + 1)
        while i < limit {
            let b = bytes[i]
            if b == cr {
                guard i + 1 < bytes.count else { return nil }
                guard bytes[i + 1] == lf else { throw fail("CR not followed by LF", at: i + 1) }
                return i
            }
            if b == lf { throw fail("LF without CR", at: i) }
            i += 1
        }
        if i - start > limits.maxLineLength {
            throw fail("line longer than \(limits.maxLineLength) bytes", at: start)
        }
        return nil
    }

    func integer(from start: Int, to end: Int, what: String) throws(RedisClientError) -> Int64 {
        guard let value = parseInteger(bytes, from: start, to: end) else {
            throw fail("\(what) is not a valid integer", at: start)
        }
        return value
    }

    /// The end of the value starting at `i`, or nil when it is incomplete.
    func scan(at i: Int, depth: Int) throws(RedisClientError) -> Int? {
        guard i < bytes.count else { return nil }
        let type = bytes[i]
        switch type {
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            guard let end = try lineEnd(from: i + 1) else { return nil }
            return end + 2
        case UInt8(ascii: ":"):
            guard let end = try lineEnd(from: i + 1) else { return nil }
            _ = try integer(from: i + 1, to: end, what: "integer")
            return end + 2
        case UInt8(ascii: "$"), UInt8(ascii: "!"), UInt8(ascii: "="):
            guard let end = try lineEnd(from: i + 1) else { return nil }
            let length = try integer(from: i + 1, to: end, what: "length")
            if type == UInt8(ascii: "$") && length == -1 { return end + 2 }
            guard length >= 0 else { throw fail("negative length \(length)", at: i + 1) }
            guard length <= limits.maxBulkLength else {
                throw fail("length \(length) exceeds the limit of \(limits.maxBulkLength) bytes", at: i + 1)
            }
            let start = end + 2
            let payloadEnd = start + Int(length)
            guard payloadEnd + 2 <= bytes.count else {
                // Check what has arrived of the terminator, so garbage is reported early.
                if payloadEnd < bytes.count && bytes[payloadEnd] != cr {
                    throw fail("bulk payload not followed by CRLF", at: payloadEnd)
                }
                return nil
            }
            guard bytes[payloadEnd] == cr, bytes[payloadEnd + 1] == lf else {
                throw fail("bulk payload not followed by CRLF", at: payloadEnd)
            }
            if type == UInt8(ascii: "=") {
                guard length >= 4, bytes[start + 3] == UInt8(ascii: ":"),
                    bytes[start..<start + 3].allSatisfy({ $0 > 32 && $0 < 127 })
                else {
                    throw fail("verbatim string without a 3-letter format and ':'", at: start)
                }
            }
            return payloadEnd + 2
        case UInt8(ascii: "*"), UInt8(ascii: "%"), UInt8(ascii: "~"), UInt8(ascii: ">"), UInt8(ascii: "|"):
            guard let end = try lineEnd(from: i + 1) else { return nil }
            let count = try integer(from: i + 1, to: end, what: "element count")
            if type == UInt8(ascii: "*") && count == -1 { return end + 2 }
            guard count >= 0 else { throw fail("negative element count \(count)", at: i + 1) }
            guard count <= limits.maxAggregateCount else {
                throw fail("element count \(count) exceeds the limit of \(limits.maxAggregateCount)", at: i + 1)
            }
            guard depth <= limits.maxDepth else {
                throw fail("aggregates nested deeper than \(limits.maxDepth)", at: i)
            }
            let isPairs = type == UInt8(ascii: "%") || type == UInt8(ascii: "|")
            var elements = Int(count) * (isPairs ? 2 : 1)
            if type == UInt8(ascii: "|") { elements += 1 }  // the annotated value
            var next = end + 2
            while elements > 0 {
                guard let e = try scan(at: next, depth: depth + 1) else { return nil }
                next = e
                elements -= 1
            }
            return next
        case UInt8(ascii: "_"):
            guard let end = try lineEnd(from: i + 1) else { return nil }
            guard end == i + 1 else { throw fail("null with a payload", at: i + 1) }
            return end + 2
        case UInt8(ascii: "#"):
            guard let end = try lineEnd(from: i + 1) else { return nil }
            guard end == i + 2, bytes[i + 1] == UInt8(ascii: "t") || bytes[i + 1] == UInt8(ascii: "f") else {
                throw fail("boolean is neither t nor f", at: i + 1)
            }
            return end + 2
        case UInt8(ascii: ","):
            guard let end = try lineEnd(from: i + 1) else { return nil }
            guard parseDouble(bytes, from: i + 1, to: end) != nil else {
                throw fail("double is not a valid number", at: i + 1)
            }
            return end + 2
        case UInt8(ascii: "("):
            guard let end = try lineEnd(from: i + 1) else { return nil }
            var j = i + 1
            if j < end && bytes[j] == UInt8(ascii: "-") { j += 1 }
            guard j < end, bytes[j..<end].allSatisfy({ $0 >= 48 && $0 <= 57 }) else {
                throw fail("big number is not a valid integer", at: i + 1)
            }
            return end + 2
        default:
            let shown = type >= 32 && type < 127 ? "'\(Character(Unicode.Scalar(type)))'" : "0x" + String(type, radix: 16)
            throw fail("unknown type byte \(shown)", at: i)
        }
    }
}

/// Builds the value of a frame the scanner has validated.
private struct Builder {
    let bytes: UnsafeRawBufferPointer
    let buffer: ByteBuffer

    func lineEnd(from start: Int) -> Int {
        var i = start
        while bytes[i] != cr { i += 1 }
        return i
    }

    func text(_ start: Int, _ end: Int) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
    }

    func slice(_ start: Int, _ length: Int) -> ByteBuffer {
        buffer.getSlice(at: buffer.readerIndex + start, length: length)!
    }

    func build(at index: inout Int) -> RESPValue {
        let type = bytes[index]
        let start = index + 1
        let end = lineEnd(from: start)
        index = end + 2
        switch type {
        case UInt8(ascii: "+"): return .simpleString(text(start, end))
        case UInt8(ascii: "-"): return .error(text(start, end))
        case UInt8(ascii: ":"): return .integer(parseInteger(bytes, from: start, to: end)!)
        case UInt8(ascii: "$"), UInt8(ascii: "!"), UInt8(ascii: "="):
            let length = Int(parseInteger(bytes, from: start, to: end)!)
            if length < 0 { return .null }
            let payload = index
            index += length + 2
            switch type {
            case UInt8(ascii: "$"): return .bulkString(slice(payload, length))
            case UInt8(ascii: "!"): return .error(text(payload, payload + length))
            default:
                return .verbatimString(format: text(payload, payload + 3), text: slice(payload + 4, length - 4))
            }
        case UInt8(ascii: "*"), UInt8(ascii: "~"), UInt8(ascii: ">"):
            let count = Int(parseInteger(bytes, from: start, to: end)!)
            if count < 0 { return .null }
            var elements: [RESPValue] = []
            elements.reserveCapacity(count)
            for _ in 0..<count { elements.append(build(at: &index)) }
            switch type {
            case UInt8(ascii: "*"): return .array(elements)
            case UInt8(ascii: "~"): return .set(elements)
            default: return .push(elements)
            }
        case UInt8(ascii: "%"), UInt8(ascii: "|"):
            let count = Int(parseInteger(bytes, from: start, to: end)!)
            var pairs: [RESPPair] = []
            pairs.reserveCapacity(count)
            for _ in 0..<count {
                let key = build(at: &index)
                pairs.append(RESPPair(key, build(at: &index)))
            }
            if type == UInt8(ascii: "%") { return .map(pairs) }
            return .attributed(attributes: pairs, value: build(at: &index))
        case UInt8(ascii: "_"): return .null
        case UInt8(ascii: "#"): return .boolean(bytes[start] == UInt8(ascii: "t"))
        case UInt8(ascii: ","): return .double(parseDouble(bytes, from: start, to: end)!)
        default: return .bigNumber(text(start, end))  // "(" after validation
        }
    }
}

/// A decimal integer with an optional sign; nil when empty, not digits, or beyond Int64.
private func parseInteger(_ bytes: UnsafeRawBufferPointer, from start: Int, to end: Int) -> Int64? {
    var i = start
    var negative = false
    if i < end && (bytes[i] == UInt8(ascii: "-") || bytes[i] == UInt8(ascii: "+")) {
        negative = bytes[i] == UInt8(ascii: "-")
        i += 1
    }
    guard i < end else { return nil }
    var value: Int64 = 0
    while i < end {
        let d = bytes[i] &- 48
        guard d < 10 else { return nil }
        let (m, o1) = value.multipliedReportingOverflow(by: 10)
        let (s, o2) = negative ? m.subtractingReportingOverflow(Int64(d)) : m.addingReportingOverflow(Int64(d))
        guard !o1, !o2 else { return nil }
        value = s
        i += 1
    }
    return value
}

private func parseDouble(_ bytes: UnsafeRawBufferPointer, from start: Int, to end: Int) -> Double? {
    guard end > start, end - start <= 512 else { return nil }
    // Only the characters of a decimal or exponent form, or inf/nan spelled out.
    for b in bytes[start..<end] {
        switch b {
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."),
            UInt8(ascii: "e"), UInt8(ascii: "E"), UInt8(ascii: "i"), UInt8(ascii: "n"), UInt8(ascii: "f"),
            UInt8(ascii: "a"):
            continue
        default: return nil
        }
    }
    return Double(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self))
}
