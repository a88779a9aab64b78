import Foundation

/// The wall clock of one time zone, seen as a function from UTC instants to local times.
///
/// Instants and local times are whole seconds since 1970-01-01 (local times on the zone's
/// wall clock, as if it were UTC). This is where our DST rules live:
/// - a local time that does not exist (spring-forward gap) belongs to the first instant after
///   the gap;
/// - a local time that occurs twice (fall-back) belongs to its first occurrence.
/// Both follow from one definition: a local time L belongs to the first instant at which the
/// wall clock has *reached* L (``firstInstant(reaching:)``), and "reached" is measured by the
/// highest wall-clock time shown so far (``highWater(at:)``), which never goes back.
struct ZoneClock {
    let zone: TimeZone

    /// How far back to look for a transition that still affects the present. Real fall-backs
    /// repeat at most about a day of wall-clock time.
    static let lookback: Int64 = 4 * CivilCalendar.secondsPerDay

    /// The UTC offset in force at an instant.
    func offset(at instant: Int64) -> Int64 {
        Int64(zone.secondsFromGMT(for: Date(wholeSecondsSince1970: instant)))
    }

    /// The first offset change strictly after an instant, if the zone has one.
    func transition(after instant: Int64) -> Int64? {
        // Half a second past the instant, so a transition exactly at `instant` is not returned.
        let probe = Date(timeIntervalSince1970: TimeInterval(instant) + 0.5)
        return zone.nextDaylightSavingTimeTransition(after: probe)?.wholeSecondsSince1970
    }

    /// The latest wall-clock time shown at or before an instant. Equal to the local time
    /// except during the repeated hour after a fall-back, when it stays at the pre-transition
    /// wall clock.
    func highWater(at instant: Int64) -> Int64 {
        var high = instant + offset(at: instant)
        var cursor = instant - Self.lookback
        while let change = transition(after: cursor), change <= instant {
            high = max(high, change - 1 + offset(at: change - 1))
            cursor = change
        }
        return high
    }

    /// The first instant at which the wall clock has reached a local time: the instant showing
    /// it, its first occurrence if it occurs twice, or the end of the gap if it never shows.
    func firstInstant(reaching local: Int64) -> Int64 {
        var cursor = local - Self.lookback
        while true {
            let currentOffset = offset(at: cursor)
            guard let change = transition(after: cursor), change + currentOffset <= local else {
                return max(local - currentOffset, cursor)
            }
            cursor = change
        }
    }
}
