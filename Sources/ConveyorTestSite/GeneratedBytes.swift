/// Bytes of any size made on the fly from a seed: the byte at offset `i` is always the same
/// for the same seed, so the site can serve ranges and a test can compute the expected digest
/// by generating the same bytes, in chunks, without holding the file in memory.
///
/// ```swift
/// let bytes = GeneratedBytes(size: 2 << 30, seed: 7)
/// var hasher = SHA256()
/// bytes.forEachChunk { hasher.update(bufferPointer: $0) }
/// ```
public struct GeneratedBytes: Sendable {
    /// A prime period, so the pattern never lines up with power-of-two chunk sizes.
    public static let period = 1_048_573

    public let size: Int64
    public let seed: UInt64
    private let pattern: [UInt8]

    public init(size: Int64, seed: UInt64 = 1) {
        precondition(size >= 0, "a generated body's size cannot be negative (\(size))")
        self.size = size
        self.seed = seed
        // splitmix64: cheap, and good enough that the bytes do not compress or repeat early.
        var state = seed &+ 0x9E37_79B9_7F4A_7C15
        var pattern = [UInt8](repeating: 0, count: Self.period)
        pattern.withUnsafeMutableBytes { raw in
            var index = 0
            while index < Self.period {
                state = state &+ 0x9E37_79B9_7F4A_7C15
                var z = state
                z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                z ^= z >> 31
                var word = z
                for _ in 0..<8 where index < Self.period {
                    raw[index] = UInt8(truncatingIfNeeded: word)
                    word >>= 8
                    index += 1
                }
            }
        }
        self.pattern = pattern
    }

    /// Calls `body` with the bytes of `range` (clamped to the size) in pieces of at most
    /// `chunkSize` bytes; the pointer is valid only during the call.
    public func forEachChunk(
        in range: Range<Int64>? = nil, chunkSize: Int = 1 << 20,
        _ body: (UnsafeRawBufferPointer) throws -> Void
    ) rethrows {
        let range = (range ?? 0..<size).clamped(to: 0..<size)
        var scratch = [UInt8](repeating: 0, count: max(1, chunkSize))
        var offset = range.lowerBound
        while offset < range.upperBound {
            let count = Int(min(Int64(chunkSize), range.upperBound - offset))
            try scratch.withUnsafeMutableBytes { buffer in
                copy(from: offset, count: count, into: buffer.baseAddress!)
                try body(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            }
            offset += Int64(count)
        }
    }

    /// The bytes of `range`, for small ranges in tests.
    public func bytes(in range: Range<Int64>) -> [UInt8] {
        var result: [UInt8] = []
        forEachChunk(in: range) { result.append(contentsOf: $0) }
        return result
    }

    /// Copies `count` bytes starting at `offset` into `destination`.
    public func copy(from offset: Int64, count: Int, into destination: UnsafeMutableRawPointer) {
        pattern.withUnsafeBytes { source in
            var written = 0
            var position = Int(offset % Int64(Self.period))
            while written < count {
                let run = min(count - written, Self.period - position)
                (destination + written).copyMemory(from: source.baseAddress! + position, byteCount: run)
                written += run
                position = 0
            }
        }
    }
}
