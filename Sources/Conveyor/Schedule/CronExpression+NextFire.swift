import Foundation

extension CronExpression {
    /// How many days of the calendar a search walks before deciding the expression never
    /// fires again (e.g. `0 0 31 2 *`): about 28 years, longer than any leap-year gap.
    static let searchDays: Int64 = 28 * 366

    /// The first fire time strictly after an instant, on the wall clock of `zone`.
    ///
    /// A matching local time that falls in a spring-forward gap fires once, at the first
    /// instant after the gap; one that occurs twice at a fall-back fires at its first
    /// occurrence only. Returns nil when nothing matches within about 28 years.
    ///
    /// ```swift
    /// let cron = try CronExpression("30 2 * * *")
    /// let zone = try TimeZone.iana("America/New_York")
    /// cron.nextFire(after: springForwardMidnight, in: zone) // 03:00 local, 07:00 UTC
    /// ```
    public func nextFire(after instant: Date, in zone: TimeZone) -> Date? {
        guard let now = instant.wholeSecondsSince1970 else { return nil }
        let clock = ZoneClock(zone: zone)
        let offset = clock.offset(at: now)
        let firstChange = clock.transition(after: now - ZoneClock.lookback)
        // No offset change in the recent past: the wall clock is simply `now + offset`.
        let steady = firstChange.map { $0 > now } ?? true
        let reached = steady ? now + offset : clock.highWater(at: now)
        let startDay = CivilCalendar.floorDivide(reached + 1, CivilCalendar.secondsPerDay)
        guard let local = firstLocalMatch(atOrAfter: reached + 1, lastDay: startDay + Self.searchDays)
        else { return nil }
        if steady, firstChange.map({ $0 > local - offset }) ?? true {
            return Date(wholeSecondsSince1970: local - offset)
        }
        return Date(wholeSecondsSince1970: clock.firstInstant(reaching: local))
    }

    /// The latest fire time at or before an instant, on the wall clock of `zone`, under the
    /// same DST rules as ``nextFire(after:in:)``. Returns nil when nothing matched within
    /// about 28 years before it.
    public func lastFire(atOrBefore instant: Date, in zone: TimeZone) -> Date? {
        guard let now = instant.wholeSecondsSince1970 else { return nil }
        let clock = ZoneClock(zone: zone)
        let reached = clock.highWater(at: now)
        let endDay = CivilCalendar.floorDivide(reached, CivilCalendar.secondsPerDay)
        guard let local = lastLocalMatch(atOrBefore: reached, firstDay: endDay - Self.searchDays)
        else { return nil }
        return Date(wholeSecondsSince1970: clock.firstInstant(reaching: local))
    }

    // MARK: - Walking local days

    /// The first matching local time at or after `start`, walking whole days and skipping
    /// months that do not match; nil if none falls on or before `lastDay`.
    func firstLocalMatch(atOrAfter start: Int64, lastDay: Int64) -> Int64? {
        var dayNumber = CivilCalendar.floorDivide(start, CivilCalendar.secondsPerDay)
        var timeFloor = Int(start - dayNumber * CivilCalendar.secondsPerDay)
        var (year, month, day) = CivilCalendar.date(dayNumber: dayNumber)
        while dayNumber <= lastDay {
            let length = CivilCalendar.daysInMonth(year: year, month: month)
            if months & (1 << UInt16(month)) != 0 {
                var weekday = CivilCalendar.weekday(dayNumber: dayNumber)
                while day <= length {
                    if dayNumber > lastDay { return nil }
                    if dayMatches(day: day, weekday: weekday, daysInMonth: length),
                        let time = firstTime(atOrAfter: timeFloor)
                    {
                        return dayNumber * CivilCalendar.secondsPerDay + Int64(time)
                    }
                    day += 1
                    dayNumber += 1
                    weekday = weekday == 6 ? 0 : weekday + 1
                    timeFloor = 0
                }
            } else {
                dayNumber += Int64(length - day + 1)
            }
            (month, day, timeFloor) = (month + 1, 1, 0)
            if month > 12 { (year, month) = (year + 1, 1) }
        }
        return nil
    }

