import Foundation

/// When a stored schedule's slots fall: a fixed interval, a cron expression or a calendar
/// phrase in an IANA time zone, or only on demand.
///
/// ```swift
/// let report = try Recurrence.cron("0 6 * * MON-FRI", timeZone: "Europe/Berlin")
/// let backup = try Recurrence.interval(every: .seconds(6 * 3600), anchor: midnightUTC)
/// let payroll = try Recurrence.calendar("monthly on the last day at 18:00", timeZone: "America/New_York")
/// report.nextSlot(after: .now)
/// ```
/// Slots are whole seconds. Wall-clock schedules follow our DST rules: a slot whose local time
/// does not exist fires once at the first instant after the gap; a slot whose local time occurs
/// twice fires at its first occurrence only.
public struct Recurrence: Sendable, Hashable, CustomStringConvertible {
    /// The rule a recurrence follows.
    public enum Rule: Sendable, Hashable {
        /// Slots at `anchor + k·every` for k = 0, 1, 2, …: elapsed time, unaffected by DST.
        case interval(every: Duration, anchor: Date)
        /// Slots where the expression matches the wall clock of the zone.
        case cron(CronExpression, TimeZone)
        /// A calendar phrase, compiled to cron but shown as written.
        case calendar(CalendarFrequency, TimeZone)
        /// No slots: runs only when triggered.
        case manual
    }

    /// The rule this recurrence follows.
    public let rule: Rule

    private init(rule: Rule) {
        self.rule = rule
    }

    // MARK: - Making recurrences

    /// Slots every `every` from `anchor` (rounded down to a whole second), the first at `anchor`.
    ///
    /// - Throws: ``ScheduleError/invalidInterval(_:)`` unless `every` is a whole number of
    ///   seconds, at least one.
    public static func interval(every: Duration, anchor: Date) throws(ScheduleError) -> Recurrence {
        let (seconds, attoseconds) = every.components
        let total = Double(seconds) + Double(attoseconds) / 1e18
        guard seconds > 0 || (seconds == 0 && attoseconds > 0) else {
            throw .invalidInterval(IntervalIssue(seconds: total, reason: "it must be positive"))
        }
        guard seconds >= 1 else {
            throw .invalidInterval(IntervalIssue(seconds: total, reason: "it must be at least 1 second"))
        }
        guard attoseconds == 0 else {
            throw .invalidInterval(
                IntervalIssue(seconds: total, reason: "slots are whole seconds, so it must be a whole number of seconds"))
        }
        guard let anchorSeconds = anchor.wholeSecondsSince1970 else {
            throw .invalidInterval(IntervalIssue(seconds: total, reason: "its anchor \(anchor) is out of range"))
        }
        return Recurrence(rule: .interval(every: every, anchor: Date(wholeSecondsSince1970: anchorSeconds)))
    }

    /// Slots every `seconds` from `anchor`; like ``interval(every:anchor:)`` but also rejects
    /// NaN and infinity.
    public static func interval(everySeconds seconds: TimeInterval, anchor: Date) throws(ScheduleError) -> Recurrence {
        guard seconds.isFinite, abs(seconds) < 1e15 else {
            throw .invalidInterval(IntervalIssue(seconds: seconds, reason: "it must be a finite number of seconds"))
        }
        let whole = seconds.rounded(.towardZero)
        let fraction = seconds - whole
        let every = Duration.seconds(Int64(whole)) + .nanoseconds(Int64((fraction * 1e9).rounded()))
        return try interval(every: every, anchor: anchor)
    }

    /// Slots where `expression` matches the wall clock of `timeZone`.
    public static func cron(_ expression: CronExpression, timeZone: TimeZone) -> Recurrence {
        Recurrence(rule: .cron(expression, timeZone))
    }

    /// Parses `expression` and looks up the IANA zone `timeZone` (UTC unless given, never the
    /// host's zone, so every host computes the same slots).
    public static func cron(_ expression: String, timeZone: String = "UTC") throws(ScheduleError) -> Recurrence {
        .cron(try CronExpression(expression), timeZone: try .iana(timeZone))
    }

    /// Slots of a calendar phrase on the wall clock of `timeZone`.
    public static func calendar(_ frequency: CalendarFrequency, timeZone: TimeZone) -> Recurrence {
        Recurrence(rule: .calendar(frequency, timeZone))
    }

    /// Parses a calendar phrase such as `"weekly on monday at 09:30"` in the IANA zone
    /// `timeZone` (UTC unless given).
    public static func calendar(_ phrase: String, timeZone: String = "UTC") throws(ScheduleError) -> Recurrence {
        .calendar(try CalendarFrequency(phrase), timeZone: try .iana(timeZone))
    }

