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

    public init(tat: Int64 = 0, active: Int = 0, blockedUntil: Int64 = 0) {
        self.tat = tat
        self.active = active
        self.blockedUntil = blockedUntil
    }

    /// Holds nothing worth keeping: no active job, no start owed, no wait asked.
    public func isIdle(now: Int64) -> Bool { active <= 0 && tat <= now && blockedUntil <= now }
}

/// Whether a start is admitted now.
public enum Admission: Sendable, Hashable {
    case admit
    /// Not now: admitted again at that instant (µs), or, with `nil`, once an active job of the
    /// key ends (a concurrency slot frees).
    case wait(until: Int64?)
}

extension LimitSettings {
    public func admission(_ cell: LimiterCell, now: Int64) -> Admission {
        if cell.blockedUntil > now { return .wait(until: cell.blockedUntil) }
        if let concurrency, cell.active >= concurrency.maximum { return .wait(until: nil) }
        if let rate {
            let interval = rate.intervalMicroseconds
            let tolerance = Int64(rate.burst - 1) * interval
            let start = Swift.max(cell.tat, now)
            if start - now > tolerance { return .wait(until: start - tolerance) }
        }
        return .admit
    }

    /// The cell after an admitted start (the caller counts the active job).
    public func started(_ cell: LimiterCell, now: Int64) -> LimiterCell {
        var cell = cell
        if let rate { cell.tat = Swift.max(cell.tat, now) + rate.intervalMicroseconds }
        return cell
    }

    /// How many starts the key admits now, and, for a rate, when the one after them would be
    /// admitted (what a store waits for before letting more of its set-aside jobs go).
    public func admissible(_ cell: LimiterCell, now: Int64, atMost cap: Int) -> (count: Int, nextAfter: Int64?) {
        if cell.blockedUntil > now { return (0, cell.blockedUntil) }
        var count = cap
        var next: Int64?
        if let concurrency { count = Swift.min(count, Swift.max(0, concurrency.maximum - cell.active)) }
        if let rate {
            let interval = rate.intervalMicroseconds
            let tolerance = Int64(rate.burst - 1) * interval
            let start = Swift.max(cell.tat, now)
            let allowance = now + tolerance - start
            let byRate = allowance < 0 ? 0 : Int(Swift.min(Int64(cap), allowance / interval + 1))
            count = Swift.min(count, byRate)
            next = start + Int64(count) * interval - tolerance
        }
        return (count, next)
    }
}

extension Optional where Wrapped == LimitSettings {
    /// No rule: only a wait the upstream asked for holds a key back.
    public func admission(_ cell: LimiterCell, now: Int64) -> Admission {
        if let self { return self.admission(cell, now: now) }
        return cell.blockedUntil > now ? .wait(until: cell.blockedUntil) : .admit
    }
}
