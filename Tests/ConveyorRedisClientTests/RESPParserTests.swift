import ConveyorTesting
import NIOCore
import Testing

@testable import ConveyorRedisClient

enum RandomRESP {
    static let safeCharacters = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _-:+,.()!é✓")

    static func text(_ rng: inout SeededGenerator, max: Int = 20) -> String {
        String((0..<Int.random(in: 0...max, using: &rng)).map { _ in safeCharacters.randomElement(using: &rng)! })
    }

    static func bytes(_ rng: inout SeededGenerator, max: Int = 40) -> ByteBuffer {
        var buffer = ByteBuffer()
        for _ in 0..<Int.random(in: 0...max, using: &rng) {
            // Mostly printable, with CR, LF and NUL mixed in: payloads are binary-safe.
            let special: [UInt8] = [13, 10, 0, 255, 36, 42]
            buffer.writeInteger(
                Bool.random(using: &rng) ? special.randomElement(using: &rng)! : UInt8.random(in: 32...126, using: &rng)
            )
        }
        return buffer
    }

    static func value(_ rng: inout SeededGenerator, depth: Int = 0) -> RESPValue {
        let aggregates = depth < 4
        switch Int.random(in: 0..<(aggregates ? 15 : 10), using: &rng) {
        case 0: return .simpleString(text(&rng))
        case 1:
            let message = text(&rng)
            return .error(Bool.random(using: &rng) ? message : message + "\r\nsecond line")
        case 2:
            return .integer([Int64.min, Int64.max, 0, -1, Int64.random(in: Int64.min...Int64.max, using: &rng)].randomElement(using: &rng)!)
        case 3: return .bulkString(bytes(&rng))
        case 4: return .null
        case 5: return .boolean(Bool.random(using: &rng))
        case 6:
            let special: [Double] = [.infinity, -.infinity, 0, -1.5, 1e300, .leastNonzeroMagnitude, .pi]
            return .double(Bool.random(using: &rng) ? special.randomElement(using: &rng)! : Double.random(in: -1e9...1e9, using: &rng))
        case 7:
            let digits = String((0..<Int.random(in: 1...60, using: &rng)).map { _ in "0123456789".randomElement(using: &rng)! })
            return .bigNumber(Bool.random(using: &rng) ? "-" + digits : digits)
        case 8: return .verbatimString(format: ["txt", "mkd"].randomElement(using: &rng)!, text: bytes(&rng))
        case 9: return .bulkString(ByteBuffer())
        case 10: return .array(elements(&rng, depth: depth))
        case 11: return .set(elements(&rng, depth: depth))
        case 12: return .push(elements(&rng, depth: depth))
        case 13: return .map(pairs(&rng, depth: depth))
        default: return .attributed(attributes: pairs(&rng, depth: depth), value: value(&rng, depth: depth + 1))
        }
    }

    static func elements(_ rng: inout SeededGenerator, depth: Int) -> [RESPValue] {
        (0..<Int.random(in: 0...5, using: &rng)).map { _ in value(&rng, depth: depth + 1) }
    }

    static func pairs(_ rng: inout SeededGenerator, depth: Int) -> [RESPPair] {
        (0..<Int.random(in: 0...3, using: &rng)).map { _ in
            RESPPair(value(&rng, depth: depth + 1), value(&rng, depth: depth + 1))
        }
    }

    static func encode(_ value: RESPValue) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.writeRESPValue(value)
        return buffer
    }
}

/// Feeds `chunks` one at a time, collecting every value; stops at the first error.
func parseChunks(_ chunks: [ByteBuffer], limits: RESPParserLimits = RESPParserLimits()) -> (values: [RESPValue], error: RedisClientError?, nilsBeforeLast: Bool) {
    var parser = RESPParser(limits: limits)
    var buffer = ByteBuffer()
    var values: [RESPValue] = []
    for var chunk in chunks {
        buffer.writeBuffer(&chunk)
        var steps = 0
        while steps < 10_000 {  // bounded: a value consumes bytes, so this ends long before
            steps += 1
            do {
                guard let value = try parser.next(from: &buffer) else { break }
                values.append(value)
            } catch {
                return (values, error, false)
            }
        }
    }
    return (values, nil, buffer.readableBytes == 0)
}

