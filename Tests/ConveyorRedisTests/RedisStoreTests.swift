import Conveyor
import ConveyorRedis
import ConveyorRedisClient
import ConveyorTesting
import Foundation
import Synchronization
import Testing

/// Holds jobs whose number is `from` or more at a gate the test opens.
struct GatedJob: Job {
    static let name = "test.gated"
    static let gates = Mutex<[String: TestGate]>([:])
    var gate: String
    var from: Int
    var n: Int

    func run(_ context: JobContext) async throws -> Int {
        if n >= from, let gate = Self.gates.withLock({ $0[self.gate] }) { await gate.pass("\(n)") }
        return n
    }
}

@Suite("RedisBackend with a real redis-server")
struct RedisStoreTests {
    /// Redis is killed (SIGKILL, no shutdown) mid-run and started again; with AOF
    /// `appendfsync always` every acknowledged write is replayed and the run completes.
    @Test func redisRestartMidRunLosesNothing() async throws {
        let server = try RedisServer(appendOnly: true, appendfsync: "always")
        defer { server.stop() }
        let backend = try RedisBackend(url: server.url)
        let gateName = UUID().uuidString
        let gate = TestGate()
        GatedJob.gates.withLock { $0[gateName] = gate }
        let total = 1000
        let firstWave = 400
        let client = JobClient(backend: backend)
        _ = try await client.enqueue((0..<total).map { GatedJob(gate: gateName, from: firstWave, n: $0) }, options: JobOptions(batchID: "restart"))

        var registry = JobRegistry()
        registry.register(GatedJob.self)
        let concurrency = 40
        let worker = Worker(backend: backend, registry: registry, configuration: .init(
            concurrency: concurrency, lease: .seconds(2), logger: .init(label: "test")))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await worker.run() }
            // The first wave is done and a full set of later jobs is running, held at the gate.
            await gate.waitForStarts(concurrency)
            while true {
                let generation = backend.completionSignal.generation
                if try await (backend.batch("restart")?[.succeeded] ?? 0) >= firstWave { break }
                await backend.completionSignal.wait(after: generation, timeout: .seconds(1))
            }
            try server.restart()
            gate.open()
            let batch = try await backend.waitUntilBatchFinished("restart", timeout: .seconds(120))
            worker.stop()
            try await group.waitForAll()
            #expect(batch.total == total)
            #expect(batch[.succeeded] == total, "nothing lost across the restart: \(batch.counts)")
        }
        let records = try await backend.allJobs(JobQuery(batchID: "restart"))
        #expect(records.count == total)
        let results = Set(records.compactMap { $0.result.flatMap { try? JSONDecoder().decode(Int.self, from: $0) } })
        #expect(results == Set(0..<total), "each job's own result is stored")
        await backend.close()
    }

    @Test(.timeLimit(.minutes(1))) func passwordIsRequiredAndChecked() async throws {
        let server = try RedisServer(password: "s3cret pass")
        defer { server.stop() }
        let good = try RedisBackend(url: "redis://:s3cret%20pass@127.0.0.1:\(server.port)")
        let id = try await good.enqueue(NewJob(name: "test.job")).id
        #expect(try await good.job(id)?.state == .ready)
        await good.close()

        for url in ["redis://:wrong@127.0.0.1:\(server.port)", "redis://127.0.0.1:\(server.port)"] {
            // Commands would wait an hour for a connection; a rejected password must not wait
            // at all (the test's time limit catches it if it does).
            var configuration = try RedisBackend.Configuration(url: url)
            configuration.redis.connectionWaitTimeout = .seconds(3600)
            let bad = RedisBackend(configuration: configuration)
            let error = await #expect(throws: ConveyorError.self) { try await bad.enqueue(NewJob(name: "test.job")) }
            let message = "\(error.map { "\($0)" } ?? "")"
            #expect(message.contains("127.0.0.1:\(server.port)"), "names the server: \(message)")
            #expect(message.contains("WRONGPASS") || message.contains("NOAUTH"), "says what is wrong: \(message)")
            await bad.close()
        }
    }

    /// A record this version cannot read (its headers, hand-corrupted in Redis) fails only its
    /// own job, dead with the reason, before the claim returns; the jobs claimed with it run.
    @Test func anUnreadableRecordFailsOnlyItsJobWithinTheClaim() async throws {
        let server = try RedisServer()
        defer { server.stop() }
        let backend = try RedisBackend(url: server.url)
        let raw = RedisConnectionPool(configuration: try RedisConfiguration(url: server.url))
        let ids = try await backend.enqueue((0..<3).map { _ in NewJob(name: "x", payload: Data("{}".utf8)) }).map(\.id)
        // Field 12 of the written-once record is the headers' JSON.
        _ = try await raw.send(["EVAL", """
            local t = { cmsgpack.unpack(redis.call('HGET', KEYS[1], ARGV[1])) }
            t[12] = '{not json'
            redis.call('HSET', KEYS[1], ARGV[1], cmsgpack.pack(unpack(t)))
            """, "1", "{conveyor}:J:d", .string(ids[1].description)])
        let claimed = try await backend.claim(queues: ["default"], limit: 10, lease: .seconds(30), workerID: "w")
        #expect(claimed.map(\.id) == [ids[0], ids[2]])
        let bad = try #require(try await backend.job(ids[1]))
        #expect(bad.state == .dead, "failed inside the claim call, not later")
        #expect(bad.lastError?.message.contains("the stored record of job \(ids[1]) cannot be read") == true, "\(String(describing: bad.lastError))")
        #expect(bad.lastError?.kind == .permanent)
        #expect(bad.headers == [JobHeaders.unreadableKey: "{not json"], "listed with what was stored")
        #expect(try await backend.jobs(JobQuery()).map(\.id) == ids, "one unreadable record does not fail a listing")
        await backend.close()
        await raw.close()
    }

    @Test func badStoreURLsAreClearErrors() throws {
        #expect(throws: ConveyorError.self) { try RedisBackend(url: "redis://127.0.0.1:6379/0?retention=soon") }
        #expect(throws: ConveyorError.self) { try RedisBackend(url: "redis://127.0.0.1:6379/0?colour=blue") }
        #expect(throws: ConveyorError.self) { try RedisBackend(url: "redis://127.0.0.1:notaport") }
        // The password never shows in the message.
        let error = #expect(throws: ConveyorError.self) { try RedisBackend(url: "redis://:hunter2@127.0.0.1:6379/0?colour=blue") }
        #expect("\(error.map { "\($0)" } ?? "")".contains("redis://:***@127.0.0.1:6379/0?colour=blue"))
        #expect(!"\(error.map { "\($0)" } ?? "")".contains("hunter2"))
        let configuration = try RedisBackend.Configuration(url: "redis://127.0.0.1:6380/2?namespace=ingest&retention=60")
        #expect(configuration.namespace == "ingest")
        #expect(configuration.retention == .seconds(60))
        #expect(configuration.redis.database == 2)
    }

    /// Finished jobs go after the retention period, with their indexes; unfinished ones stay.
    @Test func retentionDeletesOldFinishedJobs() async throws {
        let server = try RedisServer()
        defer { server.stop() }
        let clock = ManualStoreClock()
        var configuration = try RedisBackend.Configuration(url: server.url + "?retention=60")
        configuration.clock = clock
        let backend = RedisBackend(configuration: configuration)
        let ids = try await backend.enqueue([NewJob(name: "a", uniqueKey: "k", batchID: "old"), NewJob(name: "b", batchID: "old"), NewJob(name: "c")]).map(\.id)
        let claimed = try await backend.claim(queues: ["default"], limit: 2, lease: .seconds(30), workerID: "w")
        try await backend.complete(claimed.map { .succeeded($0.lease, output: Data("1".utf8)) })
        // Not yet: they finished just now.
        #expect(try await backend.recoverExpiredLeases() == 0)
        #expect(try await backend.job(ids[0]) != nil)
        #expect(try await backend.batch("old")?.isFinished == true)
        // Two minutes later by the store's clock, the two finished jobs are gone.
        clock.advance(by: .seconds(120))
        _ = try await backend.recoverExpiredLeases()
        #expect(try await backend.job(ids[0]) == nil)
        #expect(try await backend.job(ids[1]) == nil)
        #expect(try await backend.job(ids[2])?.state == .ready)
        #expect(try await backend.allJobs(JobQuery()).map(\.id) == [ids[2]])
        #expect(try await backend.queueStats().first?.counts == [.ready: 1])
        // So is their batch, once finished and empty.
        #expect(try await backend.batch("old") == nil)
        #expect(try await backend.batches(limit: 10).isEmpty)
        // The unique key is free again.
        #expect(try await backend.enqueue(NewJob(name: "a", uniqueKey: "k")).isDuplicate == false)
        await backend.close()
    }

    /// Retention finds finished batches by when they finished: hundreds of older batches
    /// that never finish do not keep a newer finished one from going.
    @Test func retentionIsNotHeldUpByOlderUnfinishedBatches() async throws {
        let server = try RedisServer()
        defer { server.stop() }
        let clock = ManualStoreClock()
        var configuration = try RedisBackend.Configuration(url: server.url + "?retention=60")
        configuration.clock = clock
        let backend = RedisBackend(configuration: configuration)
        _ = try await backend.enqueue((0..<250).map { NewJob(name: "open", queue: "later", batchID: "open-\($0)") })
        _ = try await backend.enqueue(NewJob(name: "done", batchID: "done"))
        let claimed = try await backend.claim(queues: ["default"], limit: 1, lease: .seconds(30), workerID: "w")
        try await backend.complete(claimed.map { .succeeded($0.lease, output: Data()) })
        #expect(try await backend.batch("done")?.isFinished == true)
        clock.advance(by: .seconds(120))
        _ = try await backend.recoverExpiredLeases()
        #expect(try await backend.batch("done") == nil)
        #expect(try await backend.batch("open-0") != nil)
        #expect(try await backend.batches(limit: 1000).count == 250)
        await backend.close()
    }

    /// A listing (and a purge of unfinished states) looks at a bounded number of ids per
    /// script call and continues from a cursor, so it finds the same jobs as one long walk
    /// would, in order, without holding Redis.
    @Test func listingsContinueAcrossBoundedCalls() async throws {
        let server = try RedisServer()
        defer { server.stop() }
        var configuration = try RedisBackend.Configuration(url: server.url)
        configuration.listingBudget = 7
        let backend = RedisBackend(configuration: configuration)
        let ids = try await backend.enqueue((0..<40).map { NewJob(name: "n\($0)", batchID: $0 % 2 == 0 ? "even" : nil) }).map(\.id)
        // Every third job cancelled: a state filter that matches sparsely.
        let cancelled = stride(from: 0, to: 40, by: 3).map { ids[$0] }
        try await backend.cancel(cancelled)
        #expect(try await backend.allJobs(JobQuery()).map(\.id) == ids)
        #expect(try await backend.jobs(JobQuery(states: [.cancelled], limit: 5)).map(\.id) == Array(cancelled.prefix(5)))
        #expect(try await backend.allJobs(JobQuery(states: [.cancelled])).map(\.id) == cancelled)
        let evenCancelled = cancelled.filter { ids.firstIndex(of: $0)! % 2 == 0 }
        #expect(try await backend.allJobs(JobQuery(states: [.cancelled], batchID: "even")).map(\.id) == evenCancelled)
        #expect(try await backend.jobs(JobQuery(states: [.cancelled], batchID: "even", after: evenCancelled[1], limit: 2)).map(\.id)
            == Array(evenCancelled[2..<4]))
        #expect(try await backend.allJobs(JobQuery(states: [.succeeded])).isEmpty)
        // Purging an unfinished state walks ids in the same bounded steps.
        #expect(try await backend.purge(PurgeRequest(states: [.ready])) == 40 - cancelled.count)
        #expect(try await backend.allJobs(JobQuery()).map(\.id) == cancelled)
        await backend.close()
    }

    /// An idle worker blocks on Redis with its claim pipelined behind the pop; a job enqueued
    /// by another client (another process or host) wakes it, and it comes back claimed.
    @Test func enqueueFromAnotherClientWakesAnIdleWorker() async throws {
        let server = try RedisServer()
        defer { server.stop() }
        let workerSide = try patientBackend(server)
        let submitter = try RedisBackend(url: server.url)
        // A first claim loads the store's functions, as a worker's does before it waits.
        let generation = workerSide.workSignal.generation
        #expect(try await workerSide.claim(queues: ["default"], limit: 1, lease: .seconds(30), workerID: "w").isEmpty)
        let clock = ContinuousClock()
        let start = clock.now
        async let claimed = workerSide.waitForWork(
            queues: ["default"], after: generation, timeout: .seconds(60),
            claimingUpTo: 5, lease: .seconds(30), workerID: "w")
        try await waitUntilBlocked(1, server: server)
        let id = try await submitter.enqueue(NewJob(name: "test.job")).id
        #expect(try await claimed.map(\.id) == [id])
        #expect(clock.now - start < .seconds(30), "woken by the enqueue, not by the 60 s timeout")
        #expect(try await workerSide.job(id)?.state == .active)
        await workerSide.close()
        await submitter.close()
    }

    /// A notification in the worker's own process (a worker stopping) ends its wait on Redis
    /// at once (CLIENT UNBLOCK), not at the wait's timeout.
    @Test func aLocalNotificationEndsABlockingWait() async throws {
        let server = try RedisServer()
        defer { server.stop() }
        let backend = try patientBackend(server)
        let generation = backend.workSignal.generation
        #expect(try await backend.claim(queues: ["default"], limit: 1, lease: .seconds(30), workerID: "w").isEmpty)
        let clock = ContinuousClock()
        let start = clock.now
        async let claimed = backend.waitForWork(
            queues: ["default"], after: generation, timeout: .seconds(60),
            claimingUpTo: 5, lease: .seconds(30), workerID: "w")
        try await waitUntilBlocked(1, server: server)
        backend.workSignal.notify()
        #expect(try await claimed.isEmpty)
        #expect(clock.now - start < .seconds(30), "interrupted, not ended by the 60 s timeout")
        try await waitUntilBlocked(0, server: server)
        await backend.close()
    }

    /// A wait asked for a minute lasts at most `longestWait`, so an idle worker looks again
    /// (and a stop whose CLIENT UNBLOCK was refused is seen) within it.
    @Test func aWaitLastsAtMostTheLongestWait() async throws {
        let server = try RedisServer()
        defer { server.stop() }
        var configuration = try RedisBackend.Configuration(url: server.url)
        configuration.longestWait = .milliseconds(50)
        let backend = RedisBackend(configuration: configuration)
        let generation = backend.workSignal.generation
        #expect(try await backend.claim(queues: ["default"], limit: 1, lease: .seconds(30), workerID: "w").isEmpty)
        let clock = ContinuousClock()
        let start = clock.now
        let claimed = try await backend.waitForWork(
            queues: ["default"], after: generation, timeout: .seconds(60),
            claimingUpTo: 5, lease: .seconds(30), workerID: "w")
        #expect(claimed.isEmpty)
        #expect(clock.now - start < .seconds(30), "ended by longestWait, not by the 60 s timeout")
        await backend.close()
    }

    /// When Redis has lost the store's functions (a restart without persistence, FUNCTION
    /// FLUSH), the claim pipelined behind a wait fails; the wait returns nothing instead of an
    /// error, and the worker's next claim loads the library again and takes the job.
    @Test func aWaitWhoseClaimFindsNoFunctionsLeavesTheClaimToTheNextCall() async throws {
        let server = try RedisServer()
        defer { server.stop() }
        let backend = try patientBackend(server)
        #expect(try await backend.claim(queues: ["default"], limit: 1, lease: .seconds(30), workerID: "w").isEmpty)
        let id = try await backend.enqueue(NewJob(name: "test.job")).id
        // Read after the enqueue, so the wait does not end on this process's own notification:
        // the enqueue's wake-up token ends it in Redis, and the claim behind it runs there.
        let generation = backend.workSignal.generation
        let probe = try await RedisConnection.connect(configuration: RedisConfiguration(url: server.url))
        _ = try await probe.send("FUNCTION", "FLUSH")
        await probe.close()
        let claimed = try await backend.waitForWork(
            queues: ["default"], after: generation, timeout: .seconds(60),
            claimingUpTo: 5, lease: .seconds(30), workerID: "w")
        #expect(claimed.isEmpty)
        #expect(try await backend.claim(queues: ["default"], limit: 5, lease: .seconds(30), workerID: "w").map(\.id) == [id])
        await backend.close()
    }

    /// A store whose blocking waits last up to 60 s, so a test sees what ended one.
    private func patientBackend(_ server: RedisServer) throws -> RedisBackend {
        var configuration = try RedisBackend.Configuration(url: server.url)
        configuration.longestWait = .seconds(60)
        return RedisBackend(configuration: configuration)
    }

    /// Waits (polling INFO, at most 30 s) until `count` clients are blocked on the server.
    private func waitUntilBlocked(_ count: Int, server: RedisServer) async throws {
        let probe = try await RedisConnection.connect(configuration: RedisConfiguration(url: server.url))
        defer { Task { await probe.close() } }
        let deadline = ContinuousClock.now + .seconds(30)
        while !((try await probe.send("INFO", "clients").string ?? "").contains("blocked_clients:\(count)\r")) {
            guard ContinuousClock.now < deadline else {
                Issue.record("no \(count) blocked client(s) after 30 s")
                throw CancellationError()
            }
            try await Task.sleep(for: .milliseconds(5))
        }
    }

    /// A job finished by a worker elsewhere wakes a waiter here at once (pub/sub), not after
    /// the 500 ms fallback of `waitUntilFinished`.
    @Test func completionInAnotherClientWakesAWaiter() async throws {
        let server = try RedisServer()
        defer { server.stop() }
        let workerSide = try RedisBackend(url: server.url)
        let waiterSide = try RedisBackend(url: server.url)
        let id = try await workerSide.enqueue(NewJob(name: "test.job")).id
        // The first read starts the subscriber; it notifies once when subscribed. Nothing else
        // notifies the waiter side's signal in this test.
        let beforeSubscribe = waiterSide.completionSignal.generation
        _ = try await waiterSide.job(id)
        await waiterSide.completionSignal.wait(after: beforeSubscribe, timeout: .seconds(30))
        #expect(waiterSide.completionSignal.generation != beforeSubscribe, "the subscriber came up")

        let claimed = try await workerSide.claim(queues: ["default"], limit: 1, lease: .seconds(30), workerID: "w")
        let generation = waiterSide.completionSignal.generation
        let clock = ContinuousClock()
        let start = clock.now
        async let woken: Void = waiterSide.completionSignal.wait(after: generation, timeout: .seconds(60))
        try await workerSide.complete([.succeeded(claimed[0].lease, output: Data("7".utf8))])
        await woken
        #expect(waiterSide.completionSignal.generation != generation)
        #expect(clock.now - start < .seconds(30), "woken by the publish, not by the 60 s timeout")
        #expect(try await waiterSide.job(id)?.state == .succeeded)
        await workerSide.close()
        await waiterSide.close()
    }
}

