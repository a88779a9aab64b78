import Conveyor
import ConveyorRedis
import ConveyorRedisClient
import ConveyorTesting
import Foundation
import Testing

/// On a store holding a million finished jobs, the calls that walk them (listing dead jobs
/// newest first, retrying every dead job, purging) never hold Redis for more than 50 ms in one
/// call: Redis's own SLOWLOG, set to 50 ms, stays empty (issue 11, item 2).
@Suite("Redis bounded work")
struct RedisBoundedWorkTests {
    @Test func callsOverAMillionFinishedJobsNeverHoldRedisFor50ms() async throws {
        let server = try RedisServer()
        defer { server.stop() }
        let backend = try RedisBackend(url: server.url)
        let raw = RedisConnectionPool(configuration: try RedisConfiguration(url: server.url))
        let total = 1_000_000, dead = 100_000
        // The million jobs: 900,000 succeeded, 100,000 dead (setup calls are large on purpose).
        try await fillWithFinishedJobs(backend, total: total, dead: dead)
        #expect(try await backend.queueStats().first?.counts == [.succeeded: total - dead, .dead: dead])
        _ = try await raw.send(["CONFIG", "SET", "slowlog-log-slower-than", "50000"])
        _ = try await raw.send(["SLOWLOG", "RESET"])

        // Dead jobs, newest first: the first page comes from the top of the id range.
        let newest = try await backend.jobs(JobQuery(states: [.dead], limit: 50, newestFirst: true))
        #expect(newest.count == 50)
        #expect(newest.map(\.id) == newest.map(\.id).sorted(by: >))
        // Every dead job back to ready, a page per call; then every finished job purged.
        let (moved, stayed) = try await backend.retryAllDead()
        #expect(moved == dead && stayed == 0)
        #expect(try await backend.purge(PurgeRequest()) == total - dead)
        #expect(try await backend.queueStats().first?.counts == [.ready: dead])

        let slow = try await raw.send(["SLOWLOG", "GET", "10"])
        let entries = slow.array ?? []
        let described = entries.compactMap { entry -> String? in
            guard let fields = entry.array, fields.count >= 4 else { return nil }
            let command = (fields[3].array ?? []).prefix(3).compactMap(\.string).joined(separator: " ")
            return "\(command): \(fields[2].int ?? 0) µs"
        }
        #expect(entries.isEmpty, "calls over 50 ms: \(described)")
        await backend.close()
        await raw.close()
    }
}
