import Foundation
import Synchronization

/// Where a store reads the time. Every instant a store records or compares (lease expiry, due
/// times, retry times, retention cut-offs, a worker's last heartbeat) comes from the store's
/// own clock, never from an instant its caller read: callers pass durations.
///
/// Redis reads Redis's own `TIME` inside its scripts; SQLite and the memory store read the
/// clock they were given, inside their write transaction.
public protocol StoreClock: Sendable {
    func now() -> Date
}

/// The machine's wall clock.
public struct SystemClock: StoreClock {
    public init() {}
    public func now() -> Date { Date() }
}

/// A clock that tests move by hand: the wall clock shifted by an offset that only
/// ``advance(by:)`` changes. Stores that keep their own time (Redis) apply the same offset to
/// it, so one conformance suite drives every store through its own clock.
public final class ManualStoreClock: StoreClock {
    private let shift: Mutex<Duration>

    public init(offset: Duration = .zero) {
        shift = Mutex(offset)
    }

    /// How far this clock runs ahead of the one it shifts.
    public var offset: Duration { shift.withLock { $0 } }

    public func now() -> Date { Date().addingTimeInterval(offset.seconds) }

    /// Moves the clock forward (or back, with a negative duration).
    public func advance(by duration: Duration) {
        shift.withLock { $0 += duration }
    }
}