/// Timing against the wall clock: scripts/test runs it apart from the parallel suites, where a
/// worker starved of CPU comes late whatever the store does.
@Suite("RedisBackend rate (heavy)")
struct RedisRateTests {
    /// A worker on a rate-limited key keeps the rate: GCRA loses whatever time a claim comes
    /// late, so a worker woken late each time would run below it.
    @Test func aWorkerKeepsARateLimitedKeysRate() async throws {
        let server = try RedisServer()
        defer { server.stop() }
        let backend = try RedisBackend(url: server.url)
        defer { Task { await backend.close() } }
        try await backend.setLimit("host:slow", LimitSettings(rate: try RateLimit(10, per: .seconds(1))))
        _ = try await backend.enqueue((0..<200).map { _ in NewJob(name: "noop", limitKeys: ["host:slow"]) })
        var registry = JobRegistry()
        registry.register(name: "noop") { _, _ in Data() }
        let worker = Worker(backend: backend, registry: registry, configuration: .init(concurrency: 8))
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await worker.run() }
            try await Task.sleep(for: .seconds(3))
            worker.stop()
            try await group.waitForAll()
        }
        let elapsed = (ContinuousClock.now - started).seconds
        let done = try await backend.queueStats().first { $0.queue == "default" }?[.succeeded] ?? 0
        print("rate-limited key: \(done) starts in \(elapsed) s")
        #expect(Double(done) >= elapsed * 10 * 0.85 && Double(done) <= elapsed * 10 + 1, "\(done) starts in \(elapsed) s at 10/s")
    }

}
