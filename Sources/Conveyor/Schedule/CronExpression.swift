import Foundation

/// A parsed cron expression: which local wall-clock times it names.
///
/// Five fields (`minute hour day-of-month month day-of-week`) or six with the second first
/// (Quartz/Spring order). Each field takes `*`, numbers, ranges `a-b`, steps `*/n`, `a-b/n`
/// and `a/n`, and lists `a,b,c`. Months and weekdays take names (`JAN`-`DEC`, `SUN`-`SAT`,
/// any case); weekday 0 and 7 are both Sunday. Day-of-month takes `L` (last day) and `L-n`
/// (n days before the last); day-of-week takes `d#n` (the nth such weekday, e.g. `MON#3`).
/// `?` means `*` in the two day fields. Nicknames: `@yearly`, `@annually`, `@monthly`,
/// `@weekly`, `@daily`, `@midnight`, `@hourly`.
///
/// When both day fields are restricted (neither is written `*` or `?`), a day matches if
/// either field matches, as in Vixie cron.
///
/// ```swift
/// let weekdays = try CronExpression("0 6 * * MON-FRI")
/// let next = weekdays.nextFire(after: .now, in: try .iana("Europe/Berlin"))
/// ```
public struct CronExpression: Sendable, Hashable, CustomStringConvertible {
    /// The expression with its fields separated by single spaces (nicknames kept as written).
    public internal(set) var source: String
    /// Whether the expression has a seconds field.
    public let hasSeconds: Bool

    // Bit n set: value n matches.
    let seconds: UInt64
    let minutes: UInt64
    let hours: UInt32
    let daysOfMonth: UInt32
    /// Bit n set: the day n days before the last day of the month matches (`L` is n = 0).
    let daysBeforeLast: UInt32
    let months: UInt16
    let daysOfWeek: UInt8
    /// Byte w (weekday 0-6), bit n set: the nth such weekday of the month matches.
    let nthWeekdays: UInt64
    /// Whether day-of-month / day-of-week was written `*` or `?`.
    let dayOfMonthIsWildcard: Bool
    let dayOfWeekIsWildcard: Bool

    /// Parses a cron expression.
    ///
    /// - Throws: ``ScheduleError`` naming the field, its position, the offending text and
    ///   what is allowed there.
    public init(_ text: String) throws(ScheduleError) {
        self = try CronParser(text: text).parse()
    }

    init(
        source: String, hasSeconds: Bool, fields: [CronField: CronParser.FieldSet],
        dayOfMonthIsWildcard: Bool, dayOfWeekIsWildcard: Bool
    ) {
        self.source = source
        self.hasSeconds = hasSeconds
        seconds = fields[.second]?.values ?? 1
        minutes = fields[.minute]?.values ?? 0
        hours = UInt32(truncatingIfNeeded: fields[.hour]?.values ?? 0)
        daysOfMonth = UInt32(truncatingIfNeeded: fields[.dayOfMonth]?.values ?? 0)
        daysBeforeLast = fields[.dayOfMonth]?.daysBeforeLast ?? 0
        months = UInt16(truncatingIfNeeded: fields[.month]?.values ?? 0)
        daysOfWeek = UInt8(truncatingIfNeeded: fields[.dayOfWeek]?.values ?? 0)
        nthWeekdays = fields[.dayOfWeek]?.nthWeekdays ?? 0
        self.dayOfMonthIsWildcard = dayOfMonthIsWildcard
        self.dayOfWeekIsWildcard = dayOfWeekIsWildcard
    }

    public var description: String { source }

    /// The nicknames and the expressions they stand for.
    public static let nicknames: [String: String] = [
        "@yearly": "0 0 1 1 *",
        "@annually": "0 0 1 1 *",
        "@monthly": "0 0 1 * *",
        "@weekly": "0 0 * * 0",
        "@daily": "0 0 * * *",
        "@midnight": "0 0 * * *",
        "@hourly": "0 * * * *",
    ]
}

extension CronExpression: Codable {
    /// Decodes from the expression text, re-parsing it; invalid text throws.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        do {
            self = try CronExpression(text)
        } catch {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: error.description)
        }
    }

    /// Encodes as the expression text.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(source)
    }
}
