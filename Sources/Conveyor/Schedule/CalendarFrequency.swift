import Foundation

/// A schedule written in words, compiled to a ``CronExpression``.
///
/// Case and extra spaces are ignored. Every form takes an optional `at HH:MM` (default 00:00):
/// ```swift
/// let payroll = try CalendarFrequency("monthly on the last day at 18:00")
/// payroll.expression.source // "0 18 L * *"
/// ```
/// Weekly defaults to Monday, quarterly to the 1st of January, April, July and October,
/// semiannually to the 1st of January and July, annually to January 1st. A day of the month
/// that a month lacks (e.g. "monthly on day 31") is skipped in that month, as in cron; write
/// "on the last day" for month ends.
public struct CalendarFrequency: Sendable, Hashable, CustomStringConvertible {
    /// The phrase, lower-cased with single spaces, as it is shown in listings.
    public let phrase: String
    /// The cron expression the phrase compiles to.
    public let expression: CronExpression

    /// Every form the parser accepts, for error messages and help text.
    public static let acceptedForms: [String] = [
        "hourly [at :MM]",
        "daily [at HH:MM]",
        "weekly [on <weekday>] [at HH:MM]",
        "monthly [on day <1-31> | on the last day | on the <first…fifth> <weekday>] [at HH:MM]",
        "quarterly [on day <1-31> | on the last day] [at HH:MM]",
        "semiannually [on day <1-31> | on the last day] [at HH:MM]",
        "annually | yearly [on <MM-DD> | on <month> <day>] [at HH:MM]",
    ]

    /// Parses a phrase such as `"weekly on monday at 09:30"`.
    ///
    /// - Throws: ``ScheduleError/unrecognizedCalendarPhrase(phrase:acceptedForms:)`` listing
    ///   every accepted form.
    public init(_ phrase: String) throws(ScheduleError) {
        let words = phrase.lowercased().split(whereSeparator: \.isWhitespace).map(String.init)
        let normalized = words.joined(separator: " ")
        guard let cron = Self.compile(words), let expression = try? CronExpression(cron) else {
            throw .unrecognizedCalendarPhrase(phrase: phrase, acceptedForms: Self.acceptedForms)
        }
        self.phrase = normalized
        self.expression = expression
    }

    public var description: String { phrase }

    // MARK: - Grammar

    /// What an `on …` clause selected.
    private enum DaySelection {
        case weekday(Int)
        case dayOfMonth(Int)
        case lastDayOfMonth
        case nthWeekday(week: Int, weekday: Int)
        case date(month: Int, day: Int)
    }

    /// The cron text for a phrase's words, or nil if they match no form.
    private static func compile(_ words: [String]) -> String? {
        guard let head = words.first else { return nil }
        var rest = words.dropFirst()
        var time: (hour: Int, minute: Int)?
        var selection: DaySelection?
        // `on …` and `at …` may come in either order, each at most once.
        while let keyword = rest.first {
            rest = rest.dropFirst()
            switch keyword {
            case "at" where time == nil:
                guard let text = rest.popFirst(), let parsed = parseTime(text, hourly: head == "hourly")
                else { return nil }
                time = parsed
            case "on" where selection == nil:
                let clause = Array(rest.prefix { $0 != "at" })
                rest = rest.dropFirst(clause.count)
                guard let parsed = parseSelection(clause) else { return nil }
                selection = parsed
            default:
                return nil
            }
        }
        let minute = time?.minute ?? 0
        let hour = time?.hour ?? 0

        switch (head, selection) {
        case ("hourly", nil):
            return "\(minute) * * * *"
        case ("daily", nil):
            return "\(minute) \(hour) * * *"
        case ("weekly", nil):
            return "\(minute) \(hour) * * 1"
        case let ("weekly", .weekday(weekday)?):
            return "\(minute) \(hour) * * \(weekday)"
        case ("monthly", _):
            guard let days = monthDays(selection, allowsNth: true) else { return nil }
            return "\(minute) \(hour) \(days.dayOfMonth) * \(days.dayOfWeek)"
        case ("quarterly", _), ("semiannually", _), ("semi-annually", _), ("half-yearly", _):
            let quarterly = head == "quarterly"
            guard let days = monthDays(selection, allowsNth: false) else { return nil }
            // "the last day" of a quarter or half-year is in its last month.
            let months =
                days.dayOfMonth == "L"
                ? (quarterly ? "3,6,9,12" : "6,12") : (quarterly ? "1,4,7,10" : "1,7")
            return "\(minute) \(hour) \(days.dayOfMonth) \(months) *"
        case ("annually", nil), ("yearly", nil):
            return "\(minute) \(hour) 1 1 *"
        case let ("annually", .date(month, day)?), let ("yearly", .date(month, day)?):
            return "\(minute) \(hour) \(day) \(month) *"
        default:
            return nil
        }
    }

