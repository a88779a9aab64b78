import Foundation
import Testing

@testable import Conveyor

/// Stored schedules: what they are, which slots they fire after downtime, and their fires.
@Suite("Schedules")
struct ScheduleTests {
    static let hourly = try! Recurrence.cron("0 * * * *", timeZone: "UTC")
    static let export = JobTemplate(name: "tradestat.export", queue: "tradestat", payload: Data(#"{"hsn":"09011112"}"#.utf8))

    static func schedule(_ missed: Schedule.MissedSlots = .skip, paused: Bool = false) -> Schedule {
        Schedule(name: "hourly-export", recurrence: hourly, target: .job(export), missed: missed, paused: paused)
    }

    static let stored = utcDate("2026-03-01T00:30:00Z")
    static let tolerance = Duration.seconds(60)

    func slots(_ schedule: Schedule, lastFired: String?, now: String) -> [String] {
        schedule.slotsToFire(lastFired: lastFired.map(utcDate), storedAt: Self.stored, now: utcDate(now), tolerance: Self.tolerance)
            .map(Recurrence.format)
    }

    @Test func aSlotJustDueFiresUnderEveryPolicy() {
        for missed in [Schedule.MissedSlots.skip, .once, .catchUp(limit: 5, within: nil)] {
            #expect(slots(Self.schedule(missed), lastFired: nil, now: "2026-03-01T01:00:02Z") == ["2026-03-01T01:00:00Z"])
            #expect(slots(Self.schedule(missed), lastFired: "2026-03-01T01:00:00Z", now: "2026-03-01T01:00:30Z").isEmpty,
                    "a slot fires once")
        }
        #expect(slots(Self.schedule(), lastFired: nil, now: "2026-03-01T00:59:59Z").isEmpty, "nothing due yet")
        #expect(slots(Self.schedule(.once), lastFired: nil, now: "2026-03-01T00:45:00Z").isEmpty,
                "the 00:00 slot came before the schedule was stored")
    }

