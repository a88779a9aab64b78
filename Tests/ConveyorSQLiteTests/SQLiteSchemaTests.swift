import Conveyor
import ConveyorTesting
import Foundation
import GRDB
import Testing

@testable import ConveyorSQLite

/// The schema grows by migrations: a file an earlier version made opens with its jobs intact.
@Suite("SQLite schema migrations")
struct SQLiteSchemaTests {
    /// A store file as the first schema made it (before the migrator: tables, `user_version` 1,
    /// no migration records), holding jobs in several states, upgrades in place.
    @Test func aFileFromTheFirstSchemaUpgradesWithItsJobsIntact() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("old.sqlite")
        do {
            let old = try DatabaseQueue(path: path)
            try await old.write { db in
                try db.execute(sql: SQLiteSchema.v1)
                try db.execute(sql: """
                    INSERT INTO jobs (name, queue, payload, priority, state, max_attempts, timeout_us, run_at, created_at, finished_at, result)
                    VALUES ('export', 'default', X'7B7D', 5, 1, 3, 60000000, 1, 1, NULL, NULL),
                           ('export', 'default', X'7B7D', 5, 3, 3, 60000000, 1, 1, 2, X'3432');
                    INSERT INTO queues (name) VALUES ('default');
                    """)
            }
            try old.close()
        }
        let store = try SQLiteBackend(path: path)
        #expect(try await store.job(JobID(1))?.state == .ready)
        let done = try #require(try await store.job(JobID(2)))
        #expect(done.state == .succeeded)
        #expect(done.result == Data("42".utf8))
        let applied = try await store.database.read { try SQLiteSchema.migrator.appliedIdentifiers($0) }
        #expect(applied == Set(SQLiteSchema.migrator.migrations))
        let indexes = try await store.database.read { try String.fetchAll($0, sql: "SELECT name FROM sqlite_master WHERE type = 'index'") }
        #expect(indexes.contains("batches_finished"))
        // The queue counters (v5) were filled from the jobs the file held.
        #expect(try await store.queueStats() == [QueueStats(queue: "default", counts: [.ready: 1, .succeeded: 1])])
        // And it still works as a store.
        let claimed = try await store.claim(queues: ["default"], limit: 10, lease: .seconds(30), workerID: "w")
        #expect(claimed.map(\.id) == [JobID(1)])
        #expect(try await store.queueStats() == [QueueStats(queue: "default", counts: [.active: 1, .succeeded: 1])])
        // Opening it again changes nothing.
        _ = try SQLiteBackend(path: path)
    }

    /// A record whose stored headers cannot be read fails only its own job, dead with the
    /// reason, inside the claim; listings still show it, with what was stored.
    @Test func anUnreadableRecordFailsOnlyItsJobWithinTheClaim() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try SQLiteBackend(path: directory.file("bad.sqlite"))
        let ids = try await store.enqueue((0..<3).map { _ in NewJob(name: "x", payload: Data("{}".utf8)) }).map(\.id)
        try await store.database.write { db in
            try db.execute(sql: "UPDATE jobs SET headers = '{not json' WHERE id = ?", arguments: [ids[1].rawValue])
        }
        let claimed = try await store.claim(queues: ["default"], limit: 10, lease: .seconds(30), workerID: "w")
        #expect(claimed.map(\.id) == [ids[0], ids[2]])
        let bad = try #require(try await store.job(ids[1]))
        #expect(bad.state == .dead)
        #expect(bad.lastError?.message.contains("the stored record of job \(ids[1]) cannot be read") == true, "\(String(describing: bad.lastError))")
        #expect(bad.headers == [JobHeaders.unreadableKey: "{not json"])
        #expect(try await store.jobs(JobQuery()).map(\.id) == ids)
        #expect(try await store.queueStats().first?.counts == [.active: 2, .dead: 1])
    }

    /// What a retry restores (a chain's cancelled steps, a batch's failed callbacks) is found
    /// through an index in every state: without one, each retried job scanned the table.
    @Test func dependencyLookupsUseAnIndexInEveryState() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try SQLiteBackend(path: directory.file("plans.sqlite"))
        let lookups = [
            "UPDATE jobs SET state = 7 WHERE parent_id = 1 AND state = 6",
            "UPDATE jobs SET state = 1 WHERE parent_id = 1 AND state = 7",
            "UPDATE jobs SET state = 7 WHERE wait_batch = 'b' AND wait_kind = 3 AND state = 5 AND attempt = 0",
            "UPDATE jobs SET state = 1 WHERE state = 7 AND wait_batch = 'b'",
        ]
        for sql in lookups {
            let plan = try await store.database.read { db in
                try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql).map { $0["detail"] as String }.joined(separator: "; ")
            }
            #expect(plan.contains("USING INDEX jobs_parent") || plan.contains("USING INDEX jobs_callbacks"), "\(sql): \(plan)")
            #expect(!plan.contains("SCAN jobs"), "\(sql): \(plan)")
        }
    }

    /// A file a newer version migrated further is refused with a clear error, not written to.
    @Test func aFileFromANewerVersionIsRefused() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("newer.sqlite")
        let store = try SQLiteBackend(path: path)
        try await store.database.write { db in
            try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('v99 from the future')")
        }
        let error = #expect(throws: ConveyorError.self) { try SQLiteBackend(path: path) }
        #expect("\(error.map { "\($0)" } ?? "")".contains("v99 from the future"))
    }

    /// Retention deletes finished jobs older than the setting, a bounded number per pass,
    /// and keeps unfinished and newer ones.
    @Test func retentionDeletesOldFinishedJobsInBoundedSteps() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let clock = ManualStoreClock()
        let store = try SQLiteBackend(configuration: .init(
            path: directory.file("store.sqlite"), retention: .seconds(60), stepLimit: 100, clock: clock))
        _ = try await store.enqueue((0..<250).map { _ in NewJob(name: "a", batchID: "old") } + [NewJob(name: "b", queue: "later")])
        let claimed = try await store.claim(queues: ["default"], limit: 1000, lease: .seconds(30), workerID: "w")
        try await store.complete(claimed.map { .succeeded($0.lease, output: Data()) })
        #expect(try await store.recoverExpiredLeases() == 0)
        #expect(try await store.queueStats().first { $0.queue == "default" }?[.succeeded] == 250)
        clock.advance(by: .seconds(120))
        _ = try await store.recoverExpiredLeases()
        #expect(try await store.queueStats().first { $0.queue == "default" }?[.succeeded] == 150, "at most 100 per pass")
        _ = try await store.recoverExpiredLeases()
        _ = try await store.recoverExpiredLeases()
        #expect(try await store.queueStats().first { $0.queue == "default" }?[.succeeded] ?? 0 == 0)
        #expect(try await store.job(JobID(251))?.state == .ready)
        // The finished batch goes once its members have.
        _ = try await store.recoverExpiredLeases()
        #expect(try await store.batch("old") == nil)
    }
}
