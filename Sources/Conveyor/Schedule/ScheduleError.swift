import Foundation

/// Why a schedule could not be built from its description.
///
/// Every message names the input and says what would have been accepted:
/// ```swift
/// do { _ = try CronExpression("0 24 * * *") }
/// catch { print(error) }
/// // hour must be 0-23; got 24 at field 2 (column 3) in "0 24 * * *"
/// ```
public enum ScheduleError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The cron expression was empty or only whitespace.
    case emptyExpression
    /// The expression did not have 5 or 6 whitespace-separated fields.
    case wrongFieldCount(expression: String, found: Int)
    /// An `@name` expression that is not one of the known nicknames.
    case unknownNickname(expression: String)
    /// One field of the expression is invalid; the issue says where and why.
    case invalidField(CronFieldIssue)
    /// A time zone identifier that is not a known IANA zone.
    case unknownTimeZone(identifier: String, suggestions: [String])
    /// An interval schedule whose period is unusable.
    case invalidInterval(IntervalIssue)
    /// A calendar phrase that matches none of the accepted forms.
    case unrecognizedCalendarPhrase(phrase: String, acceptedForms: [String])

    public var description: String {
        switch self {
        case .emptyExpression:
            return "cron expression is empty; expected 5 fields (minute hour day-of-month month day-of-week), "
                + "6 fields (second first), or a nickname such as @daily"
        case let .wrongFieldCount(expression, found):
            return "expected 5 or 6 fields, got \(found) in \"\(expression)\"; write "
                + "minute hour day-of-month month day-of-week, optionally preceded by second"
        case let .unknownNickname(expression):
            let known = CronExpression.nicknames.keys.sorted().joined(separator: ", ")
            return "unknown cron nickname \"\(expression)\"; known nicknames are \(known)"
        case let .invalidField(issue):
            return issue.description
        case let .unknownTimeZone(identifier, suggestions):
            let base = "unknown time zone \"\(identifier)\"; use an IANA identifier such as \"Europe/Berlin\" or \"UTC\""
            if suggestions.isEmpty { return base }
            return base + "; did you mean " + suggestions.map { "\"\($0)\"" }.joined(separator: ", ") + "?"
        case let .invalidInterval(issue):
            return issue.description
        case let .unrecognizedCalendarPhrase(phrase, forms):
            return "cannot read calendar phrase \"\(phrase)\"; accepted forms are: "
                + forms.joined(separator: "; ")
        }
    }
}

/// Where and why one field of a cron expression is invalid.
public struct CronFieldIssue: Sendable, Hashable, CustomStringConvertible {
    /// What is wrong with the offending text.
    public enum Problem: Sendable, Hashable {
        /// A number outside the field's ``CronField/valueRange``.
        case outOfRange(value: Int)
        /// Text that is not a number, name, range, step or list.
        case malformed
        /// A step of zero, as in `*/0`.
        case zeroStep
        /// A range whose start is after its end, as in `22-2`.
        case reversedRange(low: Int, high: Int)
        /// A `#` week of the month outside 1-5, as in `MON#6`.
        case weekOfMonthOutOfRange(week: Int)
        /// `L` written in a field other than day-of-month.
        case lastDayOutsideDayOfMonth
        /// `#` written in a field other than day-of-week.
        case nthWeekdayOutsideDayOfWeek
        /// `?` written outside day-of-month and day-of-week, or combined with other text.
        case misplacedQuestionMark
    }

    /// The whole expression as it was given.
    public let expression: String
    /// The field that holds the offending text.
    public let field: CronField
    /// The 1-based position of the field among the fields as written.
    public let fieldNumber: Int
    /// The 1-based character offset of the offending text in ``expression``.
    public let column: Int
    /// The offending text itself.
    public let text: String
    /// What is wrong with it.
    public let problem: Problem

    public var description: String {
        let place = "at field \(fieldNumber) (column \(column)) in \"\(expression)\""
        switch problem {
        case .outOfRange:
            return "\(field) must be \(field.allowedSummary); got \(text) \(place)"
        case .malformed:
            return "\(field) cannot read \"\(text)\" \(place); allowed: \(field.allowedSummary), *, "
                + "ranges a-b, steps */n a-b/n a/n, lists a,b,c" + extraSyntax
        case .zeroStep:
            return "\(field) step must be at least 1; got \"\(text)\" \(place)"
        case let .reversedRange(low, high):
            return "\(field) range must run from low to high; got \"\(text)\" \(place); "
                + "to wrap around, write a list such as \(wrapHint(low: low, high: high))"
        case .weekOfMonthOutOfRange:
            return "\(field) week of the month after # must be 1-5; got \"\(text)\" \(place)"
        case .lastDayOutsideDayOfMonth:
            return "L (last day of the month) is only allowed in day-of-month; got \"\(text)\" in \(field) \(place)"
        case .nthWeekdayOutsideDayOfWeek:
            return "# (nth weekday of the month, e.g. MON#3) is only allowed in day-of-week; got \"\(text)\" in \(field) \(place)"
        case .misplacedQuestionMark:
            return "? (no specific value) is only allowed alone in day-of-month or day-of-week; "
                + "got \"\(text)\" in \(field) \(place)"
        }
    }

    private var extraSyntax: String {
        switch field {
        case .dayOfMonth: ", L (last day), L-n (n days before the last), ?"
        case .dayOfWeek: ", names, d#n (nth weekday, e.g. MON#3), ?"
        default: ""
        }
    }

    private func wrapHint(low: Int, high: Int) -> String {
        let top = field.wildcardRange.upperBound, bottom = field.wildcardRange.lowerBound
        let first = low == top ? "\(low)" : "\(low)-\(top)"
        let second = high == bottom ? "\(high)" : "\(bottom)-\(high)"
        return first + "," + second
    }
}

/// Why an interval schedule was rejected.
public struct IntervalIssue: Sendable, Hashable, CustomStringConvertible {
    /// The period as given, in seconds.
    public let seconds: Double
    /// What is wrong with it.
    public let reason: String

    public var description: String {
        "interval of \(seconds) s is invalid: \(reason)"
    }
}
