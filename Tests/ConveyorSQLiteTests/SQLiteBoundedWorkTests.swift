import Conveyor
import ConveyorSQLite
import ConveyorTesting
import Foundation
import Synchronization
import Testing

/// On a file holding a million finished jobs, the calls that walk them (listing dead jobs
/// newest first, retrying every dead job, purging) hold the single writer for short steps
/// only: a running job's heartbeats, every 200 ms on a 2 s lease, all get through and its
/// lease is never lost, while recovery runs beside them as a worker's would (issue 11, item 2).
@Suite("SQLite bounded work")
struct SQLiteBoundedWorkTests {
    @Test func callsOverAMillionFinishedJobsNeverMakeARunningJobsHeartbeatMiss() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try SQLiteBackend(path: directory.file("million.sqlite"))
        let total = 1_000_000, dead = 100_000
        try await fillWithFinishedJobs(store, total: total, dead: dead)
        #expect(try await store.queueStats().first { $0.queue == "default" }?.counts == [.succeeded: total - dead, .dead: dead])

        // The running job whose lease must hold throughout.
        _ = try await store.enqueue(NewJob(name: "live", queue: "live", payload: Data("{}".utf8)))
        let live = try #require(try await store.claim(queues: ["live"], limit: 1, lease: .seconds(2), workerID: "live").first)
        let lost = Atomic(0), beats = Atomic(0), slowest = Mutex(Duration.zero)
        let done = Atomic(false)
        let heartbeats = Task {
            let clock = ContinuousClock()
            while !done.load(ordering: .relaxed) {
                let started = clock.now
                let missed = try await store.heartbeat([live.lease], lease: .seconds(2))
                let took = clock.now - started
                slowest.withLock { $0 = max($0, took) }
                lost.add(missed.count, ordering: .relaxed)
                beats.add(1, ordering: .relaxed)
                _ = try await store.recoverExpiredLeases()
                try await Task.sleep(for: .milliseconds(200))
            }
        }

        let newest = try await store.jobs(JobQuery(states: [.dead], limit: 50, newestFirst: true))
        #expect(newest.count == 50)
        #expect(newest.map(\.id) == newest.map(\.id).sorted(by: >))
        let (moved, stayed) = try await store.retryAllDead(queue: "default")
        #expect(moved == dead && stayed == 0)
        #expect(try await store.purge(PurgeRequest(queue: "default")) == total - dead)
        #expect(try await store.purge(PurgeRequest(queue: "default", states: [.ready])) == dead)
        done.store(true, ordering: .relaxed)
        try await heartbeats.value

        #expect(lost.load(ordering: .relaxed) == 0, "the running job's lease was lost")
        #expect(beats.load(ordering: .relaxed) > 10)
        let record = try #require(try await store.job(live.id))
        #expect(record.state == .active && record.attempt == 1)
        #expect(try await store.queueStats().first { $0.queue == "default" }?.total == 0)
        print("SQLite bounded work: \(beats.load(ordering: .relaxed)) heartbeats, slowest \(slowest.withLock { $0 })")
    }
}
