import Conveyor
import Foundation
import Testing

/// The model-based case: random sequences of operations run against the store and against
/// ``MemoryBackend`` (the reference model: its one `setState` funnel defines every transition
/// and every batch and workflow rule), comparing every job's state and attempt and every
/// batch's counters after each step. A failure names the seed; `CONVEYOR_MODEL_SEED=N`
/// replays it, `CONVEYOR_MODEL_STEPS=N` changes the length (10,000 by default).
///
/// Durations are whole thousands of seconds and the clocks move in steps of 1,000 s, so a
/// lease, a retry or a delay is never within a few milliseconds of "now" on one side and
/// past it on the other, however long the run takes in real time.
extension BackendConformance {
    static func modelBased(_ backend: any JobBackend, steps defaultSteps: Int) async throws {
        let environment = ProcessInfo.processInfo.environment
        let seed = environment["CONVEYOR_MODEL_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...UInt64.max)
        let steps = environment["CONVEYOR_MODEL_STEPS"].flatMap { Int($0) } ?? defaultSteps
        let modelClock = ManualStoreClock()
        let model = MemoryBackend(clock: modelClock, stepLimit: stepLimit)
        var run = ModelRun(store: backend, model: model, storeClock: clock, modelClock: modelClock, random: SeededGenerator(seed: seed))
        do {
            for step in 0..<steps {
                try await run.step(step)
            }
        } catch let divergence as ModelRun.Divergence {
            Issue.record("the store differs from the model at step \(divergence.step) (\(divergence.operation)): \(divergence.detail). Replay with CONVEYOR_MODEL_SEED=\(seed)")
        } catch {
            Issue.record("the model-based case failed: \(error). Replay with CONVEYOR_MODEL_SEED=\(seed)")
        }
    }
}

struct ModelRun {
    struct Divergence: Error {
        var step: Int
        var operation: String
        var detail: String
    }

    let store: any JobBackend
    let model: MemoryBackend
    let storeClock: ManualStoreClock
    let modelClock: ManualStoreClock
    var random: SeededGenerator
    /// Leases of claimed jobs, in each store (tokens may be numbered alike, but need not be).
    var storeLeases: [JobID: JobLease] = [:]
    var modelLeases: [JobID: JobLease] = [:]
    var ids: [JobID] = []
    var batches: Set<String> = []
    var nextBatch = 0

    static let queues = ["a", "b"]
    static let lease = Duration.seconds(1500)

    init(store: any JobBackend, model: MemoryBackend, storeClock: ManualStoreClock, modelClock: ManualStoreClock, random: SeededGenerator) {
        self.store = store
        self.model = model
        self.storeClock = storeClock
        self.modelClock = modelClock
        self.random = random
    }

    mutating func pick<T>(_ items: [T]) -> T? {
        items.isEmpty ? nil : items[Int.random(in: 0..<items.count, using: &random)]
    }

    mutating func chance(_ percent: Int) -> Bool { Int.random(in: 0..<100, using: &random) < percent }

    mutating func newJob(batch: String? = nil) -> NewJob {
        NewJob(
            name: "model.job", queue: pick(Self.queues)!, priority: Priority(rawValue: Int.random(in: 3...6, using: &random)),
            delay: chance(15) ? .seconds(3500) : nil, maxAttempts: Int.random(in: 1...3, using: &random),
            timeout: .seconds(60), uniqueKey: chance(10) ? "u\(Int.random(in: 0..<8, using: &random))" : nil,
            batchID: batch ?? (chance(40) ? pick(Array(batches).sorted()) : nil))
    }