    /// Day-of-month and day-of-week fields for the month-based forms.
    private static func monthDays(
        _ selection: DaySelection?, allowsNth: Bool
    ) -> (dayOfMonth: String, dayOfWeek: String)? {
        switch selection {
        case nil: ("1", "*")
        case let .dayOfMonth(day)?: ("\(day)", "*")
        case .lastDayOfMonth?: ("L", "*")
        case let .nthWeekday(week, weekday)? where allowsNth: ("*", "\(weekday)#\(week)")
        default: nil
        }
    }

    /// `HH:MM` (or `:MM` for hourly).
    private static func parseTime(_ text: String, hourly: Bool) -> (hour: Int, minute: Int)? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let minute = Int(parts[1]), parts[1].count == 2, (0...59).contains(minute)
        else { return nil }
        if hourly { return parts[0].isEmpty ? (0, minute) : nil }
        guard let hour = Int(parts[0]), (1...2).contains(parts[0].count), (0...23).contains(hour)
        else { return nil }
        return (hour, minute)
    }

    /// The words after `on`.
    private static func parseSelection(_ words: [String]) -> DaySelection? {
        let words = words.first == "the" ? Array(words.dropFirst()) : words
        switch words.count {
        case 1:
            if let weekday = weekdays[words[0]] { return .weekday(weekday) }
            return parseMonthDay(words[0])
        case 2:
            if words == ["last", "day"] { return .lastDayOfMonth }
            if words[0] == "day", let day = Int(words[1]), (1...31).contains(day) { return .dayOfMonth(day) }
            if let week = ordinals[words[0]], let weekday = weekdays[words[1]] {
                return .nthWeekday(week: week, weekday: weekday)
            }
            if let month = monthNames[words[0]], let day = Int(words[1]) { return validDate(month, day) }
            return nil
        default:
            return nil
        }
    }

    /// `MM-DD`, e.g. `03-31`.
    private static func parseMonthDay(_ text: String) -> DaySelection? {
        let parts = text.split(separator: "-")
        guard parts.count == 2, let month = Int(parts[0]), let day = Int(parts[1]) else { return nil }
        return validDate(month, day)
    }

    private static func validDate(_ month: Int, _ day: Int) -> DaySelection? {
        guard (1...12).contains(month), (1...CivilCalendar.daysInMonth(year: 2000, month: month)).contains(day)
        else { return nil }
        return .date(month: month, day: day)
    }

    private static let weekdays: [String: Int] = [
        "sunday": 0, "monday": 1, "tuesday": 2, "wednesday": 3, "thursday": 4, "friday": 5, "saturday": 6,
        "sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6,
    ]

    private static let ordinals: [String: Int] = [
        "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5,
        "1st": 1, "2nd": 2, "3rd": 3, "4th": 4, "5th": 5,
    ]

    private static let monthNames: [String: Int] = {
        let names = [
            "january", "february", "march", "april", "may", "june",
            "july", "august", "september", "october", "november", "december",
        ]
        var result: [String: Int] = [:]
        for (index, name) in names.enumerated() {
            result[name] = index + 1
            result[String(name.prefix(3))] = index + 1
        }
        return result
    }()
}
