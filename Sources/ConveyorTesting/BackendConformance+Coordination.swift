import Conveyor
import Foundation
import Testing

/// Coordination and schedule fires (the contract the schedules issue builds on).
extension BackendConformance {
    static let coordinationCases: [Case] = [
        Case(name: "a leadership has one holder at a time and its token grows with each new holder", body: leadership),
        Case(name: "compare-and-set writes only over the version it read", body: compareAndSet),
        Case(name: "a schedule fires once per slot, only for its current leader, and the slot outlives its jobs", body: scheduleFires),
    ]

    static func coordination(_ backend: any JobBackend) throws -> any ScheduleStore {
        guard let store = backend as? any ScheduleStore else {
            throw ConveyorError.storeFailure("\(type(of: backend)) does not support coordination and schedules (ScheduleStore)")
        }
        return store
    }

    static func leadership(_ backend: any JobBackend) async throws {
        let store = try coordination(backend)
        let asked = clock.now()
        let first = try #require(try await store.acquireLeadership("scheduler", holder: "a", ttl: .seconds(600)))
        #expect(first.holder == "a")
        // Ten minutes from when the store granted it, which was between these two readings.
        #expect(first.expiresAt >= asked.addingTimeInterval(599.999) && first.expiresAt <= clock.now().addingTimeInterval(600.001))
        // Another holder waits while the lease runs; the holder renews with the same token. (Leases
        // of 10 minutes, steps of 5-6: the real time a loaded machine adds cannot end one early.)
        #expect(try await store.acquireLeadership("scheduler", holder: "b", ttl: .seconds(600)) == nil)
        clock.advance(by: .seconds(360))
        let renewed = try #require(try await store.acquireLeadership("scheduler", holder: "a", ttl: .seconds(600)))
        #expect(renewed.token == first.token)
        clock.advance(by: .seconds(360))
        #expect(try await store.acquireLeadership("scheduler", holder: "b", ttl: .seconds(600)) == nil, "renewed: still a's")
        // a stops renewing: once its lease ends, b takes over with a larger token, and a cannot renew.
        clock.advance(by: .seconds(300))
        let second = try #require(try await store.acquireLeadership("scheduler", holder: "b", ttl: .seconds(600)))
        #expect(second.token > first.token)
        #expect(try await store.acquireLeadership("scheduler", holder: "a", ttl: .seconds(600)) == nil)
        // A stale release changes nothing; b's own release frees it at once, and tokens never go back.
        try await store.releaseLeadership(first)
        #expect(try await store.acquireLeadership("scheduler", holder: "a", ttl: .seconds(600)) == nil)
        try await store.releaseLeadership(second)
        let third = try #require(try await store.acquireLeadership("scheduler", holder: "a", ttl: .seconds(600)))
        #expect(third.token > second.token)
        // Names are apart.
        #expect(try await store.acquireLeadership("other", holder: "b", ttl: .seconds(600)) != nil)
    }

    static func compareAndSet(_ backend: any JobBackend) async throws {
        let store = try coordination(backend)
        #expect(try await store.record("breaker:host:example.org") == nil)
        let created = try #require(try await store.compareAndSet("breaker:host:example.org", expectedVersion: nil, value: Data("closed".utf8)))
        #expect(created.version == 1)
        // Written by someone else meanwhile: both a create and a stale update are refused.
        #expect(try await store.compareAndSet("breaker:host:example.org", expectedVersion: nil, value: Data("x".utf8)) == nil)
        #expect(try await store.compareAndSet("breaker:host:example.org", expectedVersion: 7, value: Data("x".utf8)) == nil)
        let updated = try #require(try await store.compareAndSet("breaker:host:example.org", expectedVersion: 1, value: Data("open".utf8)))
        #expect(updated.version == 2)
        #expect(try await store.record("breaker:host:example.org") == VersionedRecord(key: "breaker:host:example.org", value: Data("open".utf8), version: 2))
    }

    static func scheduleFires(_ backend: any JobBackend) async throws {
        let store = try coordination(backend)
        let leader = try #require(try await store.acquireLeadership("scheduler", holder: "a", ttl: .seconds(10)))
        let monday = Date(timeIntervalSince1970: 1_796_000_000)
        let weekly = ScheduleFire(schedule: "weekly-export", slot: monday, jobs: [job(batch: "export-1"), job(batch: "export-1")])
        guard case .fired(let made) = try await store.fire([weekly], as: leader).first else {
            Issue.record("the first fire of a slot must enqueue")
            return
        }
        #expect(made.count == 2)
        #expect(try await store.lastFiredSlot("weekly-export") == monday)
        // The same slot again, or an older one, enqueues nothing (a second scheduler, a retry).
        #expect(try await store.fire([weekly], as: leader) == [.alreadyFired(lastSlot: monday)])
        var older = weekly
        older.slot = monday.addingTimeInterval(-7 * 86_400)
        #expect(try await store.fire([older], as: leader) == [.alreadyFired(lastSlot: monday)])
        let claimed = try await claimAll(backend)
        #expect(claimed.count == 2)
        // Its jobs finish and are purged: the slot's record stays, so it never fires again.
        try await backend.complete(claimed.map { .succeeded($0.lease, output: Data()) })
        _ = try await backend.purge(PurgeRequest())
        #expect(try await store.fire([weekly], as: leader) == [.alreadyFired(lastSlot: monday)])
        // A deposed leader's late fire is refused by its token, and nothing is enqueued.
        clock.advance(by: .seconds(11))
        let next = try #require(try await store.acquireLeadership("scheduler", holder: "b", ttl: .seconds(10)))
        var nextWeek = weekly
        nextWeek.slot = monday.addingTimeInterval(7 * 86_400)
        await #expect(throws: ConveyorError.self) { _ = try await store.fire([nextWeek], as: leader) }
        #expect(try await store.lastFiredSlot("weekly-export") == monday)
        #expect(try await backend.queueStats().first { $0.queue == "default" }?.pending ?? 0 == 0)
        let fired = try await store.fire([nextWeek, nextWeek], as: next)
        #expect(fired.count == 2)
        if case .fired(let jobs) = fired.first { #expect(jobs.count == 2) } else { Issue.record("the new leader's fire must enqueue") }
        #expect(fired.last == .alreadyFired(lastSlot: nextWeek.slot))
        // A fire with no jobs still records its slot (a manual-only schedule's "ran now").
        #expect(try await store.fire([ScheduleFire(schedule: "on-event", slot: monday, jobs: [])], as: next) == [.fired([])])
        #expect(try await store.lastFiredSlot("on-event") == monday)
    }
}