    mutating func step(_ step: Int) async throws {
        let roll = Int.random(in: 0..<100, using: &random)
        let operation: String
        switch roll {
        case 0..<18:
            operation = "enqueue"
            let count = Int.random(in: 1...4, using: &random)
            var jobs: [NewJob] = []
            for _ in 0..<count { jobs.append(newJob()) }
            try await both(step, operation, { try await $0.enqueue(jobs).map(\.id) }, record: true)
        case 18..<24:
            operation = "enqueue a chain"
            var jobs = [newJob()]
            for index in 1..<Int.random(in: 2...4, using: &random) {
                var next = newJob()
                next.uniqueKey = nil
                next.dependsOn = .earlier(index - 1)
                jobs.append(next)
            }
            try await both(step, operation, { try await $0.enqueue(jobs).map(\.id) }, record: true)
        case 24..<29:
            operation = "enqueue a chord"
            nextBatch += 1
            let batch = "g\(nextBatch)"
            batches.insert(batch)
            var jobs: [NewJob] = []
            for _ in 0..<Int.random(in: 1...3, using: &random) { jobs.append(newJob(batch: batch)) }
            var callback = newJob(batch: nil)
            callback.uniqueKey = nil
            callback.batchID = nil
            callback.dependsOn = .batch(batch, [.allSucceeded, .allFinished, .allSucceededOrFail].randomElement(using: &random)!)
            jobs.append(callback)
            try await both(step, operation, { try await $0.enqueue(jobs).map(\.id) }, record: true)
        case 29..<32:
            operation = "create a batch with callbacks"
            nextBatch += 1
            let batch = "c\(nextBatch)"
            batches.insert(batch)
            var success = newJob(batch: nil)
            success.uniqueKey = nil
            success.batchID = nil
            let new = NewBatch(id: batch, onSuccess: success, onComplete: chance(50) ? success : nil)
            let storeBatch = try await store.createBatch(new)
            let modelBatch = try await model.createBatch(new)
            try expect(step, operation, storeBatch.onSuccessJob == modelBatch.onSuccessJob && storeBatch.onCompleteJob == modelBatch.onCompleteJob,
                       "callback ids \(String(describing: storeBatch.onSuccessJob)), \(String(describing: storeBatch.onCompleteJob)) against \(String(describing: modelBatch.onSuccessJob)), \(String(describing: modelBatch.onCompleteJob))")
            ids += [storeBatch.onSuccessJob, storeBatch.onCompleteJob].compactMap { $0 }
        case 32..<50:
            operation = "claim"
            let queues = chance(50) ? Self.queues : [pick(Self.queues)!]
            // Every ready job of the queues: within a priority the stores may order jobs that
            // became ready at different times differently (Redis by when they became ready,
            // SQLite by id), which the dedicated FIFO case pins for plain enqueues.
            let limit = 10_000
            let fromStore = try await store.claim(queues: queues, limit: limit, lease: Self.lease, workerID: "model")
            let fromModel = try await model.claim(queues: queues, limit: limit, lease: Self.lease, workerID: "model")
            try expect(step, operation, fromStore.map(\.id).sorted() == fromModel.map(\.id).sorted(),
                       "claimed \(fromStore.map(\.id)) against \(fromModel.map(\.id))")
            let attempts = Dictionary(uniqueKeysWithValues: fromModel.map { ($0.id, $0.attempt) })
            try expect(step, operation, fromStore.allSatisfy { attempts[$0.id] == $0.attempt }, "attempts \(fromStore.map(\.attempt)) against \(fromModel.map(\.attempt))")
            for job in fromStore { storeLeases[job.id] = job.lease }
            for job in fromModel { modelLeases[job.id] = job.lease }
        case 50..<68:
            operation = "complete"
            let chosen = Array(storeLeases.keys.sorted().filter { _ in chance(60) })
            var storeOutcomes: [JobOutcome] = [], modelOutcomes: [JobOutcome] = []
            for id in chosen {
                guard let storeLease = storeLeases[id], let modelLease = modelLeases[id] else { continue }
                let kind = Int.random(in: 0..<10, using: &random)
                let result: JobOutcome.Result
                switch kind {
                case 0..<6: result = .succeeded(output: Data("{}".utf8))
                case 6..<8: result = .failed(JobFailure(.retryable, "try again"), retryAfter: .seconds(2500))
                default: result = .failed(JobFailure(.permanent, "no"), retryAfter: nil)
                }
                storeOutcomes.append(JobOutcome(lease: storeLease, result: result))
                modelOutcomes.append(JobOutcome(lease: modelLease, result: result))
                storeLeases[id] = nil
                modelLeases[id] = nil
            }
            let storeFenced = try await store.complete(storeOutcomes).map(\.id)
            let modelFenced = try await model.complete(modelOutcomes).map(\.id)
            try expect(step, operation, storeFenced.sorted() == modelFenced.sorted(), "fenced \(storeFenced) against \(modelFenced)")
        case 68..<73:
            operation = "heartbeat"
            let chosen = storeLeases.keys.sorted().filter { _ in chance(50) }
            let storeLost = try await store.heartbeat(chosen.compactMap { storeLeases[$0] }, lease: Self.lease).map(\.id)
            let modelLost = try await model.heartbeat(chosen.compactMap { modelLeases[$0] }, lease: Self.lease).map(\.id)
            try expect(step, operation, storeLost.sorted() == modelLost.sorted(), "lost \(storeLost) against \(modelLost)")
        case 73..<77:
            operation = "release"
            let chosen = storeLeases.keys.sorted().filter { _ in chance(50) }
            try await store.release(chosen.compactMap { storeLeases[$0] })
            try await model.release(chosen.compactMap { modelLeases[$0] })
            for id in chosen { storeLeases[id] = nil; modelLeases[id] = nil }
        case 77..<83:
            operation = "time passes and leases expire"
            storeClock.advance(by: .seconds(1000))
            modelClock.advance(by: .seconds(1000))
            var storeRecovered = 0, modelRecovered = 0
            while true {
                let count = try await store.recoverExpiredLeases()
                storeRecovered += count
                if count == 0 { break }
            }
            while true {
                let count = try await model.recoverExpiredLeases()
                modelRecovered += count
                if count == 0 { break }
            }
            try expect(step, operation, storeRecovered == modelRecovered, "recovered \(storeRecovered) against \(modelRecovered)")
        case 83..<88:
            operation = "cancel"
            let chosen = ids.filter { _ in chance(8) }
            let fromStore = try await store.cancel(chosen)
            let fromModel = try await model.cancel(chosen)
            try expect(step, operation, fromStore.sorted() == fromModel.sorted(), "cancelled \(fromStore) against \(fromModel)")
        case 88..<93:
            operation = "retry"
            let chosen = ids.filter { _ in chance(10) }
            let fromStore = try await store.retry(chosen)
            let fromModel = try await model.retry(chosen)
            try expect(step, operation, fromStore.sorted() == fromModel.sorted(), "retried \(fromStore) against \(fromModel)")
        case 93..<96:
            operation = "recover a batch"
            guard let batch = pick(Array(batches).sorted()) else { return }
            let onlyRetryable = chance(50)
            let fromStore = try await store.recoverBatch(batch, onlyRetryable: onlyRetryable)
            let fromModel = try await model.recoverBatch(batch, onlyRetryable: onlyRetryable)
            try expect(step, operation, fromStore.sorted() == fromModel.sorted(), "recovered \(fromStore) against \(fromModel)")
        default:
            // Finished jobs only: a purge of unfinished ones cancels them first, and what that
            // releases (a batch's callback made ready) is purged or not depending on whether a
            // later step of the same purge reaches it, and the stores cut steps differently (by
            // matches on SQLite and in memory, by ids looked at on Redis). The purge cases pin
            // unfinished purges.
            let request = chance(70) ? PurgeRequest() : PurgeRequest(queue: pick(Self.queues), states: [.succeeded, .dead, .cancelled])
            operation = "purge \(request.states.map(\.description))\(request.queue.map { " of \($0)" } ?? "")"
            let fromStore = try await store.purge(request)
            let fromModel = try await model.purge(request)
            try expect(step, operation, fromStore == fromModel, "purged \(fromStore) against \(fromModel)")
        }
        try await compare(step, operation)
    }

