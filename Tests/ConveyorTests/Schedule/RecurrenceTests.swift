import Foundation
import Testing

@testable import Conveyor

@Suite("Recurrence")
struct RecurrenceTests {
    private let newYear = utcDate("2026-01-01T00:00:00Z")

    @Test func intervalSlotsAreAnchorPlusMultiples() throws {
        let every6h = try Recurrence.interval(every: .seconds(6 * 3600), anchor: newYear)
        #expect(every6h.nextSlot(after: utcDate("2025-12-31T00:00:00Z")) == newYear)
        #expect(every6h.nextSlot(after: newYear) == utcDate("2026-01-01T06:00:00Z"))
        #expect(every6h.nextSlot(after: utcDate("2026-01-01T05:59:59Z")) == utcDate("2026-01-01T06:00:00Z"))
        #expect(every6h.nextSlot(after: Date(timeIntervalSince1970: newYear.timeIntervalSince1970 + 0.5))
            == utcDate("2026-01-01T06:00:00Z"))
        #expect(every6h.lastSlot(atOrBefore: utcDate("2026-01-01T13:00:00Z")) == utcDate("2026-01-01T12:00:00Z"))
        #expect(every6h.lastSlot(atOrBefore: utcDate("2026-01-01T12:00:00Z")) == utcDate("2026-01-01T12:00:00Z"))
        #expect(every6h.lastSlot(atOrBefore: utcDate("2025-12-31T23:59:59Z")) == nil)
        #expect(every6h.slots(after: newYear, count: 3) == [
            utcDate("2026-01-01T06:00:00Z"), utcDate("2026-01-01T12:00:00Z"), utcDate("2026-01-01T18:00:00Z"),
        ])
    }

    @Test func intervalAnchorIsRoundedToWholeSeconds() throws {
        let every = try Recurrence.interval(every: .seconds(10), anchor: Date(timeIntervalSince1970: 100.7))
        #expect(every.nextSlot(after: Date(timeIntervalSince1970: 100.9)) == Date(timeIntervalSince1970: 110))
    }

    @Test func invalidIntervalsAreRejected() {
        let cases: [(Duration, String)] = [
            (.zero, "it must be positive"),
            (.seconds(-5), "it must be positive"),
            (.milliseconds(500), "it must be at least 1 second"),
            (.milliseconds(1500), "must be a whole number of seconds"),
        ]
        for (every, reason) in cases {
            let message = scheduleErrorMessage { () throws(ScheduleError) in _ = try Recurrence.interval(every: every, anchor: newYear) }
            #expect(message?.hasPrefix("interval of ") == true)
            #expect(message?.contains(reason) == true, "\(every): \(message ?? "no error")")
        }
        for seconds in [Double.nan, .infinity, -.infinity] {
            let message = scheduleErrorMessage { () throws(ScheduleError) in
                _ = try Recurrence.interval(everySeconds: seconds, anchor: newYear)
            }
            #expect(message?.contains("it must be a finite number of seconds") == true)
        }
        #expect(throws: Never.self) { try Recurrence.interval(everySeconds: 90, anchor: newYear) }
    }

    @Test func slotsFromThroughIncludesBothEndsAndHonoursTheLimit() throws {
        let hourly = try Recurrence.cron("0 * * * *")
        let catchUp = hourly.slots(from: newYear, through: utcDate("2026-01-01T03:00:00Z"), limit: 10)
        #expect(catchUp == [newYear, utcDate("2026-01-01T01:00:00Z"), utcDate("2026-01-01T02:00:00Z"), utcDate("2026-01-01T03:00:00Z")])
        #expect(hourly.slots(from: newYear, through: utcDate("2026-01-02T00:00:00Z"), limit: 5).count == 5)
        #expect(hourly.slots(from: Date(timeIntervalSince1970: newYear.timeIntervalSince1970 + 0.5),
                             through: utcDate("2026-01-01T01:00:00Z"), limit: 10) == [utcDate("2026-01-01T01:00:00Z")])
        #expect(hourly.slots(from: utcDate("2026-01-02T00:00:00Z"), through: newYear, limit: 10).isEmpty)
        let every = try Recurrence.interval(every: .seconds(1800), anchor: newYear)
        #expect(every.slots(from: utcDate("2026-01-01T00:10:00Z"), through: utcDate("2026-01-01T01:30:00Z"), limit: 10)
            == [utcDate("2026-01-01T00:30:00Z"), utcDate("2026-01-01T01:00:00Z"), utcDate("2026-01-01T01:30:00Z")])
    }

    @Test func lastSlotCoalescesMissedSlots() throws {
        let daily = try Recurrence.cron("0 6 * * *", timeZone: "Europe/Berlin")
        // Down from Jan 1 to Jan 10 noon: one fire for the latest missed slot.
        #expect(daily.lastSlot(atOrBefore: utcDate("2026-01-10T12:00:00Z")) == utcDate("2026-01-10T05:00:00Z"))
    }

    @Test func manualNeverFires() {
        #expect(Recurrence.manual.nextSlot(after: newYear) == nil)
        #expect(Recurrence.manual.lastSlot(atOrBefore: newYear) == nil)
        #expect(Recurrence.manual.slots(after: newYear, count: 5).isEmpty)
        #expect(Recurrence.manual.description == "on demand")
    }

    @Test func descriptions() throws {
        #expect(try Recurrence.cron("0 6 * * MON-FRI", timeZone: "Europe/Berlin").description
            == "cron 0 6 * * MON-FRI (Europe/Berlin)")
        #expect(try Recurrence.cron("@daily").description == "cron @daily (UTC)")
        #expect(try Recurrence.interval(every: .seconds(21_600), anchor: newYear).description
            == "every 6h from 2026-01-01T00:00:00Z")
        #expect(try Recurrence.interval(every: .seconds(90_061), anchor: newYear).description
            == "every 1d1h1m1s from 2026-01-01T00:00:00Z")
        #expect(try Recurrence.calendar("Daily at 06:00").description == "daily at 06:00 (UTC)")
        #expect(Recurrence.format(seconds: 90) == "1m30s")
    }

    @Test(arguments: [
        #"{"kind":"cron","expression":"0 6 * * MON-FRI","timeZone":"Europe/Berlin"}"#,
        #"{"kind":"calendar","phrase":"weekly on monday at 09:30","timeZone":"America/New_York"}"#,
        #"{"kind":"interval","everySeconds":21600,"anchor":1767225600}"#,
        #"{"kind":"manual"}"#,
    ])
    func codableRoundTrip(json: String) throws {
        let decoded = try JSONDecoder().decode(Recurrence.self, from: Data(json.utf8))
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let reencoded = try JSONDecoder().decode(Recurrence.self, from: encoder.encode(decoded))
        #expect(reencoded == decoded)
        #expect(reencoded.description == decoded.description)
        #expect(reencoded.nextSlot(after: newYear) == decoded.nextSlot(after: newYear))
    }

    @Test(arguments: [
        (#"{"kind":"cron","expression":"0 24 * * *","timeZone":"UTC"}"#, "hour must be 0-23"),
        (#"{"kind":"cron","expression":"0 0 * * *","timeZone":"Europe/Berln"}"#, "did you mean \"Europe/Berlin\""),
        (#"{"kind":"calendar","phrase":"fortnightly","timeZone":"UTC"}"#, "cannot read calendar phrase"),
        (#"{"kind":"interval","everySeconds":0,"anchor":0}"#, "it must be positive"),
    ])
    func decodingInvalidThrows(json: String, reason: String) {
        do {
            _ = try JSONDecoder().decode(Recurrence.self, from: Data(json.utf8))
            Issue.record("expected a decoding error")
        } catch let DecodingError.dataCorrupted(context) {
            #expect(context.debugDescription.contains(reason), "\(context.debugDescription)")
            #expect(context.underlyingError is ScheduleError)
        } catch {
            Issue.record("unexpected \(error)")
        }
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(Recurrence.self, from: Data(#"{"kind":"sometimes"}"#.utf8))
        }
    }

    @Test func hashableAndEquatable() throws {
        let a = try Recurrence.cron("0 6 * * *", timeZone: "Europe/Berlin")
        let b = try Recurrence.cron("0  6 * * *", timeZone: "europe/berlin")
        let c = try Recurrence.cron("0 6 * * *", timeZone: "UTC")
        #expect(a == b)
        #expect(a != c)
        #expect(Set([a, b, c]).count == 2)
    }

    @Test func typicalExpressionTakesFewSteps() throws {
        // Not a timing test: the day walk must not step minute by minute, so even a whole
        // year of daily slots is computed instantly; this just exercises a long run.
        let daily = try Recurrence.cron("0 6 * * MON-FRI", timeZone: "Europe/Berlin")
        let slots = daily.slots(after: newYear, count: 261)
        #expect(slots.count == 261)
        #expect(Set(slots).count == 261)
        #expect(zip(slots, slots.dropFirst()).allSatisfy { $0 < $1 })
    }
}
