@testable import Conveyor
import ConveyorTesting
import Foundation
import Synchronization
import Testing

@Suite("Worker")
struct WorkerTests {
    let backend = MemoryBackend()

    /// Runs a worker until `body` returns, then stops it and waits for it to drain.
    func withWorker<T: Sendable>(
        _ registry: JobRegistry, _ configuration: Worker.Configuration = .init(concurrency: 4),
        _ body: @Sendable (Worker) async throws -> T
    ) async throws -> T {
        let worker = Worker(backend: backend, registry: registry, configuration: configuration)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await worker.run(); return nil }
            let result = try await body(worker)
            worker.stop()
            try await group.waitForAll()
            return result
        }
    }

    @Test func retriesWithBackoffUntilSuccess() async throws {
        let client = JobClient(backend: backend)
        let handle = try await client.enqueue(FlakyJob(succeedOnAttempt: 3))
        let output = try await withWorker(BackendConformance.testRegistry) { _ in try await handle.value(timeout: .seconds(30)) }
        #expect(output == "ok on attempt 3")
        let record = try await handle.record()
        #expect(record.attempt == 3)
        #expect(record.state == .succeeded)
    }

    @Test func deadAfterLastAttemptWithTheLastError() async throws {
        let client = JobClient(backend: backend)
        let handle = try await client.enqueue(FlakyJob(succeedOnAttempt: 99))
        let error = try await withWorker(BackendConformance.testRegistry) { _ in
            await #expect(throws: ConveyorError.self) { try await handle.value(timeout: .seconds(30)) }
        }
        #expect(error != nil)
        let record = try await handle.record()
        #expect(record.state == .dead)
        #expect(record.attempt == 3)
        #expect(record.lastError == JobFailure(.retryable, "HTTP 503 on attempt 3"))
    }

    @Test func backoffGrowsExponentiallyWithinJitterAndCap() {
        let policy = RetryPolicy(maxAttempts: 10, initialDelay: .seconds(1), multiplier: 2, maximumDelay: .seconds(10), jitter: 0.2)
        var generator = SystemRandomNumberGenerator()
        for (attempt, expected) in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (5, 10.0), (9, 10.0)] {
            for _ in 0..<50 {
                let delay = policy.delay(afterAttempt: attempt, using: &generator).seconds
                #expect(delay >= expected * 0.8 - 1e-6 && delay <= expected * 1.2 + 1e-6, "attempt \(attempt): \(delay)")
            }
        }
        #expect(RetryPolicy.fixed(maxAttempts: 3, delay: .milliseconds(500)).delay(afterAttempt: 2) == .milliseconds(500))
    }

    @Test func timeoutCancelsTheAttemptAndFailsIt() async throws {
        var registry = JobRegistry()
        registry.register(name: "slow", retryPolicy: .fixed(maxAttempts: 2, delay: .milliseconds(10))) { _, _ in
            try await Task.sleep(for: .seconds(60))
            return Data()
        }
        let id = try await backend.enqueue(NewJob(name: "slow", maxAttempts: 2, timeout: .milliseconds(100))).id
        let record = try await withWorker(registry) { _ in try await backend.waitUntilFinished(id, timeout: .seconds(30)) }
        #expect(record.state == .dead)
        #expect(record.attempt == 2)
        #expect(record.lastError?.message == "'slow' did not finish within its timeout of 100ms")
    }

    /// One timer serves all running attempts: a short timeout that starts while a long one
    /// runs still fires at its own deadline, not at the long one's.
    @Test func aShortTimeoutFiresWhileALongerOneRuns() async throws {
        let gate = TestGate()
        var registry = JobRegistry()
        registry.register(name: "long", retryPolicy: .none) { _, _ in
            await gate.pass("long")
            return Data()
        }
        registry.register(name: "short", retryPolicy: .none) { _, _ in
            try await Task.sleep(for: .seconds(600))
            return Data()
        }
        let long = try await backend.enqueue(NewJob(name: "long", maxAttempts: 1, timeout: .seconds(3600))).id
        let clock = ContinuousClock()
        let record = try await withWorker(registry, .init(concurrency: 2, shutdownGracePeriod: .milliseconds(100))) { _ in
            await gate.waitForStarts(1)
            let short = try await backend.enqueue(NewJob(name: "short", maxAttempts: 1, timeout: .milliseconds(200))).id
            let start = clock.now
            let record = try await backend.waitUntilFinished(short, timeout: .seconds(30))
            #expect(clock.now - start < .seconds(20), "expired at its own deadline")
            #expect(try await backend.job(long)?.state == .active, "the long attempt runs on")
            gate.open()
            _ = try await backend.waitUntilFinished(long, timeout: .seconds(30))
            return record
        }
        #expect(record.state == .dead)
        #expect(record.lastError?.message == "'short' did not finish within its timeout of 200ms")
        #expect(try await backend.job(long)?.state == .succeeded)
    }

    @Test func aHandlerThatIgnoresCancellationStillTimesOut() async throws {
        let gate = DeafGate()
        var registry = JobRegistry()
        registry.register(name: "deaf", retryPolicy: .none) { _, _ in
            await gate.wait()
            return Data()
        }
        let id = try await backend.enqueue(NewJob(name: "deaf", maxAttempts: 1, timeout: .milliseconds(100))).id
        let record = try await withWorker(registry, .init(concurrency: 1, shutdownGracePeriod: .milliseconds(100))) { _ in
            try await backend.waitUntilFinished(id, timeout: .seconds(30))
        }
        gate.open()
        #expect(record.state == .dead)
        #expect(record.lastError?.message == "'deaf' did not finish within its timeout of 100ms")
    }

    @Test func retryAfterOverridesThePolicy() async throws {
        var registry = JobRegistry()
        registry.register(name: "limited", retryPolicy: .fixed(maxAttempts: 2, delay: .seconds(3600))) { _, context in
            if context.attempt == 1 { throw JobError.retryAfter(.milliseconds(50), "HTTP 429") }
            return Data("1".utf8)
        }
        let id = try await backend.enqueue(NewJob(name: "limited", maxAttempts: 2)).id
        let record = try await withWorker(registry) { _ in try await backend.waitUntilFinished(id, timeout: .seconds(30)) }
        #expect(record.state == .succeeded)
        #expect(record.attempt == 2)
    }

    @Test func anUpstreamsWaitDefersTheWholeKeyWithoutSpendingAttempts() async throws {
        let calls = Mutex(0)
        var registry = JobRegistry()
        registry.register(name: "fetch", retryPolicy: .fixed(maxAttempts: 1, delay: .seconds(3600))) { _, context in
            let call = calls.withLock { $0 += 1; return $0 }
            #expect(context.limitKeys == ["host:busy.example"])
            if call <= 2 { throw JobError.upstreamBusy(retryAfter: .milliseconds(50), key: nil, "HTTP 429 Retry-After") }
            return Data("1".utf8)
        }
        let id = try await backend.enqueue(NewJob(name: "fetch", maxAttempts: 1, limitKeys: ["host:busy.example"])).id
        let record = try await withWorker(registry) { _ in try await backend.waitUntilFinished(id, timeout: .seconds(30)) }
        #expect(record.state == .succeeded, "two deferrals did not use up its single attempt")
        #expect(record.attempt == 1)
        #expect(calls.withLock { $0 } == 3)
    }

    /// A source's job type decides which failures are the source's: here a missing dataset
    /// (retried, but the job's own fault) never opens the breaker; timeouts do.
    struct SourceCheck: Job {
        static let name = "source.check"
        static let retryPolicy = RetryPolicy.fixed(maxAttempts: 1, delay: .seconds(1))
        struct Missing: Error {}
        var missing: Bool
        var limitKeys: [String] { ["source:faostat"] }
        func run(_ context: JobContext) async throws -> NoOutput {
            if missing { throw Missing() }
            throw JobError.retryable("timed out after 30 s")
        }
        static func countsAgainstCircuit(_ error: any Error) -> Bool { !(error is Missing) }
    }

    @Test func theJobTypeSaysWhichFailuresCountAgainstItsKeysCircuits() async throws {
        try await backend.setLimit("source:*", LimitSettings(circuit: try CircuitBreaker(failures: 2, coolDown: .seconds(3600))))
        var registry = JobRegistry()
        registry.register(SourceCheck.self)
        let client = JobClient(backend: backend)
        let state = try await withWorker(registry, .init(concurrency: 1)) { _ in
            for _ in 0..<3 {
                let handle = try await client.enqueue(SourceCheck(missing: true))
                _ = try await backend.waitUntilFinished(handle.id, timeout: .seconds(30))
            }
            let closed = try #require(try await backend.circuitStates(["source:faostat"]).first)
            #expect(closed.phase == .closed && closed.consecutiveFailures == 0 && closed.recentOutcomes == 0, "\(closed)")
            for _ in 0..<2 {
                let handle = try await client.enqueue(SourceCheck(missing: false))
                _ = try await backend.waitUntilFinished(handle.id, timeout: .seconds(30))
            }
            return try #require(try await backend.circuitStates(["source:faostat"]).first)
        }
        #expect(state.phase == .open && state.consecutiveFailures == 2, "\(state)")
        let held = try await client.enqueue(SourceCheck(missing: false))
        #expect(try await backend.claim(queues: ["default"], limit: 10, lease: .seconds(30), workerID: "w").isEmpty)
        #expect(try await held.record().state == .ready, "held by the open circuit, no attempt spent")
    }

    @Test func prioritiesRunHighestFirstThenFIFO() async throws {
        let gate = TestGate()
        var registry = JobRegistry()
        registry.register(name: "record") { payload, _ in
            await gate.pass(String(decoding: payload, as: UTF8.self))
            return Data()
        }
        gate.open()
        let labels: [(String, Priority)] = [("a", .low), ("b", .normal), ("c", .high), ("d", .normal), ("e", 9), ("f", .low)]
        let ids = try await backend.enqueue(labels.map { NewJob(name: "record", payload: Data($0.0.utf8), priority: $0.1) }).map(\.id)
        try await withWorker(registry, .init(concurrency: 1, prefetch: 0)) { _ in
            for id in ids { _ = try await backend.waitUntilFinished(id, timeout: .seconds(30)) }
        }
        #expect(gate.startedLabels == ["e", "c", "b", "d", "a", "f"])
    }

    @Test func delayedJobsRunWhenDueNotBefore() async throws {
        let client = JobClient(backend: backend)
        let enqueued = Date()
        let handle = try await client.enqueue(EchoJob(value: 5), options: .init(delay: .milliseconds(300)))
        #expect(try await handle.record().state == .scheduled)
        let record = try await withWorker(BackendConformance.testRegistry) { _ in
            try await backend.waitUntilFinished(handle.id, timeout: .seconds(30))
        }
        #expect(record.state == .succeeded)
        let started = try #require(record.startedAt)
        #expect(started.timeIntervalSince(enqueued) >= 0.3)
    }

    @Test func uniqueKeysReturnTheExistingJob() async throws {
        let client = JobClient(backend: backend)
        let first = try await client.enqueue(EchoJob(value: 1), options: .init(uniqueKey: "hsn:09011112"))
        let second = try await client.enqueue(EchoJob(value: 2), options: .init(uniqueKey: "hsn:09011112"))
        #expect(!first.isDuplicate)
        #expect(second.isDuplicate)
        #expect(second.id == first.id)
        let value = try await withWorker(BackendConformance.testRegistry) { _ in
            try await second.value(timeout: .seconds(30))
        }
        #expect(value == 1)
    }

    @Test func oversizedPayloadIsRefusedWithItsSize() async throws {
        let client = JobClient(backend: backend, configuration: .init(maximumPayloadBytes: 64))
        struct Big: Job { static let name = "big"; var text: String; func run(_ context: JobContext) async throws -> NoOutput { .init() } }
        await #expect(throws: ConveyorError.payloadTooLarge(job: "big", bytes: 211, limit: 64)) {
            try await client.enqueue(Big(text: String(repeating: "x", count: 200)))
        }
        #expect(try await backend.queueStats().isEmpty)
    }

    @Test func shutdownFinishesRunningJobsAndHandsBackUnstartedOnes() async throws {
        let gate = TestGate()
        var registry = JobRegistry()
        registry.register(name: "held") { payload, _ in
            await gate.pass(String(decoding: payload, as: UTF8.self))
            return payload
        }
        let ids = try await backend.enqueue((0..<6).map { NewJob(name: "held", payload: Data("\($0)".utf8)) }).map(\.id)
        let worker = Worker(backend: backend, registry: registry, configuration: .init(concurrency: 2, prefetch: 4))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await worker.run() }
            await gate.waitForStarts(2)
            worker.stop()
            gate.open()
            try await group.waitForAll()
        }
        var states: [JobState: Int] = [:]
        for id in ids {
            let record = try #require(try await backend.job(id))
            states[record.state, default: 0] += 1
            if record.state == .ready { #expect(record.attempt == 0) }
        }
        #expect(states == [.succeeded: 2, .ready: 4])
        #expect(gate.startedLabels.count == 2)
    }

    @Test func graceExpiryInterruptsRunningJobsAndCountsTheAttempt() async throws {
        let gate = TestGate()
        var registry = JobRegistry()
        registry.register(name: "stuck") { _, _ in
            await gate.pass("stuck")
            try Task.checkCancellation()
            return Data()
        }
        let id = try await backend.enqueue(NewJob(name: "stuck", maxAttempts: 2)).id
        for run in 1...2 {
            let worker = Worker(backend: backend, registry: registry,
                                configuration: .init(concurrency: 1, shutdownGracePeriod: .milliseconds(100)))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await worker.run() }
                await gate.waitForStarts(run)
                worker.stop()
                try await group.waitForAll()
            }
            let record = try #require(try await backend.job(id))
            #expect(record.attempt == run)
            #expect(record.lastError?.message.contains("interrupted: the worker shut down before the job finished") == true)
            // Due again at once, with the attempt counted: a job that always outlives the grace
            // period ends dead after its last attempt instead of coming back forever.
            #expect(record.state == (run == 1 ? .retrying : .dead))
        }
    }

    @Test func idleWorkerPicksUpNewWorkWithoutPolling() async throws {
        let client = JobClient(backend: backend)
        // A poll interval of an hour: only the store's wake-up can start the job.
        let configuration = Worker.Configuration(concurrency: 2, pollInterval: .seconds(3600))
        try await withWorker(BackendConformance.testRegistry, configuration) { _ in
            let handle = try await client.enqueue(EchoJob(value: 11))
            #expect(try await handle.value(timeout: .seconds(30)) == 11)
            let later = try await client.enqueue(EchoJob(value: 12), options: .init(delay: .milliseconds(100)))
            #expect(try await later.value(timeout: .seconds(30)) == 12)
        }
    }

    @Test func heartbeatsKeepALongJobsLeaseAlive() async throws {
        // The store's clock moves by hand: the job outlives two leases by that clock while
        // heartbeats, on the worker's own timer, keep extending its lease from the store's now.
        let clock = ManualStoreClock()
        let backend = MemoryBackend(clock: clock)
        let gate = TestGate()
        var registry = JobRegistry()
        registry.register(name: "long") { _, _ in
            await gate.pass("long")
            return Data("done".utf8)
        }
        let id = try await backend.enqueue(NewJob(name: "long", maxAttempts: 1)).id
        let configuration = Worker.Configuration(concurrency: 1, lease: .seconds(10), heartbeatInterval: .milliseconds(10),
                                                 recoveryInterval: .seconds(3600))
        let worker = Worker(backend: backend, registry: registry, configuration: configuration)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await worker.run() }
            await gate.waitForStarts(1)
            for _ in 0..<3 {
                let before = try #require(try await backend.job(id)?.leaseExpiresAt)
                clock.advance(by: .seconds(7))
                // The next heartbeat extends the lease past the old expiry.
                while try #require(try await backend.job(id)?.leaseExpiresAt) <= before.addingTimeInterval(5) {
                    try await Task.sleep(for: .milliseconds(5))
                }
                #expect(try await backend.recoverExpiredLeases() == 0)
            }
            gate.open()
            let record = try await backend.waitUntilFinished(id, timeout: .seconds(30))
            #expect(record.state == .succeeded)
            #expect(record.attempt == 1)
            worker.stop()
            try await group.waitForAll()
        }
    }

    @Test func cancellingTheRunningTaskStopsTheWorker() async throws {
        let gate = TestGate()
        var registry = JobRegistry()
        registry.register(name: "held") { _, _ in
            await gate.pass("held")
            try Task.checkCancellation()
            return Data()
        }
        let id = try await backend.enqueue(NewJob(name: "held")).id
        let worker = Worker(backend: backend, registry: registry, configuration: .init(concurrency: 2))
        let task = Task { try await worker.run() }
        await gate.waitForStarts(1)
        task.cancel()
        _ = try? await task.value
        // Cancelled, the worker writes nothing more: the job keeps its lease until it expires
        // (then another worker runs it, the attempt counted). Never lost, never released early.
        let record = try #require(try await backend.job(id))
        #expect(record.state == .active)
        #expect(record.attempt == 1)
    }

    @Test func classifiesErrors() {
        struct Invalid: PermanentJobError {}
        #expect(Worker.classify(JobError.permanent("x")).kind == .permanent)
        #expect(Worker.classify(ConveyorError.unknownJobName("a", known: [])).kind == .permanent)
        #expect(Worker.classify(Invalid()).kind == .permanent)
        #expect(Worker.classify(URLError(.timedOut)).kind == .retryable)
    }
}

