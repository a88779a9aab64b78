import Foundation
import Testing

@testable import Conveyor

@Suite("Calendar phrases")
struct CalendarFrequencyTests {
    @Test(arguments: [
        ("hourly", "0 * * * *"),
        ("hourly at :15", "15 * * * *"),
        ("daily", "0 0 * * *"),
        ("daily at 06:00", "0 6 * * *"),
        ("Daily   AT 6:05", "5 6 * * *"),
        ("weekly", "0 0 * * 1"),
        ("weekly on monday", "0 0 * * 1"),
        ("weekly on Monday at 09:30", "30 9 * * 1"),
        ("weekly at 09:30 on sun", "30 9 * * 0"),
        ("monthly", "0 0 1 * *"),
        ("monthly on day 15", "0 0 15 * *"),
        ("monthly on the last day", "0 0 L * *"),
        ("monthly on the last day at 18:00", "0 18 L * *"),
        ("monthly on the third friday at 12:00", "0 12 * * 5#3"),
        ("monthly on the 1st monday", "0 0 * * 1#1"),
        ("quarterly", "0 0 1 1,4,7,10 *"),
        ("quarterly on day 15 at 08:00", "0 8 15 1,4,7,10 *"),
        ("quarterly on the last day", "0 0 L 3,6,9,12 *"),
        ("semiannually", "0 0 1 1,7 *"),
        ("semi-annually on the last day", "0 0 L 6,12 *"),
        ("annually", "0 0 1 1 *"),
        ("yearly", "0 0 1 1 *"),
        ("annually on 03-31", "0 0 31 3 *"),
        ("yearly on 02-29 at 12:00", "0 12 29 2 *"),
        ("annually on march 31 at 23:59", "59 23 31 3 *"),
    ])
    func phraseCompilesToCron(phrase: String, cron: String) throws {
        #expect(try CalendarFrequency(phrase).expression.source == cron)
    }

    @Test func phraseIsNormalizedForDisplay() throws {
        let frequency = try CalendarFrequency("  Weekly   on Monday  at 09:30 ")
        #expect(frequency.phrase == "weekly on monday at 09:30")
        #expect(frequency.description == frequency.phrase)
    }

    @Test(arguments: [
        "", "fortnightly", "daily at 25:00", "daily at 6", "daily on monday", "weekly on funday",
        "monthly on day 32", "monthly on day 0", "annually on 02-30", "annually on 13-01",
        "hourly at 10:15", "daily at 06:00 at 07:00", "quarterly on the second monday", "weekly on",
    ])
    func unreadablePhraseListsEveryForm(phrase: String) {
        let message = scheduleErrorMessage { () throws(ScheduleError) in _ = try CalendarFrequency(phrase) }
        #expect(message?.hasPrefix("cannot read calendar phrase \"\(phrase)\"; accepted forms are: ") == true)
        for form in CalendarFrequency.acceptedForms {
            #expect(message?.contains(form) == true)
        }
    }

    @Test func quarterlyFiresOnQuarterStarts() throws {
        let quarterly = try Recurrence.calendar("quarterly", timeZone: "UTC")
        #expect(quarterly.slots(after: utcDate("2026-01-01T00:00:00Z"), count: 4).map(Recurrence.format) == [
            "2026-04-01T00:00:00Z", "2026-07-01T00:00:00Z", "2026-10-01T00:00:00Z", "2027-01-01T00:00:00Z",
        ])
    }

    @Test func calendarPhrasesFollowTheZone() throws {
        let daily = try Recurrence.calendar("daily at 02:30", timeZone: "America/New_York")
        #expect(daily.nextSlot(after: utcDate("2026-03-08T05:00:00Z")) == utcDate("2026-03-08T07:00:00Z"))
    }
}
