import ConveyorTesting
import NIOCore
import Testing

@testable import ConveyorRedisClient

@Suite("RESP parser against hostile input")
struct RESPHostileInputTests {
    func error(for input: String, limits: RESPParserLimits = RESPParserLimits()) -> RedisClientError? {
        parseChunks([ByteBuffer(string: input)], limits: limits).error
    }

    @Test("random bytes give values, an error or need-more-data, and always stop")
    func randomBytes() {
        var rng = SeededGenerator(seed: 7)
        let alphabet = Array("+-:$*_#,(!=%~>|\r\n0123456789-?abctf".utf8)
        for round in 0..<20_000 {
            let length = Int.random(in: 0...48, using: &rng)
            let bytes = (0..<length).map { _ in
                round % 2 == 0 ? UInt8.random(in: 0...255, using: &rng) : alphabet.randomElement(using: &rng)!
            }
            let result = parseChunks([ByteBuffer(bytes: bytes)])
            if let error = result.error {
                #expect(error.kind == .protocolError)
                #expect(error.offset != nil && error.offset! >= 0 && error.offset! <= bytes.count)
            }
        }
    }

    @Test("mutated valid frames never crash")
    func mutatedFrames() {
        var rng = SeededGenerator(seed: 99)
        for _ in 0..<3_000 {
            var bytes = Array(RandomRESP.encode(RandomRESP.value(&rng)).readableBytesView)
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                let i = Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: bytes[i] = UInt8.random(in: 0...255, using: &rng)
                case 1: bytes.remove(at: i)
                default: bytes.insert(Array("\r\n-9*$".utf8).randomElement(using: &rng)!, at: i)
                }
                if bytes.isEmpty { break }
            }
            let result = parseChunks([ByteBuffer(bytes: bytes)])
            if let error = result.error { #expect(error.kind == .protocolError) }
        }
    }

    @Test("truncated frames need more data")
    func truncated() {
        for input in ["$10\r\nabc", "*3\r\n:1\r\n", "%2\r\n+a\r\n", "+OK", "+OK\r", "$-", ":12", "|1\r\n+a\r\n+b\r\n"] {
            let result = parseChunks([ByteBuffer(string: input)])
            #expect(result.error == nil && result.values.isEmpty, "\(input.debugDescription)")
        }
    }

    @Test("bad type bytes, lengths and terminators are errors naming the byte offset")
    func malformed() throws {
        let cases: [(String, String, Int)] = [
            ("@hello\r\n", "unknown type byte '@'", 0),
            ("+OK\r\n\u{01}", "unknown type byte 0x1", 5),
            ("$-5\r\n", "negative length", 1),
            ("*-2\r\n", "negative element count", 1),
            ("$abc\r\n", "not a valid integer", 1),
            (":99999999999999999999\r\n", "not a valid integer", 1),
            (":\r\n", "not a valid integer", 1),
            ("$3\r\nabcXY", "not followed by CRLF", 7),
            ("+OK\rX", "CR not followed by LF", 4),
            ("+O\nK\r\n", "LF without CR", 2),
            ("#x\r\n", "boolean", 1),
            (",1.5.5x\r\n", "double", 1),
            ("(12a\r\n", "big number", 1),
            ("=2\r\nab\r\n", "verbatim", 4),
            ("=8\r\n\u{F4}xt:abc\r\n", "verbatim", 4),
            ("_x\r\n", "null with a payload", 1),
            ("+OK\r\n+OK\r\n$2\r\nxyz\r\n", "not followed by CRLF", 16),
        ]
        for (input, message, offset) in cases {
            let error = try #require(self.error(for: input), "no error for \(input.debugDescription)")
            #expect(error.kind == .protocolError)
            #expect(error.message.contains(message), "\(input.debugDescription): \(error)")
            #expect(error.offset == offset, "\(input.debugDescription): \(error)")
            #expect(error.description.contains("offset \(offset)"))
        }
    }

    @Test("lengths beyond the limits are errors before any allocation")
    func sizeLimits() throws {
        let big = try #require(error(for: "$1073741824\r\n"))
        #expect(big.message.contains("exceeds the limit"))
        let huge = try #require(error(for: "*9223372036854775807\r\n"))
        #expect(huge.message.contains("exceeds the limit"))
        let small = RESPParserLimits(maxBulkLength: 4, maxAggregateCount: 2, maxLineLength: 8)
        #expect(error(for: "$5\r\nhello\r\n", limits: small) != nil)
        #expect(error(for: "$4\r\nhell\r\n", limits: small) == nil)
        #expect(error(for: "*3\r\n", limits: small) != nil)
        #expect(error(for: "%3\r\n", limits: small) != nil)
        let long = try #require(error(for: "+" + String(repeating: "a", count: 20), limits: small))
        #expect(long.message.contains("line longer than 8"))
        // A line that never ends is cut off at the limit instead of buffered for ever.
        let endless = try #require(error(for: "+" + String(repeating: "a", count: 70_000)))
        #expect(endless.message.contains("line longer"))
    }

    @Test("nesting beyond the depth limit is an error, even before the frame is complete")
    func depthLimit() throws {
        let atLimit = String(repeating: "*1\r\n", count: 64) + ":1\r\n"
        #expect(parseChunks([ByteBuffer(string: atLimit)]).values.count == 1)
        let tooDeep = String(repeating: "*1\r\n", count: 65) + ":1\r\n"
        let error = try #require(self.error(for: tooDeep))
        #expect(error.message.contains("nested deeper than 64"))
        #expect(error.offset == 64 * 4)
        let hostile = String(repeating: "*1\r\n", count: 100_000)  // no end
        #expect(self.error(for: hostile) != nil)
        let maps = String(repeating: "%1\r\n+k\r\n", count: 100)
        #expect(self.error(for: maps) != nil)
    }
}
