import Foundation
import Testing

@testable import Conveyor

@Suite("Cron parsing")
struct CronParsingTests {
    @Test func fiveFieldsFillEveryField() throws {
        let cron = try CronExpression("5 6 7 8 2")
        #expect(!cron.hasSeconds)
        #expect(cron.seconds == 1)
        #expect(cron.minutes == 1 << 5)
        #expect(cron.hours == 1 << 6)
        #expect(cron.daysOfMonth == 1 << 7)
        #expect(cron.months == 1 << 8)
        #expect(cron.daysOfWeek == 1 << 2)
    }

    @Test func sixFieldsPutSecondsFirst() throws {
        let cron = try CronExpression("30 5 6 * * *")
        #expect(cron.hasSeconds)
        #expect(cron.seconds == 1 << 30)
        #expect(cron.minutes == 1 << 5)
        #expect(cron.hours == 1 << 6)
        #expect(try cronFires("30 0 6 * * *", in: "UTC", after: "2026-01-01T06:00:30Z", count: 1) == ["2026-01-02T06:00:30Z"])
    }

    @Test func wildcardsStepsRangesAndLists() throws {
        #expect(try CronExpression("* * * * *").minutes == (1 << 60) - 1)
        #expect(try CronExpression("*/15 * * * *").minutes == bits(0, 15, 30, 45))
        #expect(try CronExpression("10-30/10 * * * *").minutes == bits(10, 20, 30))
        #expect(try CronExpression("10/20 * * * *").minutes == bits(10, 30, 50))
        #expect(try CronExpression("1,2,5-7 * * * *").minutes == bits(1, 2, 5, 6, 7))
        #expect(try CronExpression("0 */6 * * *").hours == UInt32(bits(0, 6, 12, 18)))
        #expect(try CronExpression("0 0 */10 * *").daysOfMonth == UInt32(bits(1, 11, 21, 31)))
        #expect(try CronExpression("0 0 1 */4 *").months == UInt16(bits(1, 5, 9)))
        #expect(try CronExpression("0 0 * * */2").daysOfWeek == UInt8(bits(0, 2, 4, 6)))
        #expect(try CronExpression("*/90 * * * *").minutes == bits(0))
    }

    @Test func namesInAnyCaseAndInRanges() throws {
        #expect(try CronExpression("0 0 1 jan,Jul *").months == UInt16(bits(1, 7)))
        #expect(try CronExpression("0 0 1 FEB-apr *").months == UInt16(bits(2, 3, 4)))
        #expect(try CronExpression("0 0 * * mon-FRI").daysOfWeek == UInt8(bits(1, 2, 3, 4, 5)))
        #expect(try CronExpression("0 0 * * SUN,sat").daysOfWeek == UInt8(bits(0, 6)))
        #expect(try CronExpression("0 0 * * MON-FRI/2").daysOfWeek == UInt8(bits(1, 3, 5)))
    }

    @Test func sundayIsZeroAndSeven() throws {
        #expect(try CronExpression("0 0 * * 7").daysOfWeek == UInt8(bits(0)))
        #expect(try CronExpression("0 0 * * 0").daysOfWeek == UInt8(bits(0)))
        #expect(try CronExpression("0 0 * * 5-7").daysOfWeek == UInt8(bits(0, 5, 6)))
        #expect(try CronExpression("0 0 * * FRI-7").daysOfWeek == UInt8(bits(0, 5, 6)))
        #expect(try CronExpression("0 0 * * 0-7").daysOfWeek == 0x7f)
    }

