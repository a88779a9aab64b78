import Foundation

/// One field of a cron expression, in the order the fields are written.
///
/// Five-field expressions start at ``minute``; six-field expressions put ``second`` first,
/// as Quartz and Spring do: `"30 0 6 * * MON-FRI"` fires at 06:00:30 on weekdays.
public enum CronField: Int, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    case second
    case minute
    case hour
    case dayOfMonth
    case month
    case dayOfWeek

    /// The name used in error messages, e.g. `"day-of-month"`.
    public var description: String {
        switch self {
        case .second: "second"
        case .minute: "minute"
        case .hour: "hour"
        case .dayOfMonth: "day-of-month"
        case .month: "month"
        case .dayOfWeek: "day-of-week"
        }
    }

    /// The values a plain number may take. Day-of-week accepts 7 as a second Sunday.
    public var valueRange: ClosedRange<Int> {
        switch self {
        case .second, .minute: 0...59
        case .hour: 0...23
        case .dayOfMonth: 1...31
        case .month: 1...12
        case .dayOfWeek: 0...7
        }
    }

    /// The range that `*` and an open-ended step such as `10/5` cover.
    var wildcardRange: ClosedRange<Int> {
        self == .dayOfWeek ? 0...6 : valueRange
    }

    /// What may be written in this field, for error messages.
    public var allowedSummary: String {
        switch self {
        case .second, .minute: "0-59"
        case .hour: "0-23"
        case .dayOfMonth: "1-31 or L"
        case .month: "1-12 or JAN-DEC"
        case .dayOfWeek: "0-7 or SUN-SAT (0 and 7 are Sunday)"
        }
    }

    /// Three-letter names accepted in place of numbers, upper-cased.
    var names: [String: Int] {
        switch self {
        case .month: Self.monthNames
        case .dayOfWeek: Self.dayNames
        default: [:]
        }
    }

    private static let monthNames: [String: Int] = [
        "JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6,
        "JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12,
    ]

    private static let dayNames: [String: Int] = [
        "SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6,
    ]
}
