import Foundation

extension Recurrence {
    /// A fixed offset in `0..<maximum` for a schedule, the same on every host and every run.
    ///
    /// A thousand schedules that share a minute spread out over `maximum`, yet each fires at the
    /// same offset every time, so slots stay predictable and deduplicable. The offset comes from
    /// FNV-1a over the name's UTF-8 bytes (not Swift's per-process randomized `Hasher`), with a
    /// final mix so that names differing in one character land far apart. Resolution is one
    /// millisecond; a `maximum` of one millisecond or less gives zero.
    ///
    /// ```swift
    /// let delay = Recurrence.jitter(for: "nightly-report", maximum: .seconds(30)) // e.g. 17.204 s, always
    /// ```
    public static func jitter(for scheduleName: String, maximum: Duration) -> Duration {
        let (seconds, attoseconds) = maximum.components
        guard seconds >= 0, seconds < Int64.max / 1000 else { return .zero }
        let milliseconds = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        guard milliseconds > 1 else { return .zero }
        let hash = StableHash.mix(StableHash.fnv1a64(scheduleName))
        return .milliseconds(Int64(hash % UInt64(milliseconds)))
    }
}

/// Hashes that are the same in every process and on every platform.
enum StableHash {
    /// 64-bit FNV-1a of the UTF-8 bytes.
    static func fnv1a64(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }

    /// The SplitMix64 finalizer: spreads FNV's similar outputs for similar names.
    static func mix(_ value: UInt64) -> UInt64 {
        var hash = value
        hash ^= hash >> 30
        hash = hash &* 0xbf58_476d_1ce4_e5b9
        hash ^= hash >> 27
        hash = hash &* 0x94d0_49bb_1331_11eb
        hash ^= hash >> 31
        return hash
    }
}
