import Foundation
import Testing

@testable import Conveyor

@Suite("Cron error messages")
struct CronErrorTests {
    private func message(_ text: String) -> String? {
        scheduleErrorMessage { () throws(ScheduleError) in _ = try CronExpression(text) }
    }

    @Test func outOfRangeNamesFieldPositionAndAllowedValues() {
        #expect(message("0 24 * * *") == #"hour must be 0-23; got 24 at field 2 (column 3) in "0 24 * * *""#)
        #expect(message("60 * * * *") == #"minute must be 0-59; got 60 at field 1 (column 1) in "60 * * * *""#)
        #expect(message("0 0 32 * *") == #"day-of-month must be 1-31 or L; got 32 at field 3 (column 5) in "0 0 32 * *""#)
        #expect(message("0 0 0 * *") == #"day-of-month must be 1-31 or L; got 0 at field 3 (column 5) in "0 0 0 * *""#)
        #expect(message("0 0 * 13 *") == #"month must be 1-12 or JAN-DEC; got 13 at field 4 (column 7) in "0 0 * 13 *""#)
        #expect(message("0 0 * * 8")
            == #"day-of-week must be 0-7 or SUN-SAT (0 and 7 are Sunday); got 8 at field 5 (column 9) in "0 0 * * 8""#)
        #expect(message("61 0 0 * * *") == #"second must be 0-59; got 61 at field 1 (column 1) in "61 0 0 * * *""#)
        // Offending part of a range, column of that part; leading spaces count.
        #expect(message("  0 10-70 * * * *") == #"minute must be 0-59; got 70 at field 2 (column 8) in "  0 10-70 * * * *""#)
        #expect(message("0 1,2,99 * * *") == #"hour must be 0-23; got 99 at field 2 (column 7) in "0 1,2,99 * * *""#)
    }

    @Test func wrongFieldCountAndEmpty() {
        #expect(message("* * * *")
            == #"expected 5 or 6 fields, got 4 in "* * * *"; write minute hour day-of-month month day-of-week, optionally preceded by second"#)
        #expect(message("* * * * * * *")?.hasPrefix("expected 5 or 6 fields, got 7") == true)
        #expect(message("") == ScheduleError.emptyExpression.description)
        #expect(message("  \t ") == ScheduleError.emptyExpression.description)
        #expect(message("")?.contains("empty") == true)
    }

    @Test func zeroStep() {
        #expect(message("*/0 * * * *") == #"minute step must be at least 1; got "*/0" at field 1 (column 1) in "*/0 * * * *""#)
        #expect(message("0 1-5/0 * * *") == #"hour step must be at least 1; got "1-5/0" at field 2 (column 3) in "0 1-5/0 * * *""#)
    }

    @Test func reversedRangeSuggestsAList() {
        #expect(message("0 22-2 * * *")
            == #"hour range must run from low to high; got "22-2" at field 2 (column 3) in "0 22-2 * * *"; to wrap around, write a list such as 22-23,0-2"#)
        #expect(message("0 0 * * SAT-SUN")?.contains("write a list such as 6,0") == true)
        #expect(message("0 0 * DEC-FEB *")?.contains("12,1-2") == true)
    }

    @Test func nthWeekOutOfRange() {
        #expect(message("0 0 * * MON#6")
            == #"day-of-week week of the month after # must be 1-5; got "MON#6" at field 5 (column 9) in "0 0 * * MON#6""#)
        #expect(message("0 0 * * 1#0")?.contains("must be 1-5; got \"1#0\"") == true)
        #expect(message("0 0 * * 9#2")?.hasPrefix("day-of-week must be 0-7") == true)
    }

    @Test func lastDayOutsideDayOfMonth() {
        #expect(message("L * * * *")
            == #"L (last day of the month) is only allowed in day-of-month; got "L" in minute at field 1 (column 1) in "L * * * *""#)
        #expect(message("0 0 * * 5L")?.hasPrefix(#"L (last day of the month) is only allowed in day-of-month; got "5L" in day-of-week"#) == true)
        #expect(message("0 0 * L *")?.contains("in month at field 4 (column 7)") == true)
        #expect(message("0 0 L-31 * *")?.hasPrefix("day-of-month must be 1-31 or L; got L-31") == true)
    }

    @Test func misplacedSpecialCharacters() {
        #expect(message("? * * * *")?.hasPrefix("? (no specific value) is only allowed alone in day-of-month or day-of-week") == true)
        #expect(message("0 0 1 1#2 *")?.hasPrefix("# (nth weekday of the month, e.g. MON#3) is only allowed in day-of-week") == true)
    }

    @Test func malformedTextListsTheSyntax() {
        #expect(message("0 0 * FOO *")
            == #"month cannot read "FOO" at field 4 (column 7) in "0 0 * FOO *"; allowed: 1-12 or JAN-DEC, *, ranges a-b, steps */n a-b/n a/n, lists a,b,c"#)
        #expect(message("0 0 * * MUN")?.contains("names, d#n (nth weekday, e.g. MON#3)") == true)
        #expect(message("0 MON * * *")?.hasPrefix(#"hour cannot read "MON""#) == true)
        #expect(message("0 1,,2 * * *")?.hasPrefix("hour cannot read") == true)
        #expect(message("0 -1 * * *")?.hasPrefix(#"hour cannot read """#) == true)
        #expect(message("0 */x * * *")?.hasPrefix(#"hour cannot read "*/x""#) == true)
        #expect(message("0 1/2/3 * * *")?.hasPrefix("hour cannot read") == true)
    }

    @Test func unknownNickname() {
        #expect(message("@reboot")
            == #"unknown cron nickname "@reboot"; known nicknames are @annually, @daily, @hourly, @midnight, @monthly, @weekly, @yearly"#)
    }

    @Test func issueCarriesStructuredFields() {
        do {
            _ = try CronExpression("0 0 * * MON#6")
            Issue.record("expected an error")
        } catch {
            guard case let .invalidField(issue) = error else {
                Issue.record("unexpected \(error)")
                return
            }
            #expect(issue.field == .dayOfWeek)
            #expect(issue.fieldNumber == 5)
            #expect(issue.column == 9)
            #expect(issue.text == "MON#6")
            #expect(issue.problem == .weekOfMonthOutOfRange(week: 6))
        }
    }
}
