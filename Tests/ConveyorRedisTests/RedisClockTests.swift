import Conveyor
import ConveyorRedis
import ConveyorRedisClient
import ConveyorTesting
import Foundation
import Synchronization
import Testing

/// Workers whose clocks disagree share one Redis safely: every lease, due time and retention
/// cut-off is computed inside Redis from its own `TIME` (issue 11, item 1).
@Suite("Redis store time")
struct RedisClockTests {
    /// Two workers on one Redis, one whose process clock runs five minutes ahead, drain 10,000
    /// jobs with a 2 s lease while both also recover expired leases every 100 ms: no job runs
    /// twice, and none is recovered while its worker lives (every job ends on its first attempt).
    @Test func workersWithSkewedClocksNeverRecoverEachOthersJobs() async throws {
        let server = try RedisServer()
        defer { server.stop() }
        let backend = try RedisBackend(url: server.url)
        let runs = Mutex<[Int: Int]>([:])
        var registry = JobRegistry()
        registry.register(name: "count") { payload, _ in
            let n = Int(String(decoding: payload, as: UTF8.self)) ?? -1
            runs.withLock { $0[n, default: 0] += 1 }
            return payload
        }
        let total = 10_000
        _ = try await backend.enqueue((0..<total).map { NewJob(name: "count", payload: Data(String($0).utf8), batchID: "skew") })
        let ahead = ManualStoreClock(offset: .seconds(300))
        let workers = [SystemClock() as any StoreClock, ahead].enumerated().map { index, clock in
            Worker(backend: backend, registry: registry, configuration: .init(
                id: "skew-\(index)", concurrency: 8, lease: .seconds(2), heartbeatInterval: .milliseconds(500),
                recoveryInterval: .milliseconds(100), clock: clock))
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in workers { group.addTask { try await worker.run() } }
            let batch = try await backend.waitUntilBatchFinished("skew", timeout: .seconds(120))
            #expect(batch[.succeeded] == total)
            for worker in workers { worker.stop() }
            try await group.waitForAll()
        }
        let counts = runs.withLock { $0 }
        #expect(counts.count == total)
        #expect(counts.values.allSatisfy { $0 == 1 }, "a job ran twice")
        var attempts: [Int: Int] = [:]
        try await backend.forEachPage(of: JobQuery(batchID: "skew", limit: 1000)) { page in
            for record in page { attempts[record.attempt, default: 0] += 1 }
        }
        #expect(attempts == [1: total], "a job was recovered while its worker lived")
        #expect(workers.allSatisfy { $0.fencedCount == 0 })
        // Both workers registered with Redis's time, so both are seen as just now, whatever
        // their own clocks say.
        #expect(try await backend.workers(seenWithin: .seconds(60)).isEmpty)  // said goodbye
        await backend.close()
    }

    /// A lease granted through a blocking wait starts when Redis runs the claim, not when the
    /// wait began: a lease shorter than the wait is not born expired.
    @Test func aLeaseFromABlockingWaitStartsWhenGranted() async throws {
        let server = try RedisServer()
        defer { server.stop() }
        var configuration = try RedisBackend.Configuration(url: server.url)
        configuration.longestWait = .seconds(2)
        let backend = RedisBackend(configuration: configuration)
        let generation = backend.workSignal.generation
        // Another process's enqueue (a second store object) ends the wait after a while.
        let other = try RedisBackend(url: server.url)
        let raw = RedisConnectionPool(configuration: try RedisConfiguration(url: server.url))
        async let waited = backend.waitForWork(
            queues: ["default"], after: generation, timeout: .seconds(5), claimingUpTo: 1, lease: .seconds(5), workerID: "w")
        // Once the wait is blocked in Redis, time passes on Redis's clock before the job
        // arrives: a lease counted from the start of the wait would end before one counted
        // from the grant, which comes after the enqueue.
        while true {
            let info = try await raw.send(["INFO", "clients"]).string ?? ""
            if let line = info.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix("blocked_clients:") }),
               Int(line.dropFirst("blocked_clients:".count)) ?? 0 >= 1 { break }
            try await Task.sleep(for: .milliseconds(5))
        }
        try await Task.sleep(for: .milliseconds(600))
        let time = try await raw.send(["TIME"]).array?.compactMap(\.string).compactMap(Double.init) ?? []
        try #require(time.count == 2)
        let beforeEnqueue = Date(timeIntervalSince1970: time[0] + time[1] / 1e6)
        let id = try await other.enqueue(NewJob(name: "x")).id
        var claimed = try await waited
        if claimed.isEmpty { claimed = try await backend.claim(queues: ["default"], limit: 1, lease: .seconds(5), workerID: "w") }
        #expect(claimed.map(\.id) == [id])
        let expiry = try #require(claimed.first?.leaseExpiresAt)
        #expect(expiry >= beforeEnqueue.addingTimeInterval(5), "the lease ends \(expiry), before 5 s after the enqueue at \(beforeEnqueue)")
        // Recovery right after the grant finds nothing expired.
        #expect(try await backend.recoverExpiredLeases() == 0)
        #expect(try await backend.job(id)?.state == .active)
        await backend.close()
        await other.close()
        await raw.close()
    }

    /// A namespace whose records an older layout wrote is refused with a clear error, never
    /// misread.
    @Test func aNamespaceInAnUnknownLayoutIsRefused() async throws {
        let server = try RedisServer()
        defer { server.stop() }
        let raw = RedisConnectionPool(configuration: try RedisConfiguration(url: server.url))
        // A job as layout 1 wrote it, with no layout recorded.
        _ = try await raw.send(["HSET", "{conveyor}:J:d", "1", "old record"])
        let backend = try RedisBackend(url: server.url)
        let error = await #expect(throws: ConveyorError.self) { _ = try await backend.enqueue(NewJob(name: "x")) }
        #expect("\(error.map { "\($0)" } ?? "")".contains("record layout 1"))
        // A fresh namespace records the layout and works.
        let fresh = try RedisBackend(url: server.url + "?namespace=fresh")
        #expect(try await fresh.enqueue(NewJob(name: "x")).id == JobID(1))
        #expect(try await raw.send(["GET", "{fresh}:layout"]).string == String(RedisBackend.layoutVersion))
        await backend.close()
        await fresh.close()
        await raw.close()
    }
}