    @Test func questionMarkIsWildcardInDayFields() throws {
        let cron = try CronExpression("0 0 ? * MON")
        #expect(cron.dayOfMonthIsWildcard)
        #expect(!cron.dayOfWeekIsWildcard)
        #expect(try CronExpression("0 0 1 * ?").dayOfWeekIsWildcard)
        #expect(try cronFires("0 12 ? * MON", in: "UTC", after: "2026-01-01T00:00:00Z", count: 2)
            == ["2026-01-05T12:00:00Z", "2026-01-12T12:00:00Z"])
    }

    @Test func lastDayOfMonth() throws {
        #expect(try cronFires("0 0 L * *", in: "UTC", after: "2028-01-31T00:00:00Z", count: 4) == [
            "2028-02-29T00:00:00Z", "2028-03-31T00:00:00Z", "2028-04-30T00:00:00Z", "2028-05-31T00:00:00Z",
        ])
        #expect(try cronFires("0 0 L-1 * *", in: "UTC", after: "2027-02-01T00:00:00Z", count: 2)
            == ["2027-02-27T00:00:00Z", "2027-03-30T00:00:00Z"])
        #expect(try cronFires("0 0 1,l * *", in: "UTC", after: "2026-04-01T00:00:00Z", count: 2)
            == ["2026-04-30T00:00:00Z", "2026-05-01T00:00:00Z"])
    }

    @Test func nthWeekdayOfMonth() throws {
        // Third Mondays of 2026: Jan 19, Feb 16, Mar 16.
        let expected = ["2026-01-19T09:00:00Z", "2026-02-16T09:00:00Z", "2026-03-16T09:00:00Z"]
        #expect(try cronFires("0 9 * * MON#3", in: "UTC", after: "2026-01-01T00:00:00Z") == expected)
        #expect(try cronFires("0 9 * * 1#3", in: "UTC", after: "2026-01-01T00:00:00Z") == expected)
        // Fifth Friday exists only in some months: 2026-01-30, 2026-05-29, 2026-07-31.
        #expect(try cronFires("0 0 * * FRI#5", in: "UTC", after: "2026-01-01T00:00:00Z") == [
            "2026-01-30T00:00:00Z", "2026-05-29T00:00:00Z", "2026-07-31T00:00:00Z",
        ])
        // Sunday written as 7.
        #expect(try cronFires("0 0 * * 7#1", in: "UTC", after: "2026-01-01T00:00:00Z", count: 1) == ["2026-01-04T00:00:00Z"])
    }

    @Test func restrictedDayFieldsCombineWithOr() throws {
        // 13th of the month or any Friday (Vixie cron / croniter).
        #expect(try cronFires("0 0 13 * FRI", in: "UTC", after: "2026-02-01T00:00:00Z", count: 4) == [
            "2026-02-06T00:00:00Z", "2026-02-13T00:00:00Z", "2026-02-20T00:00:00Z", "2026-02-27T00:00:00Z",
        ])
        #expect(try cronFires("0 0 10 * MON#1", in: "UTC", after: "2026-02-01T00:00:00Z", count: 3) == [
            "2026-02-02T00:00:00Z", "2026-02-10T00:00:00Z", "2026-03-02T00:00:00Z",
        ])
        #expect(try cronFires("0 0 L * SUN", in: "UTC", after: "2026-02-20T00:00:00Z", count: 3) == [
            "2026-02-22T00:00:00Z", "2026-02-28T00:00:00Z", "2026-03-01T00:00:00Z",
        ])
    }

    @Test func dayFieldListingEveryValueIsStillRestricted() throws {
        // Only `*` and `?` make a day field a wildcard (as in Vixie cron): `1-31` with a
        // weekday is an OR, so every day. croniter treats a full list as `*` here (AND).
        #expect(try cronFires("0 0 1-31 * MON", in: "UTC", after: "2026-02-01T00:00:00Z", count: 2)
            == ["2026-02-02T00:00:00Z", "2026-02-03T00:00:00Z"])
        #expect(try cronFires("0 0 */10 * 0-6", in: "UTC", after: "2026-02-01T00:00:00Z", count: 2)
            == ["2026-02-02T00:00:00Z", "2026-02-03T00:00:00Z"])
    }

    @Test func wildcardDayFieldCombinesWithAnd() throws {
        #expect(try cronFires("0 0 * * FRI", in: "UTC", after: "2026-02-01T00:00:00Z", count: 2)
            == ["2026-02-06T00:00:00Z", "2026-02-13T00:00:00Z"])
        #expect(try cronFires("0 0 13 * *", in: "UTC", after: "2026-02-01T00:00:00Z", count: 2)
            == ["2026-02-13T00:00:00Z", "2026-03-13T00:00:00Z"])
    }

    @Test func nicknames() throws {
        let expansions = [
            "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
            "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
        ]
        for (nickname, expansion) in expansions {
            let named = try CronExpression(nickname.uppercased())
            let spelled = try CronExpression(expansion)
            #expect(named.source == nickname)
            #expect(named.renamed(expansion) == spelled, "\(nickname)")
        }
    }

    @Test func sourceIsNormalizedAndEncoded() throws {
        let cron = try CronExpression("  0   6 *\t* MON-FRI ")
        #expect(cron.source == "0 6 * * MON-FRI")
        #expect(cron.description == "0 6 * * MON-FRI")
        let data = try JSONEncoder().encode(cron)
        #expect(String(decoding: data, as: UTF8.self) == "\"0 6 * * MON-FRI\"")
        #expect(try JSONDecoder().decode(CronExpression.self, from: data) == cron)
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(CronExpression.self, from: Data("\"0 24 * * *\"".utf8))
        }
    }

    @Test func neverMatchingExpressionGivesUp() throws {
        let never = try CronExpression("0 0 31 2 *")
        #expect(never.nextFire(after: utcDate("2026-01-01T00:00:00Z"), in: testZone("UTC")) == nil)
        #expect(never.lastFire(atOrBefore: utcDate("2026-01-01T00:00:00Z"), in: testZone("UTC")) == nil)
        #expect(try CronExpression("0 0 30 2 *").nextFire(after: utcDate("2026-01-01T00:00:00Z"), in: testZone("Europe/Berlin")) == nil)
    }

    @Test func leapDayAndRareCombinations() throws {
        #expect(try cronFires("0 0 29 2 *", in: "UTC", after: "2026-01-01T00:00:00Z", count: 2)
            == ["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"])
        // Across the skipped leap year 2100.
        #expect(try cronFires("0 0 29 2 *", in: "UTC", after: "2096-03-01T00:00:00Z", count: 1) == ["2104-02-29T00:00:00Z"])
        // OR semantics: Feb 29 or any Monday in February.
        #expect(try cronFires("0 0 29 2 MON", in: "UTC", after: "2026-01-01T00:00:00Z", count: 2)
            == ["2026-02-02T00:00:00Z", "2026-02-09T00:00:00Z"])
    }

    @Test func lastFireWalksBackwards() throws {
        let weekdays = try Recurrence.cron("0 6 * * MON-FRI", timeZone: "UTC")
        // Sunday 2026-01-04 → Friday 2026-01-02 06:00.
        #expect(weekdays.lastSlot(atOrBefore: utcDate("2026-01-04T12:00:00Z")) == utcDate("2026-01-02T06:00:00Z"))
        #expect(weekdays.lastSlot(atOrBefore: utcDate("2026-01-02T06:00:00Z")) == utcDate("2026-01-02T06:00:00Z"))
        #expect(weekdays.lastSlot(atOrBefore: utcDate("2026-01-02T05:59:59Z")) == utcDate("2026-01-01T06:00:00Z"))
        let seconds = try Recurrence.cron("*/20 30 9 L * *", timeZone: "UTC")
        #expect(seconds.lastSlot(atOrBefore: utcDate("2026-03-01T00:00:00Z")) == utcDate("2026-02-28T09:30:40Z"))
    }

    private func bits(_ values: Int...) -> UInt64 {
        values.reduce(0) { $0 | 1 << UInt64($1) }
    }
}
