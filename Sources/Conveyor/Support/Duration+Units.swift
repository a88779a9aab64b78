import Foundation

/// Durations as messages and stores show them.
extension Duration {
    /// `1.5s`, `250ms`, `90s`; whole minutes, hours and days as `5m`, `6h`, `7d` (as
    /// `DurationArgument` reads them): short, for messages and tables.
    public var formatted: String {
        let (seconds, attoseconds) = components
        let ms = Double(seconds) * 1000 + Double(attoseconds) / 1e15
        if ms >= 1000 {
            guard ms.truncatingRemainder(dividingBy: 1000) == 0 else { return String(format: "%.1fs", ms / 1000) }
            let whole = Int64(ms / 1000)
            for (unit, size) in [("d", Int64(86_400)), ("h", 3600), ("m", 60)] where whole % size == 0 { return "\(whole / size)\(unit)" }
            return "\(whole)s"
        }
        if ms >= 1 { return "\(Int(ms.rounded()))ms" }
        return String(format: "%.2fms", ms)
    }

    /// Seconds as a `Double`.
    public var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    /// Whole microseconds.
    public var microseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000 + attoseconds / 1_000_000_000_000
    }

    /// Whole nanoseconds.
    public var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