@Suite("Routing and priorities")
struct RoutingTests {
    @Test func routesSendJobsToQueuesByNameFirstMatchWins() async throws {
        let routes = try JobRoutes("test.echo=fast, test.*=slow")
        #expect(routes.queue(for: "test.echo") == "fast")
        #expect(routes.queue(for: "test.flaky") == "slow")
        #expect(routes.queue(for: "other") == nil)
        let backend = MemoryBackend()
        let client = JobClient(backend: backend, configuration: .init(routes: routes))
        let routed = try await client.enqueue(EchoJob(value: 1))
        let explicit = try await client.enqueue(EchoJob(value: 1), options: .init(queue: "chosen"))
        #expect(try await routed.record().queue == "fast")
        #expect(try await explicit.record().queue == "chosen")
        #expect(throws: JobRoutes.Error.malformed("a=b=c", reason: "expected one '='")) { try JobRoutes("a=b=c") }
        #expect(throws: JobRoutes.Error.malformed("*x=q", reason: "'*' only at the end")) { try JobRoutes("*x=q") }
    }

    @Test func batchProgressAndTimeLeftFollowThePaceSoFar() {
        let created = Date(timeIntervalSince1970: 1_000)
        var batch = Batch(id: "b", counts: [.succeeded: 30, .dead: 10, .ready: 60], createdAt: created)
        #expect(batch.total == 100)
        #expect(batch.percentDone == 40)
        // 40 finished in 20 s: 60 more take about 30 s.
        #expect(batch.estimatedTimeLeft(now: created.addingTimeInterval(20)) == .seconds(30))
        batch.counts = [.ready: 5]
        #expect(batch.estimatedTimeLeft(now: created.addingTimeInterval(20)) == nil, "no pace yet")
        batch.counts = [.succeeded: 5]
        #expect(batch.isFinished)
        #expect(batch.estimatedTimeLeft() == .zero)
    }

    @Test func storeFailuresBackOffDoublingToFiveSeconds() {
        #expect((1...8).map { Worker.storeRetryDelay(failures: $0) } == [100, 200, 400, 800, 1600, 3200, 5000, 5000].map { .milliseconds($0) })
    }

    @Test func priorityNamesMapOntoTheScale() {
        #expect(Priority("high") == .high)
        #expect(Priority("LOW") == .low)
        #expect(Priority("normal") == .normal)
        #expect(Priority("7") == 7)
        #expect(Priority("10") == nil)
        #expect(Priority("urgent") == nil)
        #expect(Priority(rawValue: 42) == 9)
    }
}
