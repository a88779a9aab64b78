import Foundation
import Testing

@testable import Conveyor

/// `"2026-03-08T07:00:00Z"` → Date. Traps on malformed test input.
func utcDate(_ text: String) -> Date {
    let parts = text.dropLast().split(whereSeparator: { "-T:".contains($0) }).map { Int64($0)! }
    let day = CivilCalendar.dayNumber(year: parts[0], month: Int(parts[1]), day: Int(parts[2]))
    return Date(wholeSecondsSince1970: day * 86_400 + parts[3] * 3600 + parts[4] * 60 + parts[5])
}

func testZone(_ identifier: String) -> TimeZone {
    TimeZone(identifier: identifier)!
}

/// The next `count` fires of `expression` in `zoneName` after `start`, as ISO strings.
func cronFires(_ expression: String, in zoneName: String, after start: String, count: Int = 3) throws -> [String] {
    try Recurrence.cron(expression, timeZone: zoneName)
        .slots(after: utcDate(start), count: count).map(Recurrence.format)
}

/// The message of the ScheduleError thrown by `body`, or nil.
func scheduleErrorMessage(_ body: () throws(ScheduleError) -> Void) -> String? {
    do {
        try body()
        return nil
    } catch {
        return error.description
    }
}