    @Test func afterDowntimeEachPolicyFiresWhatItSays() {
        // Last fire at 01:00; the scheduler comes back at 05:20: 02:00 to 05:00 were missed.
        let last = "2026-03-01T01:00:00Z", now = "2026-03-01T05:20:00Z"
        #expect(slots(Self.schedule(.skip), lastFired: last, now: now).isEmpty, "skip waits for 06:00")
        #expect(slots(Self.schedule(.once), lastFired: last, now: now) == ["2026-03-01T05:00:00Z"])
        #expect(slots(Self.schedule(.catchUp(limit: 10, within: nil)), lastFired: last, now: now)
                == ["2026-03-01T02:00:00Z", "2026-03-01T03:00:00Z", "2026-03-01T04:00:00Z", "2026-03-01T05:00:00Z"])
        #expect(slots(Self.schedule(.catchUp(limit: 2, within: nil)), lastFired: last, now: now)
                == ["2026-03-01T04:00:00Z", "2026-03-01T05:00:00Z"], "the latest two")
        #expect(slots(Self.schedule(.catchUp(limit: 10, within: .seconds(3 * 3600))), lastFired: last, now: now)
                == ["2026-03-01T03:00:00Z", "2026-03-01T04:00:00Z", "2026-03-01T05:00:00Z"], "within three hours of now")
        // A year down with a per-second schedule still costs only `limit` slots.
        let secondly = Schedule(name: "s", recurrence: try! .cron("* * * * * *", timeZone: "UTC"), target: .job(Self.export),
                                missed: .catchUp(limit: 3, within: nil))
        #expect(slots(secondly, lastFired: "2025-03-01T00:00:00Z", now: "2026-03-01T05:20:00Z")
                == ["2026-03-01T05:19:58Z", "2026-03-01T05:19:59Z", "2026-03-01T05:20:00Z"])
    }

    @Test func pausedAndOnDemandSchedulesFireNothingByThemselves() throws {
        #expect(slots(Self.schedule(.once, paused: true), lastFired: nil, now: "2026-03-01T05:00:00Z").isEmpty)
        #expect(Self.schedule(paused: true).nextSlot(lastFired: nil, storedAt: Self.stored) == nil)
        let manual = Schedule(name: "on-event", recurrence: .manual, target: .job(Self.export))
        #expect(slots(manual, lastFired: nil, now: "2027-01-01T00:00:00Z").isEmpty)
        #expect(manual.nextSlot(lastFired: nil, storedAt: Self.stored) == nil)
        #expect(Self.schedule().nextSlot(lastFired: utcDate("2026-03-01T01:00:00Z"), storedAt: Self.stored) == utcDate("2026-03-01T02:00:00Z"))
    }

    @Test func aFireNamesItsScheduleAndSlotAndABatchFireIsOneBatch() {
        let slot = utcDate("2026-03-02T02:00:00Z")
        let one = Self.schedule().fire(for: slot)
        #expect(one.schedule == "hourly-export" && one.slot == slot)
        #expect(one.jobs.count == 1)
        #expect(one.jobs[0].name == "tradestat.export" && one.jobs[0].queue == "tradestat")
        #expect(one.jobs[0].headers == ["conveyor-schedule": "hourly-export", "conveyor-slot": "1772416800"])
        #expect(one.jobs[0].batchID == nil)

        let codes = (0..<11_000).map { JobTemplate(name: "tradestat.export", payload: Data(#"{"hsn":"\#($0)"}"#.utf8)) }
        let weekly = Schedule(name: "weekly", recurrence: try! .calendar("weekly on monday at 02:00", timeZone: "Asia/Kolkata"),
                              target: .batch(name: "weekly re-run", jobs: codes), missed: .once)
        let fire = weekly.fire(for: slot)
        #expect(fire.jobs.count == 11_000)
        #expect(Set(fire.jobs.map(\.batchID)) == ["weekly@1772416800"])
    }

    @Test func jitterSpreadsFiresButKeepsEachSchedulesOffset() {
        var spread = Self.schedule()
        spread.jitter = .seconds(30)
        let slot = utcDate("2026-03-01T02:00:00Z")
        let fireTime = spread.fireTime(for: slot)
        #expect(fireTime >= slot && fireTime < slot.addingTimeInterval(30))
        #expect(fireTime == spread.fireTime(for: slot))
        #expect(Self.schedule().fireTime(for: slot) == slot)
    }

    @Test func badDefinitionsAreRefusedWithTheirReason() {
        func reason(_ schedule: Schedule, known: Set<String>? = nil) -> String? {
            do {
                try schedule.validate(knownJobNames: known)
                return nil
            } catch {
                return error.description
            }
        }
        #expect(reason(Self.schedule(), known: ["tradestat.export"]) == nil)
        #expect(reason(Self.schedule(), known: ["other.job"])
                == "schedule 'hourly-export' is invalid: its job 'tradestat.export' is not a registered job type (registered: other.job)")
        #expect(reason(Schedule(name: "", recurrence: Self.hourly, target: .job(Self.export)))?.contains("name") == true)
        #expect(reason(Schedule(name: "x", recurrence: Self.hourly, target: .batch(name: nil, jobs: [])))?.contains("enqueues no job") == true)
        #expect(reason(Self.schedule(.catchUp(limit: 0, within: nil)))?.contains("at least 1 slot") == true)
        #expect(reason(Self.schedule(.catchUp(limit: 3, within: .seconds(-5))))?.contains("not a positive window") == true)
        #expect(reason(Schedule(name: "m", recurrence: .manual, target: .job(Self.export), missed: .once))?.contains("on-demand") == true)
    }

    @Test func aScheduleSurvivesItsStoredFormExactly() throws {
        var schedule = Schedule(
            name: "faostat-quarterly", recurrence: try .calendar("quarterly at 03:00", timeZone: "Europe/Rome"),
            target: .batch(name: "FAOSTAT", jobs: [Self.export, JobTemplate(name: "b", headers: ["tenant": "42"])]),
            missed: .catchUp(limit: 4, within: .seconds(86_400 * 90)), overlap: .queueOne, jitter: .milliseconds(1500))
        schedule.paused = true
        let stored = try JSONEncoder().encode(schedule)
        #expect(try JSONDecoder().decode(Schedule.self, from: stored) == schedule)
    }
}
