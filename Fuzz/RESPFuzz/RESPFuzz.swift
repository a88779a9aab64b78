// libFuzzer target for the RESP parser; built by scripts/fuzz-resp together with the parser's
// sources (RESPValue, RESPParser, RESPEncoding, RedisErrors), nothing else.
//
// Each input is parsed three ways: whole, split in two, and byte by byte. All three must agree
// (same values, same error at the same offset), and every value parsed must re-encode and
// re-parse to the same bytes. Any crash, hang or disagreement is a bug.
import NIOCore

let fuzzLimits = RESPParserLimits(maxDepth: 16, maxBulkLength: 1 << 16, maxAggregateCount: 1 << 12, maxLineLength: 1024)

func parseAll(_ chunks: [ArraySlice<UInt8>], limits: RESPParserLimits = fuzzLimits) -> (encoded: [[UInt8]], error: RedisClientError?) {
    var parser = RESPParser(limits: limits)
    var buffer = ByteBuffer()
    var encoded: [[UInt8]] = []
    for chunk in chunks {
        buffer.writeBytes(chunk)
        while true {
            do {
                guard let value = try parser.next(from: &buffer) else { break }
                var out = ByteBuffer()
                out.writeRESPValue(value)
                encoded.append(Array(out.readableBytesView))
            } catch {
                return (encoded, error)
            }
        }
    }
    return (encoded, nil)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func respFuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let whole = parseAll([bytes[...]])
    let halves = parseAll([bytes[..<(size / 2)], bytes[(size / 2)...]])
    let single = parseAll(bytes.indices.map { bytes[$0...$0] })
    for other in [halves, single] {
        precondition(other.encoded == whole.encoded, "values differ between whole and split parsing")
        precondition(other.error?.offset == whole.error?.offset, "errors differ: \(String(describing: whole.error)) vs \(String(describing: other.error))")
    }
    // Re-encoding is canonical: parsing the encoding gives the same encoding back. (Lines may
    // grow: invalid UTF-8 in a simple string becomes U+FFFD, 3 bytes per bad byte.)
    for encoding in whole.encoded {
        let again = parseAll([encoding[...]], limits: RESPParserLimits())
        precondition(again.error == nil && again.encoded == [encoding], "re-encoded value does not round-trip")
    }
    return 0
}

#if RESP_STRESS
/// Without libFuzzer: a bounded random-input stress run over the same checks.
@main
struct RESPStress {
    static func main() {
        let seconds = Double(CommandLine.arguments.dropFirst().first ?? "30") ?? 30
        var state: UInt64 = 0x5EED
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        let alphabet = Array("+-:$*_#,(!=%~>|\r\n0123456789-?abctfinx".utf8)
        let clock = ContinuousClock()
        let end = clock.now + .milliseconds(Int(seconds * 1000))
        var runs = 0
        while clock.now < end {
            let length = Int(next() % 200)
            var input = (0..<length).map { _ in next() % 3 == 0 ? UInt8(truncatingIfNeeded: next()) : alphabet[Int(next() % UInt64(alphabet.count))] }
            if input.isEmpty { input = [0] }
            _ = input.withUnsafeBufferPointer { respFuzzOneInput($0.baseAddress!, $0.count) }
            runs += 1
        }
        print("RESP stress: \(runs) random inputs in \(seconds) s, no crash, hang or disagreement")
    }
}
#endif
