import Foundation

/// The arithmetic of limits, in whole microseconds of the store's clock: the one definition the
/// memory and SQLite stores run (Redis's `limits.lua` runs the same steps inside its scripts).
///
/// A key's cell holds its theoretical arrival time (`tat`: the generic cell rate algorithm,
/// where the next start is due), its active jobs and until when the upstream asked it to wait.
public struct LimiterCell: Sendable, Hashable {
    public var tat: Int64
    public var active: Int
    public var blockedUntil: Int64
    /// The key's circuit (``CircuitBreaker``): its phase, until when it is open, the probe's job
    /// id while half-open, and the wave under way while its waiting jobs go.
    public var circuit: CircuitPhase
    public var openUntil: Int64
    public var probe: Int64
    public var waveAt: Int64
    public var waveUsed: Int
    /// A sliding window's starts within the window now, and when the oldest of them leaves it
    /// (µs): the store fills them in from the start times it keeps.
    public var windowCount: Int
    public var windowFrees: Int64

    public init(tat: Int64 = 0, active: Int = 0, blockedUntil: Int64 = 0, circuit: CircuitPhase = .closed, openUntil: Int64 = 0,
                probe: Int64 = 0, waveAt: Int64 = 0, waveUsed: Int = 0, windowCount: Int = 0, windowFrees: Int64 = 0) {
        self.tat = tat
        self.active = active
        self.blockedUntil = blockedUntil
        self.circuit = circuit
        self.openUntil = openUntil
        self.probe = probe
        self.waveAt = waveAt
        self.waveUsed = waveUsed
        self.windowCount = windowCount
        self.windowFrees = windowFrees
    }

    /// Holds nothing worth keeping: no active job, no start owed, no wait asked, a closed circuit.
    public func isIdle(now: Int64) -> Bool { active <= 0 && tat <= now && blockedUntil <= now && circuit == .closed }
}

/// Whether a start is admitted now.
public enum Admission: Sendable, Hashable {
    case admit
    /// Not now: admitted again at that instant (µs), or, with `nil`, once an active job of the
    /// key ends (a concurrency slot frees).
    case wait(until: Int64?)
}

extension LimitSettings {
    /// How long a key whose held jobs wait for a slot (or whose jobs let go may have been
    /// cancelled) goes before a claim looks at it again: every key with held jobs has a wake-up
    /// at most this far away, so none is ever stranded.
    public static let recheckMicroseconds: Int64 = 1_000_000

    /// Whether a start is admitted now. (No rule is `LimitSettings()`: only the upstream's wait
    /// holds a key back.)
    public func admission(_ cell: LimiterCell, now: Int64) -> Admission {
        let (count, next) = admissible(cell, now: now, atMost: 1)
        return count > 0 ? .admit : .wait(until: next)
    }

    /// The cell after job `id`'s admitted start (the caller counts the active job), and the
    /// circuit's change to record (a probe).
    public func started(_ cell: LimiterCell, now: Int64, job id: Int64) -> (cell: LimiterCell, change: CircuitChange?) {
        var cell = cell
        if let rate, rate.sliding {
            // The store records the start; the cell lives until it leaves the window.
            if cell.windowCount == 0 { cell.windowFrees = now + rate.period.microseconds }
            cell.windowCount += 1
            cell.tat = Swift.max(cell.tat, now + rate.period.microseconds)
        } else if let rate {
            cell.tat = Swift.max(cell.tat, now) + rate.intervalMicroseconds
        }
        let change = circuitStarted(&cell, now: now, job: id)
        return (cell, change)
    }

    /// How many starts the key admits now, at most `cap`, and when the one after them would be:
    /// the upstream's wait while it lasts; the rate's next start when the rate is what stops
    /// it; `nil` when a slot must free first, or when only `cap` stopped it.
    /// An open circuit admits nothing; a half-open one its probe; one letting its waiting jobs
    /// go, what is left of the wave.
    public func admissible(_ cell: LimiterCell, now: Int64, atMost cap: Int) -> (count: Int, nextAfter: Int64?) {
        if cell.blockedUntil > now { return (0, cell.blockedUntil) }
        guard let gate = circuitGate(cell, now: now), gate.cap < cap else { return limitsAdmit(cell, now: now, atMost: cap) }
        if gate.cap == 0 { return (0, gate.next) }
        let (count, next) = limitsAdmit(cell, now: now, atMost: gate.cap)
        guard count == gate.cap else { return (count, next) }
        // The circuit is what stops it (or both are).
        return (count, gate.next.map { wave in Swift.max(wave, next ?? wave) })
    }

    private func limitsAdmit(_ cell: LimiterCell, now: Int64, atMost cap: Int) -> (count: Int, nextAfter: Int64?) {
        let slots = concurrency.map { Swift.max(0, $0.maximum - cell.active) } ?? Int.max
        guard let rate else { return (Swift.min(cap, slots), nil) }
        if rate.sliding {
            let byRate = Swift.max(0, rate.count - cell.windowCount)
            let count = Swift.min(cap, slots, byRate)
            // Full: the next start is when the oldest start leaves the window.
            let frees = cell.windowCount > 0 ? cell.windowFrees : now + rate.period.microseconds
            return (count, count == byRate ? frees : nil)
        }
        let interval = rate.intervalMicroseconds
        let tolerance = Int64(rate.burst - 1) * interval
        let start = Swift.max(cell.tat, now)
        let allowance = now + tolerance - start
        let byRate = allowance < 0 ? 0 : Int(Swift.min(Int64(Int32.max), allowance / interval + 1))
        let count = Swift.min(cap, slots, byRate)
        // Only when the rate stops it is its next start later than now.
        return (count, count == byRate ? start + Int64(count) * interval - tolerance : nil)
    }

    /// When a key that still holds jobs after letting `count` of `cap` go looks again: at once
    /// when only `cap` stopped it, else at `next`, else (a slot) within ``recheckMicroseconds``.
    public static func recheck(after count: Int, of cap: Int, next: Int64?, now: Int64) -> Int64 {
        if count == cap { return now }
        return next ?? now + recheckMicroseconds
    }
}

/// Microseconds of a store's clock, the unit flow control computes in.
extension Date {
    init(storeMicroseconds micros: Int64) { self.init(timeIntervalSince1970: Double(micros) / 1_000_000) }
    var storeMicroseconds: Int64 { Int64((timeIntervalSince1970 * 1_000_000).rounded()) }
}