@Suite("RESP parser")
struct RESPParserTests {
    @Test("random values of every type round-trip: whole, byte by byte, and in random splits")
    func roundTrip() throws {
        var rng = SeededGenerator(seed: 0xC0FFEE)
        for _ in 0..<400 {
            let value = RandomRESP.value(&rng)
            let encoded = RandomRESP.encode(value)
            let bytes = Array(encoded.readableBytesView)

            var whole = encoded
            var parser = RESPParser()
            #expect(try parser.next(from: &whole) == value)
            #expect(whole.readableBytes == 0)
            #expect(parser.consumedBytes == bytes.count)

            // Byte by byte: nothing until the last byte, then exactly the value.
            var incremental = RESPParser()
            var buffer = ByteBuffer()
            for (i, byte) in bytes.enumerated() {
                buffer.writeInteger(byte)
                let result = try incremental.next(from: &buffer)
                if i < bytes.count - 1 {
                    #expect(result == nil, "a value appeared after \(i + 1) of \(bytes.count) bytes")
                } else {
                    #expect(result == value)
                }
            }

            // Random splits, several values back to back.
            let second = RandomRESP.value(&rng)
            let all = bytes + Array(RandomRESP.encode(second).readableBytesView)
            var chunks: [ByteBuffer] = []
            var start = 0
            while start < all.count {
                let end = min(all.count, start + Int.random(in: 1...7, using: &rng))
                chunks.append(ByteBuffer(bytes: all[start..<end]))
                start = end
            }
            let parsed = parseChunks(chunks)
            #expect(parsed.error == nil)
            #expect(parsed.values == [value, second])
        }
    }

    @Test("every strict prefix of a valid frame needs more data")
    func prefixes() throws {
        var rng = SeededGenerator(seed: 42)
        for _ in 0..<150 {
            let bytes = Array(RandomRESP.encode(RandomRESP.value(&rng)).readableBytesView)
            for length in 0..<bytes.count {
                var prefix = ByteBuffer(bytes: bytes[0..<length])
                var parser = RESPParser()
                #expect(try parser.next(from: &prefix) == nil)
                #expect(prefix.readableBytes == length, "a prefix consumed bytes")
            }
        }
    }

    @Test("NaN and RESP2 nulls")
    func specialValues() throws {
        var parser = RESPParser()
        var buffer = ByteBuffer(string: ",nan\r\n$-1\r\n*-1\r\n_\r\n,inf\r\n(-123\r\n=8\r\ntxt:héj\r\n")
        guard case .double(let d) = try parser.next(from: &buffer) else { Issue.record("not a double"); return }
        #expect(d.isNaN)
        #expect(try parser.next(from: &buffer) == .null)
        #expect(try parser.next(from: &buffer) == .null)
        #expect(try parser.next(from: &buffer) == .null)
        #expect(try parser.next(from: &buffer) == .double(.infinity))
        #expect(try parser.next(from: &buffer) == .bigNumber("-123"))
        #expect(try parser.next(from: &buffer)?.string == "héj")
    }

    @Test("commands encode as arrays of bulk strings")
    func commandEncoding() {
        var buffer = ByteBuffer()
        buffer.writeRESPCommand(["SET", .string("k€y"), .int(-42), RESPArgument([0, 13, 10]), .int(7), .int(Int.min)])
        let expected = "*6\r\n$3\r\nSET\r\n$5\r\nk€y\r\n$3\r\n-42\r\n$3\r\n\0\r\n\r\n$1\r\n7\r\n$20\r\n-9223372036854775808\r\n"
        #expect(String(buffer: buffer) == expected)
        // A command also parses back as what it is: an array of bulk strings.
        var parser = RESPParser()
        let parsed = try? parser.next(from: &buffer)
        #expect(parsed?.array?.count == 6)
        #expect(parsed?.array?[2] == .bulkString(ByteBuffer(string: "-42")))
    }
}
