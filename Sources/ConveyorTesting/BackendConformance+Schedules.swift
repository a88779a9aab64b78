import Conveyor
import Foundation
import Testing

/// Stored schedules, the scheduler's index and history, and the scheduler's policies, on the
/// store's clock.
extension BackendConformance {
    static let scheduleCases: [Case] = [
        Case(name: "stored schedules are saved, read, paged and removed, and a version never comes back", body: storedSchedules),
        Case(name: "the due index, reschedules and fires move next fires and keep a capped history", body: dueIndexAndHistory),
        Case(name: "after downtime each missed-slot policy fires what it says", body: missedSlotPolicies),
        Case(name: "a slot whose previous fire is unfinished follows the overlap policy", body: overlapPolicies),
        Case(name: "a paused schedule fires nothing, runs by hand, and catches up as told once resumed", body: pauseAndRunNow),
    ]

    static func scheduleStore(_ backend: any JobBackend) throws -> any ScheduleStore & BatchStore {
        guard let store = backend as? any ScheduleStore & BatchStore else {
            throw ConveyorError.storeFailure("\(type(of: backend)) does not keep schedules (ScheduleStore)")
        }
        return store
    }

    static let epoch = Date(timeIntervalSince1970: 0)

    /// Whether a time the store stamped lies between two readings of the test's clock taken
    /// around the call (a millisecond either side for the store's rounding to µs or ms).
    static func isBetween(_ stamped: Date, _ before: Date, _ after: Date) -> Bool {
        stamped.timeIntervalSince(before) >= -0.001 && after.timeIntervalSince(stamped) >= -0.001
    }