    /// The last matching local time at or before `end`; nil if none falls on or after `firstDay`.
    func lastLocalMatch(atOrBefore end: Int64, firstDay: Int64) -> Int64? {
        var dayNumber = CivilCalendar.floorDivide(end, CivilCalendar.secondsPerDay)
        var timeCeiling = Int(end - dayNumber * CivilCalendar.secondsPerDay)
        var (year, month, day) = CivilCalendar.date(dayNumber: dayNumber)
        while dayNumber >= firstDay {
            let length = CivilCalendar.daysInMonth(year: year, month: month)
            if months & (1 << UInt16(month)) != 0 {
                var weekday = CivilCalendar.weekday(dayNumber: dayNumber)
                while day >= 1 {
                    if dayNumber < firstDay { return nil }
                    if dayMatches(day: day, weekday: weekday, daysInMonth: length),
                        let time = lastTime(atOrBefore: timeCeiling)
                    {
                        return dayNumber * CivilCalendar.secondsPerDay + Int64(time)
                    }
                    day -= 1
                    dayNumber -= 1
                    weekday = weekday == 0 ? 6 : weekday - 1
                    timeCeiling = Self.lastSecondOfDay
                }
            } else {
                dayNumber -= Int64(day)
            }
            month -= 1
            if month < 1 { (year, month) = (year - 1, 12) }
            (day, timeCeiling) = (CivilCalendar.daysInMonth(year: year, month: month), Self.lastSecondOfDay)
        }
        return nil
    }

    private static let lastSecondOfDay = 86_399

    /// Day-of-month and day-of-week together: AND when either is a wildcard, OR otherwise.
    private func dayMatches(day: Int, weekday: Int, daysInMonth: Int) -> Bool {
        let byMonthDay =
            daysOfMonth & (1 << UInt32(day)) != 0
            || daysBeforeLast & (1 << UInt32(daysInMonth - day)) != 0
        let byWeekday =
            daysOfWeek & (1 << UInt8(weekday)) != 0
            || nthWeekdays & (1 << UInt64(weekday * 8 + (day - 1) / 7 + 1)) != 0
        switch (dayOfMonthIsWildcard, dayOfWeekIsWildcard) {
        case (true, true): return true
        case (true, false): return byWeekday
        case (false, true): return byMonthDay
        case (false, false): return byMonthDay || byWeekday
        }
    }

    // MARK: - Times within a day

    /// The first matching second of the day at or after `floor`.
    private func firstTime(atOrAfter floor: Int) -> Int? {
        let (floorHour, floorMinute, floorSecond) = (floor / 3600, floor / 60 % 60, floor % 60)
        var hour = Self.bit(in: UInt64(hours), atOrAfter: floorHour)
        while let h = hour {
            var minute = Self.bit(in: minutes, atOrAfter: h == floorHour ? floorMinute : 0)
            while let m = minute {
                let secondStart = (h == floorHour && m == floorMinute) ? floorSecond : 0
                if let s = Self.bit(in: seconds, atOrAfter: secondStart) { return h * 3600 + m * 60 + s }
                minute = Self.bit(in: minutes, atOrAfter: m + 1)
            }
            hour = Self.bit(in: UInt64(hours), atOrAfter: h + 1)
        }
        return nil
    }

    /// The last matching second of the day at or before `ceiling`.
    private func lastTime(atOrBefore ceiling: Int) -> Int? {
        let (ceilingHour, ceilingMinute, ceilingSecond) = (ceiling / 3600, ceiling / 60 % 60, ceiling % 60)
        var hour = Self.bit(in: UInt64(hours), atOrBefore: ceilingHour)
        while let h = hour {
            var minute = Self.bit(in: minutes, atOrBefore: h == ceilingHour ? ceilingMinute : 59)
            while let m = minute {
                let secondEnd = (h == ceilingHour && m == ceilingMinute) ? ceilingSecond : 59
                if let s = Self.bit(in: seconds, atOrBefore: secondEnd) { return h * 3600 + m * 60 + s }
                minute = Self.bit(in: minutes, atOrBefore: m - 1)
            }
            hour = Self.bit(in: UInt64(hours), atOrBefore: h - 1)
        }
        return nil
    }

    /// The lowest set bit at or above `index`.
    private static func bit(in bits: UInt64, atOrAfter index: Int) -> Int? {
        guard index < 64 else { return nil }
        let masked = bits & (~0 << UInt64(index))
        return masked == 0 ? nil : masked.trailingZeroBitCount
    }

    /// The highest set bit at or below `index`.
    private static func bit(in bits: UInt64, atOrBefore index: Int) -> Int? {
        guard index >= 0 else { return nil }
        let masked = index >= 63 ? bits : bits & ((1 << UInt64(index + 1)) - 1)
        return masked == 0 ? nil : 63 - masked.leadingZeroBitCount
    }
}