    /// A schedule that never fires by itself.
    public static let manual = Recurrence(rule: .manual)

    // MARK: - Slots

    /// The first slot strictly after `instant`, or nil if there is none (manual schedules,
    /// cron expressions that never match again).
    public func nextSlot(after instant: Date) -> Date? {
        switch rule {
        case let .interval(every, anchor):
            guard let now = instant.wholeSecondsSince1970, let start = anchor.wholeSecondsSince1970 else { return nil }
            let period = every.components.seconds
            if now < start { return anchor }
            let (steps, overflow) = ((now - start) / period + 1).multipliedReportingOverflow(by: period)
            return overflow ? nil : Date(wholeSecondsSince1970: start + steps)
        case let .cron(expression, zone):
            return expression.nextFire(after: instant, in: zone)
        case let .calendar(frequency, zone):
            return frequency.expression.nextFire(after: instant, in: zone)
        case .manual:
            return nil
        }
    }

    /// The latest slot at or before `instant`, or nil if there is none. With
    /// ``slots(from:through:limit:)`` this serves "fire once for all missed slots".
    public func lastSlot(atOrBefore instant: Date) -> Date? {
        switch rule {
        case let .interval(every, anchor):
            guard let now = instant.wholeSecondsSince1970, let start = anchor.wholeSecondsSince1970,
                now >= start
            else { return nil }
            let period = every.components.seconds
            return Date(wholeSecondsSince1970: start + (now - start) / period * period)
        case let .cron(expression, zone):
            return expression.lastFire(atOrBefore: instant, in: zone)
        case let .calendar(frequency, zone):
            return frequency.expression.lastFire(atOrBefore: instant, in: zone)
        case .manual:
            return nil
        }
    }

    /// The next `count` slots strictly after `instant`, fewer if the schedule ends.
    public func slots(after instant: Date, count: Int) -> [Date] {
        var result: [Date] = []
        var cursor = instant
        while result.count < count, let slot = nextSlot(after: cursor) {
            result.append(slot)
            cursor = slot
        }
        return result
    }

    /// Every slot in `start...end` (both ends included), in order, at most `limit` of them;
    /// for catching up on missed slots.
    public func slots(from start: Date, through end: Date, limit: Int) -> [Date] {
        guard limit > 0, start <= end, let first = start.wholeSecondsSince1970 else { return [] }
        // Slots are whole seconds: the first one at or after `start` is the first after
        // the whole second before it (or before `start` itself when it is whole).
        let before = Date(wholeSecondsSince1970: Double(first) == start.timeIntervalSince1970 ? first - 1 : first)
        var result: [Date] = []
        var cursor = before
        while result.count < limit, let slot = nextSlot(after: cursor), slot <= end {
            result.append(slot)
            cursor = slot
        }
        return result
    }

    // MARK: - Display

    /// A one-line description for listings, e.g. `"cron 0 6 * * MON-FRI (Europe/Berlin)"`,
    /// `"every 6h from 2026-01-01T00:00:00Z"`, `"daily at 06:00 (UTC)"`, `"on demand"`.
    public var description: String {
        switch rule {
        case let .interval(every, anchor):
            return "every \(Self.format(seconds: every.components.seconds)) from \(Self.format(anchor))"
        case let .cron(expression, zone):
            return "cron \(expression.source) (\(zone.scheduleIdentifier))"
        case let .calendar(frequency, zone):
            return "\(frequency.phrase) (\(zone.scheduleIdentifier))"
        case .manual:
            return "on demand"
        }
    }

    /// `90061` → `"1d1h1m1s"`; `21600` → `"6h"`.
    static func format(seconds: Int64) -> String {
        let units: [(Int64, String)] = [(86_400, "d"), (3_600, "h"), (60, "m"), (1, "s")]
        var remaining = seconds
        var text = ""
        for (size, suffix) in units where remaining >= size {
            text += "\(remaining / size)\(suffix)"
            remaining %= size
        }
        return text.isEmpty ? "0s" : text
    }

    /// ISO 8601 in UTC, e.g. `2026-01-01T00:00:00Z`.
    static func format(_ date: Date) -> String {
        let seconds = date.wholeSecondsSince1970 ?? 0
        let day = CivilCalendar.floorDivide(seconds, CivilCalendar.secondsPerDay)
        let time = Int(seconds - day * CivilCalendar.secondsPerDay)
        let (year, month, dayOfMonth) = CivilCalendar.date(dayNumber: day)
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let yearText = year >= 0 && year < 10_000 ? String(repeating: "0", count: 4 - "\(year)".count) + "\(year)" : "\(year)"
        return "\(yearText)-\(two(month))-\(two(dayOfMonth))T\(two(time / 3600)):\(two(time / 60 % 60)):\(two(time % 60))Z"
    }
}
