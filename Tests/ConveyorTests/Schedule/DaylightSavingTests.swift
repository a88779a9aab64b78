import Foundation
import Testing

@testable import Conveyor

/// Our DST rules, on exact instants:
/// - a local time inside a spring-forward gap fires once, at the first instant after the gap,
///   and all matches inside one gap collapse into that single fire;
/// - a local time that occurs twice at a fall-back fires at its first occurrence only.
@Suite("Daylight saving time")
struct DaylightSavingTests {
    // MARK: America/New_York: 2026-03-08 02:00 EST → 03:00 EDT (07:00Z); 2026-11-01 02:00 EDT → 01:00 EST (06:00Z).

    @Test func newYorkGapFiresAtEndOfGap() throws {
        #expect(try cronFires("30 2 * * *", in: "America/New_York", after: "2026-03-08T05:00:00Z") == [
            "2026-03-08T07:00:00Z",  // 02:30 does not exist: fires at 03:00 EDT
            "2026-03-09T06:30:00Z",  // 02:30 EDT
            "2026-03-10T06:30:00Z",
        ])
        #expect(try cronFires("0 2 * * *", in: "America/New_York", after: "2026-03-07T00:00:00Z") == [
            "2026-03-07T07:00:00Z", "2026-03-08T07:00:00Z", "2026-03-09T06:00:00Z",
        ])
    }

    @Test func newYorkMatchesInOneGapCollapse() throws {
        #expect(try cronFires("*/15 2 * * *", in: "America/New_York", after: "2026-03-08T05:00:00Z") == [
            "2026-03-08T07:00:00Z",  // 02:00, 02:15, 02:30, 02:45 all at 03:00 EDT, once
            "2026-03-09T06:00:00Z", "2026-03-09T06:15:00Z",
        ])
        // Every minute: the whole missing hour is one fire, then 03:01 EDT.
        #expect(try cronFires("* * * * *", in: "America/New_York", after: "2026-03-08T06:59:00Z") == [
            "2026-03-08T07:00:00Z", "2026-03-08T07:01:00Z", "2026-03-08T07:02:00Z",
        ])
        // Seconds too.
        #expect(try cronFires("*/20 * 2 * * *", in: "America/New_York", after: "2026-03-08T06:59:59Z", count: 2) == [
            "2026-03-08T07:00:00Z", "2026-03-09T06:00:00Z",
        ])
    }

    @Test func newYorkRepeatedHourFiresOnce() throws {
        // Hourly skips the second 01:00 (06:00Z, EST).
        #expect(try cronFires("0 * * * *", in: "America/New_York", after: "2026-11-01T03:30:00Z", count: 4) == [
            "2026-11-01T04:00:00Z", "2026-11-01T05:00:00Z", "2026-11-01T07:00:00Z", "2026-11-01T08:00:00Z",
        ])
        #expect(try cronFires("30 1 * * *", in: "America/New_York", after: "2026-11-01T04:00:00Z", count: 2) == [
            "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z",
        ])
        // Starting inside the second 01:00 hour: the repeat of 01:45 is not a slot.
        #expect(try cronFires("45 1 * * *", in: "America/New_York", after: "2026-11-01T06:10:00Z", count: 1) == [
            "2026-11-02T06:45:00Z",
        ])
        #expect(try cronFires("*/30 * * * *", in: "America/New_York", after: "2026-11-01T05:00:00Z", count: 3) == [
            "2026-11-01T05:30:00Z", "2026-11-01T07:00:00Z", "2026-11-01T07:30:00Z",
        ])
    }

    @Test func newYorkLastSlotFollowsTheSameRules() throws {
        let hourly = try Recurrence.cron("0 * * * *", timeZone: "America/New_York")
        #expect(hourly.lastSlot(atOrBefore: utcDate("2026-11-01T06:30:00Z")) == utcDate("2026-11-01T05:00:00Z"))
        #expect(hourly.lastSlot(atOrBefore: utcDate("2026-11-01T07:00:00Z")) == utcDate("2026-11-01T07:00:00Z"))
        let gap = try Recurrence.cron("30 2 * * *", timeZone: "America/New_York")
        #expect(gap.lastSlot(atOrBefore: utcDate("2026-03-08T07:00:00Z")) == utcDate("2026-03-08T07:00:00Z"))
        #expect(gap.lastSlot(atOrBefore: utcDate("2026-03-08T06:59:59Z")) == utcDate("2026-03-07T07:30:00Z"))
        let collapse = try Recurrence.cron("*/15 2 * * *", timeZone: "America/New_York")
        #expect(collapse.lastSlot(atOrBefore: utcDate("2026-03-08T08:00:00Z")) == utcDate("2026-03-08T07:00:00Z"))
    }

    @Test func catchUpListsEachSlotOnceAcrossTransitions() throws {
        let hourly = try Recurrence.cron("0 * * * *", timeZone: "America/New_York")
        let fallBack = hourly.slots(from: utcDate("2026-11-01T00:00:00Z"), through: utcDate("2026-11-01T12:00:00Z"), limit: 100)
        #expect(fallBack.count == 12)  // 13 hours of UTC, one local hour repeated
        #expect(Set(fallBack).count == fallBack.count)
        let springForward = hourly.slots(from: utcDate("2026-03-08T00:00:00Z"), through: utcDate("2026-03-08T12:00:00Z"), limit: 100)
        #expect(springForward.count == 13)  // 02:00 fires at 03:00 EDT, which is also the 03:00 slot
        #expect(springForward.contains(utcDate("2026-03-08T07:00:00Z")))
    }

    // MARK: Europe/Berlin: 2026-03-29 02:00 CET → 03:00 CEST (01:00Z); 2026-10-25 03:00 CEST → 02:00 CET (01:00Z).

    @Test func berlin() throws {
        #expect(try cronFires("30 2 * * *", in: "Europe/Berlin", after: "2026-03-28T12:00:00Z") == [
            "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z", "2026-03-31T00:30:00Z",
        ])
        #expect(try cronFires("30 2 * * *", in: "Europe/Berlin", after: "2026-10-24T12:00:00Z") == [
            "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z", "2026-10-27T01:30:00Z",
        ])
        #expect(try cronFires("0 6 * * MON-FRI", in: "Europe/Berlin", after: "2026-03-27T00:00:00Z") == [
            "2026-03-27T05:00:00Z", "2026-03-30T04:00:00Z", "2026-03-31T04:00:00Z",
        ])
    }

    // MARK: Australia/Lord_Howe: 30-minute DST. 2026-04-05 02:00 (+11) → 01:30 (+10:30) at 15:00Z;
    // 2026-10-04 02:00 (+10:30) → 02:30 (+11) at 15:30Z.

    @Test func lordHoweHalfHourShift() throws {
        #expect(try cronFires("45 1 * * *", in: "Australia/Lord_Howe", after: "2026-04-04T12:00:00Z", count: 2) == [
            "2026-04-04T14:45:00Z",  // first 01:45 (+11); the repeat at 15:15Z is skipped
            "2026-04-05T15:15:00Z",
        ])
        #expect(try cronFires("15 2 * * *", in: "Australia/Lord_Howe", after: "2026-10-03T12:00:00Z", count: 2) == [
            "2026-10-03T15:30:00Z", "2026-10-04T15:15:00Z",
        ])
        // 02:00, 02:10, 02:20 are missing and 02:30 is the first instant after the gap: one fire.
        #expect(try cronFires("*/10 2 * * *", in: "Australia/Lord_Howe", after: "2026-10-03T12:00:00Z", count: 3) == [
            "2026-10-03T15:30:00Z", "2026-10-03T15:40:00Z", "2026-10-03T15:50:00Z",
        ])
    }

    // MARK: Pacific/Chatham: +12:45 / +13:45. 2026-09-27 02:45 → 03:45 at 14:00Z.

    @Test func chatham() throws {
        #expect(try cronFires("0 3 * * *", in: "Pacific/Chatham", after: "2026-09-26T00:00:00Z", count: 2) == [
            "2026-09-26T14:00:00Z", "2026-09-27T13:15:00Z",
        ])
        // 2026-04-05 03:45 (+13:45) → 02:45 (+12:45) at 14:00Z: 03:00 occurs twice.
        #expect(try cronFires("0 3 * * *", in: "Pacific/Chatham", after: "2026-04-04T00:00:00Z", count: 2) == [
            "2026-04-04T13:15:00Z", "2026-04-05T14:15:00Z",
        ])
    }

    // MARK: America/Santiago: transitions at midnight. 2026-09-06 00:00 (-04) → 01:00 (-03) at 04:00Z;
    // 2026-04-05 00:00 (-03) → 2026-04-04 23:00 (-04) at 03:00Z.

    @Test func santiagoMidnightGapAndOverlap() throws {
        #expect(try cronFires("0 0 * * *", in: "America/Santiago", after: "2026-09-05T12:00:00Z", count: 2) == [
            "2026-09-06T04:00:00Z",  // midnight does not exist: 01:00 -03
            "2026-09-07T03:00:00Z",
        ])
        #expect(try cronFires("30 23 * * *", in: "America/Santiago", after: "2026-04-04T12:00:00Z", count: 2) == [
            "2026-04-05T02:30:00Z",  // first 23:30 (-03); not again at 03:30Z
            "2026-04-06T03:30:00Z",
        ])
        // Day-of-week follows the local calendar: Sunday 2026-09-06 has no midnight.
        #expect(try cronFires("0 0 * * SUN", in: "America/Santiago", after: "2026-09-01T00:00:00Z", count: 2) == [
            "2026-09-06T04:00:00Z", "2026-09-13T03:00:00Z",
        ])
    }

    // MARK: Fixed fractional offsets.

    @Test func halfHourAndQuarterHourOffsets() throws {
        #expect(try cronFires("0 0 * * *", in: "Asia/Kolkata", after: "2026-06-01T00:00:00Z", count: 2) == [
            "2026-06-01T18:30:00Z", "2026-06-02T18:30:00Z",
        ])
        #expect(try cronFires("0 9 * * *", in: "Asia/Kathmandu", after: "2026-06-01T00:00:00Z", count: 2) == [
            "2026-06-01T03:15:00Z", "2026-06-02T03:15:00Z",
        ])
        #expect(try cronFires("0 12 * * *", in: "Australia/Eucla", after: "2026-06-01T00:00:00Z", count: 1) == [
            "2026-06-01T03:15:00Z",
        ])
        // Local midnight in Kathmandu is 18:15Z the day before: day fields use the local date.
        #expect(try cronFires("0 0 1 * *", in: "Asia/Kathmandu", after: "2026-06-15T00:00:00Z", count: 1) == [
            "2026-06-30T18:15:00Z",
        ])
    }

    @Test func intervalsIgnoreWallClock() throws {
        let hourly = try Recurrence.interval(every: .seconds(3600), anchor: utcDate("2026-03-08T00:00:00Z"))
        let slots = hourly.slots(after: utcDate("2026-03-08T05:30:00Z"), count: 4)
        #expect(slots == [utcDate("2026-03-08T06:00:00Z"), utcDate("2026-03-08T07:00:00Z"),
                          utcDate("2026-03-08T08:00:00Z"), utcDate("2026-03-08T09:00:00Z")])
    }

    @Test func zoneClockHighWater() {
        let clock = ZoneClock(zone: testZone("America/New_York"))
        let secondOne = utcDate("2026-11-01T06:30:00Z").wholeSecondsSince1970!
        // During the repeated hour the wall clock has already reached 01:59:59.
        let reached = clock.highWater(at: secondOne)
        #expect(Recurrence.format(Date(wholeSecondsSince1970: reached)) == "2026-11-01T01:59:59Z")
    }
}
