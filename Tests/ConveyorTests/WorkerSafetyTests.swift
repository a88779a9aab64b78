import Conveyor
import ConveyorTesting
import Foundation
import Synchronization
import Testing

/// Waits without ever looking at cancellation, until opened.
final class DeafGate: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>], entered: Int)>((false, [], 0))
    let entered = AsyncSignal()

    func wait() async {
        await withCheckedContinuation { continuation in
            let openAlready = state.withLock { state -> Bool in
                state.entered += 1
                if state.open { return true }
                state.waiters.append(continuation)
                return false
            }
            entered.notify()
            if openAlready { continuation.resume() }
        }
    }

    var enteredCount: Int { state.withLock { $0.entered } }

    func waitForEntries(_ count: Int) async {
        while true {
            let generation = entered.generation
            if enteredCount >= count { return }
            await entered.wait(after: generation)
        }
    }

    func open() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.open = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}

/// The worker never runs one attempt twice at once by its own doing (issue 11, item 3).
@Suite("Worker safety")
struct WorkerSafetyTests {
    /// A timed-out attempt whose handler ignores cancellation keeps its slot until the handler
    /// really returns: with one slot, the next job does not start meanwhile, and the overdue
    /// attempt is counted.
    @Test func anOverdueHandlerKeepsItsSlotUntilItReturns() async throws {
        let backend = MemoryBackend()
        let deaf = DeafGate()
        let gate = TestGate()
        var registry = JobRegistry()
        registry.register(name: "deaf", retryPolicy: .none) { _, _ in
            await deaf.wait()
            return Data()
        }
        registry.register(name: "next") { _, _ in
            await gate.pass("next")
            return Data()
        }
        let deafID = try await backend.enqueue(NewJob(name: "deaf", maxAttempts: 1, timeout: .milliseconds(50))).id
        let worker = Worker(backend: backend, registry: registry, configuration: .init(concurrency: 1, prefetch: 0))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await worker.run() }
            let timedOut = try await backend.waitUntilFinished(deafID, timeout: .seconds(30))
            #expect(timedOut.state == .dead)
            #expect(worker.overdueCount == 1)
            let nextID = try await backend.enqueue(NewJob(name: "next")).id
            // The only slot is held by the handler that is still running: nothing is claimed.
            #expect(try await backend.job(nextID)?.state == .ready)
            #expect(gate.startedLabels.isEmpty)
            deaf.open()
            gate.open()
            #expect(try await backend.waitUntilFinished(nextID, timeout: .seconds(30)).state == .succeeded)
            #expect(worker.overdueCount == 0)
            worker.stop()
            try await group.waitForAll()
        }
    }

    /// When the store says a running job's lease is lost (another worker recovered it), the
    /// attempt is stopped at once and counted as fenced; its outcome is never written.
    @Test func aLostLeaseStopsTheAttempt() async throws {
        let clock = ManualStoreClock()
        let backend = MemoryBackend(clock: clock)
        let gate = TestGate()
        let runs = Mutex(0)
        var registry = JobRegistry()
        registry.register(name: "long") { _, _ in
            let run = runs.withLock { $0 += 1; return $0 }
            if run == 1 {
                await gate.pass("first")
                try Task.checkCancellation()  // stopped by the lost lease
                return Data("first".utf8)
            }
            return Data("second".utf8)
        }
        let id = try await backend.enqueue(NewJob(name: "long", maxAttempts: 3)).id
        let worker = Worker(backend: backend, registry: registry, configuration: .init(
            concurrency: 1, lease: .seconds(30), heartbeatInterval: .milliseconds(20), recoveryInterval: .seconds(3600)))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await worker.run() }
            await gate.waitForStarts(1)
            // Another worker, whose clock says the lease is over, recovers the job.
            clock.advance(by: .seconds(60))
            #expect(try await backend.recoverExpiredLeases() == 1)
            let record = try await backend.waitUntilFinished(id, timeout: .seconds(30))
            #expect(record.state == .succeeded)
            #expect(record.result == Data("second".utf8))
            #expect(record.attempt == 2)
            #expect(worker.fencedCount == 1)
            worker.stop()
            try await group.waitForAll()
        }
    }

    /// At the end of the grace period a handler that ignores cancellation keeps its lease until
    /// it expires: the job is not handed back at once (where another worker would start it
    /// while the first still runs).
    @Test func aHandlerThatIgnoresShutdownKeepsItsLease() async throws {
        let backend = MemoryBackend()
        let deaf = DeafGate()
        var registry = JobRegistry()
        registry.register(name: "deaf") { _, _ in
            await deaf.wait()
            return Data()
        }
        let id = try await backend.enqueue(NewJob(name: "deaf")).id
        let worker = Worker(backend: backend, registry: registry,
                            configuration: .init(concurrency: 1, lease: .seconds(60), shutdownGracePeriod: .milliseconds(50)))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await worker.run() }
            await deaf.waitForEntries(1)
            worker.stop()
            try await group.waitForAll()
        }
        let record = try #require(try await backend.job(id))
        #expect(record.state == .active)
        #expect(record.attempt == 1)
        deaf.open()
    }

    /// A worker that discovers queues picks up one first used after it started.
    @Test func aDiscoveringWorkerPicksUpQueuesCreatedLater() async throws {
        let backend = MemoryBackend()
        var registry = JobRegistry()
        registry.register(name: "echo") { payload, _ in payload }
        let worker = Worker(backend: backend, registry: registry, configuration: .init(
            queues: ["default"], concurrency: 1, pollInterval: .milliseconds(50), discoversQueues: true))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await worker.run() }
            let id = try await backend.enqueue(NewJob(name: "echo", queue: "created-later")).id
            #expect(try await backend.waitUntilFinished(id, timeout: .seconds(30)).state == .succeeded)
            #expect(worker.queues == ["default", "created-later"])
            worker.stop()
            try await group.waitForAll()
        }
    }

    /// A sink can fence its writes with the attempt's lease token; the job's headers come along.
    @Test func theContextCarriesTheLeaseToken() async throws {
        let backend = MemoryBackend()
        var registry = JobRegistry()
        registry.register(name: "token") { _, context in Data("\(context.leaseToken) \(context.headers["tenant"] ?? "-")".utf8) }
        let id = try await backend.enqueue(NewJob(name: "token", headers: ["tenant": "42"])).id
        let worker = Worker(backend: backend, registry: registry, configuration: .init(concurrency: 1))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await worker.run() }
            let record = try await backend.waitUntilFinished(id, timeout: .seconds(30))
            #expect(record.result == Data("1 42".utf8))
            worker.stop()
            try await group.waitForAll()
        }
    }
}