    static func hourly(_ name: String, missed: Schedule.MissedSlots = .skip, overlap: Schedule.Overlap = .allow) throws -> Schedule {
        Schedule(name: name, recurrence: try .interval(every: .seconds(3600), anchor: epoch),
                 target: .job(JobTemplate(name: "test.job", payload: Data(#"{"schedule":"\#(name)"}"#.utf8))),
                 missed: missed, overlap: overlap)
    }

    static func storedSchedules(_ backend: any JobBackend) async throws {
        let store = try scheduleStore(backend)
        let monthly = Schedule(
            name: "osm-monthly", recurrence: try .calendar("monthly on day 1 at 03:00", timeZone: "Europe/Berlin"),
            target: .job(JobTemplate(name: "tedi.check", payload: Data(#"{"source":"osm"}"#.utf8))), missed: .once)
        let asked = clock.now()
        let created = try #require(try await store.saveSchedule(monthly, if: .absent))
        #expect(created.schedule == monthly)
        #expect(Self.isBetween(created.createdAt, asked, clock.now()) && created.updatedAt == created.createdAt,
                "stamped with the store's time of the save")
        #expect(created.nextFire == created.createdAt, "stored, it is due at once for a scheduler to work out its slot")
        #expect(created.lastSlot == nil && created.lastFire == nil)
        #expect(try await store.saveSchedule(monthly, if: .absent) == nil, "a name is stored once")

        clock.advance(by: .seconds(5))
        var changed = monthly
        changed.jitter = .seconds(30)
        #expect(try await store.saveSchedule(changed, if: .version(created.version + 1000)) == nil)
        let updated = try #require(try await store.saveSchedule(changed, if: .version(created.version)))
        #expect(updated.version > created.version && updated.createdAt == created.createdAt && updated.updatedAt > created.updatedAt)
        #expect(updated.schedule.jitter == .seconds(30))
        var paused = changed
        paused.paused = true
        let pausedRecord = try #require(try await store.saveSchedule(paused, if: .always))
        #expect(pausedRecord.nextFire == nil, "a paused schedule leaves the due index")
        #expect(try await store.schedule(named: "osm-monthly") == pausedRecord)
        #expect(try await store.schedule(named: "no-such-schedule") == nil)

        // Pages in name order.
        for index in 0..<25 { _ = try #require(try await store.saveSchedule(try hourly(String(format: "s%02d", index)), if: .absent)) }
        var names: [String] = []
        var after: String?
        repeat {
            let page = try await store.schedules(after: after, limit: 10)
            #expect(page.count <= 10)
            names += page.map(\.schedule.name)
            after = page.count == 10 ? page.last?.schedule.name : nil
        } while after != nil
        #expect(names == ["osm-monthly"] + (0..<25).map { String(format: "s%02d", $0) })

        // Removal checks the version; a schedule stored again under the name gets a version
        // larger than every one before, so a write over an old version can never land.
        #expect(try await store.removeSchedule(named: "osm-monthly", if: .version(created.version)) == false)
        #expect(try await store.removeSchedule(named: "osm-monthly", if: .version(pausedRecord.version)))
        #expect(try await store.schedule(named: "osm-monthly") == nil)
        #expect(try await store.removeSchedule(named: "osm-monthly", if: .always) == false)
        let again = try #require(try await store.saveSchedule(monthly, if: .absent))
        let highest = try await store.allSchedules(pageSize: 7).map(\.version).max() ?? 0
        #expect(again.version == highest && again.version > pausedRecord.version)
        #expect(try await store.saveSchedule(monthly, if: .version(pausedRecord.version)) == nil)
        #expect(try await store.removeSchedule(named: "osm-monthly", if: .version(created.version)) == false)
        #expect(try await store.allSchedules(pageSize: 4).count == 26)

        // What cannot be a schedule is refused before anything is stored.
        await #expect(throws: ScheduleDefinitionError.self) {
            _ = try await store.saveSchedule(Schedule(name: "", recurrence: .manual, target: .job(JobTemplate(name: "x"))), if: .always)
        }
        await #expect(throws: ScheduleDefinitionError.self) {
            _ = try await store.saveSchedule(Schedule(name: "empty", recurrence: .manual, target: .batch(name: nil, jobs: [])), if: .always)
        }
    }

    static func dueIndexAndHistory(_ backend: any JobBackend) async throws {
        let store = try scheduleStore(backend)
        var leader = try #require(try await store.acquireLeadership("scheduler", holder: "a", ttl: .seconds(600)))
        let hourlyRecord = try #require(try await store.saveSchedule(try hourly("hourly"), if: .absent))
        _ = try #require(try await store.saveSchedule(
            Schedule(name: "on-event", recurrence: .manual, target: .job(JobTemplate(name: "test.job"))), if: .absent))
        let reading = clock.now()
        var due = try await store.dueSchedules(limit: 10)
        #expect(due.schedules.map(\.schedule.name) == ["hourly"], "an on-demand schedule is never due")
        #expect(due.nextFire == nil)
        #expect(Self.isBetween(due.now, reading, clock.now()), "the store's time of the read")

        // A reschedule lands only over the version it was computed from.
        let inAnHour = Date(timeIntervalSince1970: (clock.now().timeIntervalSince1970 / 3600).rounded(.up) * 3600)
        #expect(try await store.reschedule([
            ScheduleReschedule(schedule: "hourly", version: hourlyRecord.version + 99, nextFire: clock.now()),
            ScheduleReschedule(schedule: "hourly", version: hourlyRecord.version, nextFire: inAnHour),
        ], as: leader) == [false, true])
        due = try await store.dueSchedules(limit: 10)
        #expect(due.schedules.isEmpty && due.nextFire == inAnHour)

        // More due than the limit: the earliest, and a next fire not after now says there are more.
        for name in ["b", "c", "d"] { _ = try await store.saveSchedule(try hourly(name), if: .absent) }
        due = try await store.dueSchedules(limit: 2)
        #expect(due.schedules.count == 2)
        #expect(try #require(due.nextFire) <= due.now)
        for name in ["b", "c", "d"] { _ = try await store.removeSchedule(named: name, if: .always) }

        // A fire records the slot, moves the next fire, enqueues, and enters the history.
        clock.advance(by: .seconds(inAnHour.timeIntervalSince(clock.now()) + 1))
        leader = try #require(try await store.acquireLeadership("scheduler", holder: "a", ttl: .seconds(600)))
        due = try await store.dueSchedules(limit: 10)
        let stored = try #require(due.schedules.first)
        #expect(stored.schedule.name == "hourly" && due.schedules.count == 1)
        let schedule = stored.schedule
        var fire = schedule.fire(for: inAnHour)
        fire.version = stored.version
        fire.nextFire = inAnHour.addingTimeInterval(3600)
        let firing = clock.now()
        guard case .fired(let made) = try await store.fire([fire], as: leader).first, let first = made.first else {
            Issue.record("a due slot must fire")
            return
        }
        let after = try #require(try await store.schedule(named: "hourly"))
        #expect(after.lastSlot == inAnHour && after.nextFire == inAnHour.addingTimeInterval(3600))
        let entry = try #require(after.lastFire)
        #expect(entry.slot == inAnHour && entry.outcome == .fired && entry.firstJob == first.id && entry.jobCount == 1)
        #expect(Self.isBetween(entry.firedAt, firing, clock.now()), "the store's time of the fire")
        #expect(try await store.dueSchedules(limit: 10).schedules.isEmpty)
        let job = try #require(try await backend.job(first.id))
        #expect(job.headers[JobTemplate.scheduleHeader] == "hourly")
        #expect(job.headers[JobTemplate.slotHeader] == String(Int64(inAnHour.timeIntervalSince1970)))

        // A fire computed from an older version is refused whole.
        _ = try #require(try await store.saveSchedule(try hourly("hourly", missed: .once), if: .version(stored.version)))
        var stale = schedule.fire(for: inAnHour.addingTimeInterval(3600))
        stale.version = stored.version
        let current = try #require(try await store.schedule(named: "hourly"))
        #expect(try await store.fire([stale], as: leader) == [.outdated(version: current.version)])
        #expect(try await store.lastFiredSlot("hourly") == inAnHour)
        #expect(current.nextFire != nil && current.lastSlot == inAnHour, "an update keeps the slot record and is due at once")

        // Run-now fires outside the slots: the history says so, the slot and next fire stay.
        var now = current.schedule.fireNow(at: clock.now())
        now.version = current.version
        guard case .fired(let ran) = try await store.fireNow(now), ran.count == 1 else {
            Issue.record("run-now must enqueue")
            return
        }
        let afterRun = try #require(try await store.schedule(named: "hourly"))
        #expect(afterRun.lastFire?.outcome == .ranNow && afterRun.lastFire?.firstJob == ran.first?.id)
        #expect(afterRun.lastSlot == inAnHour && afterRun.nextFire == current.nextFire)
        var runStale = now
        runStale.version = stored.version
        #expect(try await store.fireNow(runStale) == .outdated(version: current.version))
        var labelledFired = now
        labelledFired.outcome = .fired
        _ = try await store.fireNow(labelledFired)
        #expect(try await store.fireHistory(of: "hourly", limit: 1).first?.outcome == .ranNow, "a fire by hand is recorded as one")

        // The history keeps the newest entries, newest first.
        var slot = inAnHour
        for _ in 0..<(ScheduleFireRecord.historyLimit + 5) {
            slot = slot.addingTimeInterval(3600)
            var next = current.schedule.fire(for: slot)
            next.version = current.version
            next.nextFire = slot.addingTimeInterval(3600)
            _ = try await store.fire([next], as: leader)
        }
        let history = try await store.fireHistory(of: "hourly", limit: 1000)
        #expect(history.count == ScheduleFireRecord.historyLimit)
        #expect(history.first?.slot == slot && history.map(\.slot) == history.map(\.slot).sorted(by: >))
        #expect(try await store.fireHistory(of: "hourly", limit: 3).map(\.slot) == Array(history.prefix(3).map(\.slot)))

        // Removed: its fires are refused, its history is gone, and its slot record stays.
        #expect(try await store.removeSchedule(named: "hourly", if: .always))
        var late = current.schedule.fire(for: slot.addingTimeInterval(3600))
        late.version = current.version
        #expect(try await store.fire([late], as: leader) == [.outdated(version: nil)])
        #expect(try await store.fireHistory(of: "hourly", limit: 10).isEmpty)
        #expect(try await store.lastFiredSlot("hourly") == slot)
        // A deposed leader reschedules nothing.
        clock.advance(by: .seconds(601))
        let successor = try #require(try await store.acquireLeadership("scheduler", holder: "b", ttl: .seconds(600)))
        #expect(successor.token > leader.token)
        await #expect(throws: ConveyorError.self) {
            _ = try await store.reschedule([ScheduleReschedule(schedule: "on-event", version: 1, nextFire: nil)], as: leader)
        }
    }

    /// Each job a store holds for a schedule, by slot (seconds since 1970), claimed and
    /// finished so the next fire sees its predecessor done.
    static func drainSlots(_ backend: any JobBackend, finish: Bool = true) async throws -> [String: [Int64]] {
        var slots: [String: [Int64]] = [:]
        let claimed = try await claimAll(backend)
        for job in claimed {
            guard let schedule = job.headers[JobTemplate.scheduleHeader], let slot = job.headers[JobTemplate.slotHeader].flatMap({ Int64($0) })
            else { continue }
            slots[schedule, default: []].append(slot)
        }
        if finish, !claimed.isEmpty { try await backend.complete(claimed.map { .succeeded($0.lease, output: Data()) }) }
        return slots.mapValues { $0.sorted() }
    }

    /// The next whole hour after the store's now, and the clock moved to `offset` past the
    /// `hours`-th hour after it.
    static func advance(toHour hours: Int, after start: Date, plus offset: TimeInterval) {
        let target = start.addingTimeInterval(Double(hours) * 3600 + offset)
        clock.advance(by: .seconds(target.timeIntervalSince(clock.now())))
    }

    static func nextHour(after date: Date) -> Date {
        Date(timeIntervalSince1970: ((date.timeIntervalSince1970 / 3600).rounded(.down) + 1) * 3600)
    }

    static func missedSlotPolicies(_ backend: any JobBackend) async throws {
        let store = try scheduleStore(backend)
        let scheduler = Scheduler(store: store, configuration: .init(holder: "a", lease: .seconds(600), tolerance: .seconds(60)))
        let policies: [(String, Schedule.MissedSlots)] = [
            ("skip", .skip), ("once", .once), ("catch-up-3", .catchUp(limit: 3, within: nil)),
            ("catch-up-within", .catchUp(limit: 100, within: .seconds(6300))),
        ]
        for (name, missed) in policies { _ = try #require(try await store.saveSchedule(try hourly(name, missed: missed), if: .absent)) }
        let first = nextHour(after: clock.now())
        // Stored, nothing is due before the first slot after it.
        var step = try await scheduler.step()
        #expect(step.isLeader && step.fired == 0)
        #expect(step.wait <= .seconds(201), "the leader wakes to renew within a third of its lease")
        #expect(try await store.dueSchedules(limit: 10).nextFire == first)
        #expect(try await drainSlots(backend).isEmpty)

        // Every process down for the slots 0...4; back 30 minutes after slot 4.
        advance(toHour: 4, after: first, plus: 1800)
        step = try await scheduler.step()
        let hour = { (index: Int) in Int64(first.timeIntervalSince1970) + Int64(index) * 3600 }
        var fired = try await drainSlots(backend)
        #expect(fired["skip"] == nil, "skip fires none of the missed slots")
        #expect(fired["once"] == [hour(4)], "once fires one, for the latest")
        #expect(fired["catch-up-3"] == [hour(2), hour(3), hour(4)], "catch up fires at most the latest 3")
        #expect(fired["catch-up-within"] == [hour(3), hour(4)], "catch up within 1h45m fires those within it")
        #expect(step.fired == 6)
        // The next slot is on time for all, and each fires it exactly once, however often the
        // scheduler steps.
        #expect(try await store.dueSchedules(limit: 10).nextFire == Date(timeIntervalSince1970: Double(hour(5))))
        advance(toHour: 5, after: first, plus: 10)
        _ = try await scheduler.step()
        _ = try await scheduler.step()
        fired = try await drainSlots(backend)
        #expect(fired == Dictionary(uniqueKeysWithValues: policies.map { ($0.0, [hour(5)]) }))
    }

    static func overlapPolicies(_ backend: any JobBackend) async throws {
        let store = try scheduleStore(backend)
        let scheduler = Scheduler(store: store, configuration: .init(holder: "a", lease: .seconds(600)))
        for (name, overlap) in [("allow", Schedule.Overlap.allow), ("skip", .skip), ("one", .queueOne)] {
            _ = try #require(try await store.saveSchedule(try hourly(name, overlap: overlap), if: .absent))
        }
        _ = try await scheduler.step()
        let first = nextHour(after: clock.now())
        let hour = { (index: Int) in Int64(first.timeIntervalSince1970) + Int64(index) * 3600 }
        func outcomes(_ name: String) async throws -> [ScheduleFireRecord.Outcome] {
            try await store.fireHistory(of: name, limit: 100).reversed().map(\.outcome)
        }
        // Slot 0 fires everywhere; its jobs are claimed and keep running.
        advance(toHour: 0, after: first, plus: 1)
        _ = try await scheduler.step()
        var running = try await claimAll(backend)
        #expect(running.count == 3)
        // Slot 1, while slot 0 runs: allow fires, skip records a skip, one queues behind it.
        advance(toHour: 1, after: first, plus: 1)
        _ = try await scheduler.step()
        running += try await claimAll(backend)
        #expect(running.count == 4, "only allow's job is ready; one's waits")
        #expect(try await outcomes("allow") == [.fired, .fired])
        #expect(try await outcomes("skip") == [.fired, .skipped])
        #expect(try await outcomes("one") == [.fired, .queued])
        #expect(try await store.schedule(named: "skip")?.lastFire?.batchID == "skip@\(hour(0))", "a skip names what it gave way to")
        // Slot 2: one already has one waiting, so it skips too.
        advance(toHour: 2, after: first, plus: 1)
        _ = try await scheduler.step()
        running += try await claimAll(backend)
        #expect(try await outcomes("one") == [.fired, .queued, .skipped])
        #expect(try await outcomes("skip") == [.fired, .skipped, .skipped])
        // Slot 0's jobs finish: one's queued fire of slot 1 starts; skip's next slot fires.
        let slotZero = running.filter { $0.headers[JobTemplate.slotHeader] == String(hour(0)) }
        #expect(slotZero.count == 3)
        try await backend.complete(slotZero.map { .succeeded($0.lease, output: Data()) })
        let queued = try await claimAll(backend)
        #expect(queued.map { $0.headers[JobTemplate.scheduleHeader] } == ["one"])
        #expect(queued.first?.headers[JobTemplate.slotHeader] == String(hour(1)))
        advance(toHour: 3, after: first, plus: 1)
        _ = try await scheduler.step()
        #expect(try await outcomes("skip") == [.fired, .skipped, .skipped, .fired])
        #expect(try await outcomes("one") == [.fired, .queued, .skipped, .queued], "behind slot 1, which now runs")
        #expect(try await outcomes("allow") == [.fired, .fired, .fired, .fired])
    }

    static func pauseAndRunNow(_ backend: any JobBackend) async throws {
        let store = try scheduleStore(backend)
        let scheduler = Scheduler(store: store, configuration: .init(holder: "a", lease: .seconds(600)))
        var schedule = try hourly("weekly-export", missed: .once)
        schedule.paused = true
        let stored = try #require(try await store.saveSchedule(schedule, if: .absent))
        let first = nextHour(after: clock.now())
        advance(toHour: 2, after: first, plus: 600)
        #expect(try await scheduler.step().fired == 0)
        #expect(try await drainSlots(backend).isEmpty, "paused, it fires nothing")
        // Run by hand: its job is enqueued, and the history says so.
        let ran = try await store.runScheduleNow("weekly-export")
        #expect(ran.count == 1)
        #expect(try await claimAll(backend).count == 1)
        #expect(try await store.schedule(named: "weekly-export")?.lastFire?.outcome == .ranNow)
        await #expect(throws: ConveyorError.scheduleNotFound("nothing")) { try await store.runScheduleNow("nothing") }
        // Resumed: the slots passed meanwhile are missed slots, and `once` fires the latest.
        schedule.paused = false
        _ = try #require(try await store.saveSchedule(schedule, if: .version(stored.version)))
        #expect(try await scheduler.step().fired == 1)
        let hourTwo = Int64(first.timeIntervalSince1970) + 2 * 3600
        #expect(try await drainSlots(backend) == ["weekly-export": [hourTwo]])
        #expect(try await store.schedule(named: "weekly-export")?.lastSlot == Date(timeIntervalSince1970: Double(hourTwo)))
    }
}
