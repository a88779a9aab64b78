import Conveyor
@testable import ConveyorRedis
import Foundation
import NIOCore
import Testing

/// The job records the scripts keep: what Swift writes, Swift (and Lua's cmsgpack) reads back;
/// a damaged record is a clear error, never a crash.
@Suite("Packed job records")
struct PackedRecordTests {
    @Test(arguments: [0, 1, 31, 32, 255, 256, 65_535, 65_536, 100_000])
    func stringsAndNumbersRoundTrip(length: Int) throws {
        let text = String(repeating: "é", count: length / 2) + String(repeating: "x", count: length % 2)
        let bytes = Data((0..<length).map { UInt8(truncatingIfNeeded: $0) })
        var writer = PackedWriter()
        writer.string(text)
        writer.bytes(bytes)
        for number in [0, 1, 127, 128, -1, -32, -33, 1_700_000_000_000_000, Int.min, Int.max] { writer.int(number) }
        var reader = PackedReader(ByteBuffer(bytes: writer.bytes))
        #expect(try reader.string() == text)
        #expect(try reader.data() == bytes)
        for number in [0, 1, 127, 128, -1, -32, -33, 1_700_000_000_000_000, Int.min, Int.max] { #expect(try reader.int() == number) }
        #expect(throws: ConveyorError.self) { try reader.next() }
    }

    /// What Lua's cmsgpack writes for numbers it got from strings or arithmetic.
    @Test func readsCmsgpackIntegerForms() throws {
        let forms: [([UInt8], Int)] = [
            ([0xcc, 200], 200), ([0xcd, 0x01, 0x00], 256), ([0xce, 0, 1, 0, 0], 65_536),
            ([0xcf, 0, 0, 0, 1, 0, 0, 0, 0], 1 << 32), ([0xd0, 0x80], -128), ([0xd1, 0xff, 0x00], -256),
            ([0xd2, 0xff, 0xff, 0xff, 0xff], -1), ([0xcb, 0x40, 0x59, 0, 0, 0, 0, 0, 0], 100),
        ]
        for (bytes, value) in forms {
            var reader = PackedReader(ByteBuffer(bytes: bytes))
            #expect(try reader.int() == value)
        }
    }

    @Test(arguments: [
        ([0xa5, 0x61], "a string runs past its end"),
        ([0xd9], "it ends early"),
        ([0xc0], "unexpected MessagePack tag 0xc0"),
        ([0x81, 0xa1, 0x61, 0x01], "unexpected MessagePack tag 0x81"),
        ([0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0], "fraction 1.5"),
    ] as [([UInt8], String)])
    func damagedRecordsAreClearErrors(bytes: [UInt8], message: String) {
        var reader = PackedReader(ByteBuffer(bytes: bytes))
        do {
            _ = try reader.next()
            Issue.record("no error for \(bytes)")
        } catch {
            #expect("\(error)".contains("job record in Redis is malformed"))
            #expect("\(error)".contains(message), "\(error)")
        }
    }
}