    /// Runs an enqueue on both; the ids must agree.
    mutating func both(_ step: Int, _ operation: String, _ body: (any JobBackend) async throws -> [JobID], record: Bool) async throws {
        let fromStore = try await body(store)
        let fromModel = try await body(model)
        try expect(step, operation, fromStore == fromModel, "ids \(fromStore) against \(fromModel)")
        if record { ids += fromStore.filter { !ids.contains($0) } }
    }

    func expect(_ step: Int, _ operation: String, _ condition: Bool, _ detail: @autoclosure () -> String) throws {
        if !condition { throw Divergence(step: step, operation: operation, detail: detail()) }
    }

    /// Every job's state and attempt, and every batch's counters, must agree.
    mutating func compare(_ step: Int, _ operation: String) async throws {
        let fromStore = try await Self.snapshot(store)
        let fromModel = try await Self.snapshot(model)
        if fromStore != fromModel {
            let differing = Set(fromStore.keys).union(fromModel.keys).sorted().filter { fromStore[$0] != fromModel[$0] }.prefix(5)
            let detail = differing.map { id in
                "job \(id): store \(fromStore[id].map { "\($0.state) attempt \($0.attempt)" } ?? "none"), model \(fromModel[id].map { "\($0.state) attempt \($0.attempt)" } ?? "none")"
            }.joined(separator: "; ")
            throw Divergence(step: step, operation: operation, detail: detail)
        }
        // Every batch now and then; a few at random on every step.
        let allBatches = batches.sorted()
        var checked: [String] = []
        if step % 100 == 99 {
            checked = allBatches
        } else {
            for _ in 0..<min(3, allBatches.count) { checked.append(pick(allBatches)!) }
        }
        for batch in checked {
            let storeCounts = try await store.batch(batch)?.counts ?? [:]
            let modelCounts = try await model.batch(batch)?.counts ?? [:]
            try expect(step, operation, storeCounts.filter { $0.value != 0 } == modelCounts.filter { $0.value != 0 },
                       "batch \(batch) counts \(storeCounts) against \(modelCounts)")
        }
        // Each queue's counts by state (stores keep counters; the model counts its jobs).
        func counts(_ stats: [QueueStats]) -> [String: [JobState: Int]] {
            var all: [String: [JobState: Int]] = [:]
            for queue in stats where queue.total > 0 { all[queue.queue] = queue.counts.filter { $0.value != 0 } }
            return all
        }
        let storeQueues = counts(try await store.queueStats())
        let modelQueues = counts(try await model.queueStats())
        try expect(step, operation, storeQueues == modelQueues, "queue counts \(storeQueues) against \(modelQueues)")
        // Forget purged jobs.
        ids = ids.filter { fromModel[$0] != nil }
        storeLeases = storeLeases.filter { fromModel[$0.key]?.state == .active }
        modelLeases = modelLeases.filter { fromModel[$0.key]?.state == .active }
    }

    struct Seen: Equatable {
        var state: JobState
        var attempt: Int
    }

    static func snapshot(_ backend: any JobBackend) async throws -> [JobID: Seen] {
        var seen: [JobID: Seen] = [:]
        try await backend.forEachPage(of: JobQuery(limit: 1000)) { page in
            for record in page { seen[record.id] = Seen(state: record.state, attempt: record.attempt) }
        }
        return seen
    }
}
