import Conveyor
import Foundation
import Testing

extension BackendConformance {
    static let batchCases: [Case] = [
        Case(name: "batch counters stay exact through retries, deaths, cancels and recovery", body: batchCounters),
        Case(name: "batch callbacks become ready exactly once, success only when all succeeded", body: batchCallbacks),
        Case(name: "a batch whose callback carries a unique key is refused whole", body: callbackUniqueKeys),
        Case(name: "recover re-enqueues dead members, optionally only retryable ones", body: selectiveRecover),
        Case(name: "the completion callback is released once under many concurrent completions", body: concurrentCompletions),
        Case(name: "batch progress streams until the batch finishes", body: batchProgress),
        Case(name: "purging unfinished members counts them cancelled and settles what waits", body: purgeMembers),
    ]

    static func purgeMembers(_ backend: any JobBackend) async throws {
        let created = try await backend.createBatch(NewBatch(id: "pm", onComplete: job("done", queue: "callbacks")))
        let ids = try await backend.enqueue([job(batch: "pm"), job(queue: "other", batch: "pm")]).map(\.id)
        var next = job("next", queue: "other")
        next.dependsOn = .job(ids[1])
        let child = try await backend.enqueue(next).id
        let claimed = try await backend.claim(queues: ["default"], limit: 1, lease: lease, workerID: "w")
        try await backend.complete([.succeeded(claimed[0].lease, output: Data())])
        #expect(try await backend.purge(PurgeRequest(queue: "other", states: [.ready, .succeeded])) == 1)
        #expect(try await backend.batch("pm")?.counts == [.succeeded: 1, .cancelled: 1])
        #expect(try await state(backend, try #require(created.onCompleteJob)) == .ready)
        #expect(try await backend.job(child)?.lastError?.message.hasPrefix("chain stopped: job \(ids[1]) ended cancelled") == true)
        #expect(try await state(backend, child) == .cancelled)
        #expect(try await backend.purge(PurgeRequest(states: [.succeeded])) == 1)
        #expect(try await backend.batch("pm")?.counts == [.succeeded: 1, .cancelled: 1], "finished members stay counted")
    }

    /// The batch's counters must equal a count of its members, at every step.
    static func expectCountersMatchMembers(_ backend: any JobBackend, _ id: String, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let batch = try #require(try await backend.batch(id), sourceLocation: sourceLocation)
        var counted: [JobState: Int] = [:]
        for job in try await backend.jobs(JobQuery(batchID: id, limit: 100_000)) { counted[job.state, default: 0] += 1 }
        #expect(batch.counts == counted, sourceLocation: sourceLocation)
    }

    static func batchCounters(_ backend: any JobBackend) async throws {
        try await backend.createBatch(NewBatch(id: "b", name: "counters"))
        let ids = try await backend.enqueue((0..<6).map { _ in job(maxAttempts: 2, batch: "b") }
            + [job(delay: .seconds(3600), batch: "b")]).map(\.id)
        try await expectCountersMatchMembers(backend, "b")
        var batch = try #require(try await backend.batch("b"))
        #expect(batch.name == "counters")
        #expect(batch.total == 7)
        #expect(batch.pending == 7)

        let claimed = try await backend.claim(queues: ["default"], limit: 5, lease: .seconds(10), workerID: "w")
        try await expectCountersMatchMembers(backend, "b")
        #expect(try await backend.batch("b")?[.active] == 5)
        try await backend.complete([
            .succeeded(claimed[0].lease, output: Data("{}".utf8)),
            .failed(claimed[1].lease, JobFailure(.retryable, "503"), retryAfter: .seconds(3600)),
            .failed(claimed[2].lease, JobFailure(.permanent, "bad"), retryAfter: nil),
        ])
        try await expectCountersMatchMembers(backend, "b")
        _ = try await backend.cancel([ids[5], ids[6]])
        try await expectCountersMatchMembers(backend, "b")
        // Two leases expire: attempt 1 of 2, so both go back to ready.
        clock.advance(by: .seconds(11))
        #expect(try await backend.recoverExpiredLeases() == 2)
        try await expectCountersMatchMembers(backend, "b")
        batch = try #require(try await backend.batch("b"))
        #expect(batch.counts == [.succeeded: 1, .retrying: 1, .dead: 1, .cancelled: 2, .ready: 2])
        #expect(batch.finished == 4)
        #expect(!batch.isFinished)
        #expect(abs(batch.percentDone - 400.0 / 7) < 0.001)
        #expect(batch.finishedAt == nil)
    }

    /// REVIEW §1.5: stores used to differ (one threw a constraint error, the others let the
    /// callback take the key from its holder). Every store now refuses such a batch whole.
    static func callbackUniqueKeys(_ backend: any JobBackend) async throws {
        let holder = try await backend.enqueue(job(uniqueKey: "report"))
        for callbacks in [(job(uniqueKey: "report"), nil), (nil, job(uniqueKey: "fresh"))] as [(NewJob?, NewJob?)] {
            do {
                try await backend.createBatch(NewBatch(id: "keyed", onSuccess: callbacks.0, onComplete: callbacks.1))
                Issue.record("a batch with a keyed callback was created")
            } catch let error as ConveyorError {
                guard case .invalidBatch("keyed", let reason) = error else { throw error }
                #expect(reason.contains("unique key"), "\(reason)")
            }
        }
        #expect(try await backend.batch("keyed") == nil, "nothing of a refused batch is stored")
        #expect(try await backend.jobs(JobQuery()).map(\.id) == [holder.id], "the key's holder is untouched")
        #expect(try await backend.enqueue(job(uniqueKey: "report")).isDuplicate)
        var selfMember = job()
        selfMember.batchID = "keyed"
        await #expect(throws: ConveyorError.self) { try await backend.createBatch(NewBatch(id: "keyed", onComplete: selfMember)) }
        #expect(try await backend.batch("keyed") == nil)
    }

    static func batchCallbacks(_ backend: any JobBackend) async throws {
        let created = try await backend.createBatch(NewBatch(
            id: "cb", onSuccess: job("on.success", payload: #"{"batch":"cb"}"#), onComplete: job("on.complete")))
        let successID = try #require(created.onSuccessJob)
        let completeID = try #require(created.onCompleteJob)
        #expect(try await state(backend, successID) == .waiting)
        #expect(try await state(backend, completeID) == .waiting)
        // Creating it again changes nothing.
        #expect(try await backend.createBatch(NewBatch(id: "cb", onComplete: job("other"))).onCompleteJob == completeID)

        _ = try await backend.enqueue([job(batch: "cb"), job(batch: "cb")])
        var claimed = try await backend.claim(queues: ["default"], limit: 10, lease: lease, workerID: "w")
        #expect(claimed.count == 2, "callbacks are not claimable while they wait")
        try await backend.complete([.succeeded(claimed[0].lease, output: Data("1".utf8))])
        #expect(try await state(backend, completeID) == .waiting)
        try await backend.complete([.failed(claimed[1].lease, JobFailure(.retryable, "timeout"), retryAfter: nil)])

        var batch = try #require(try await backend.batch("cb"))
        #expect(batch.isFinished)
        #expect(batch.finishedAt != nil)
        #expect(batch.total == 2, "callbacks are not members")
        #expect(try await state(backend, completeID) == .ready)
        #expect(try await state(backend, successID) == .waiting, "a member died: no success yet")

        // Recovering the dead member and succeeding releases the success callback; the
        // completion callback is not released a second time.
        claimed = try await backend.claim(queues: ["default"], limit: 10, lease: lease, workerID: "w")
        #expect(claimed.map(\.name) == ["on.complete"])
        #expect(try await backend.recoverBatch("cb", onlyRetryable: false).count == 1)
        #expect(try await backend.batch("cb")?.finishedAt == nil)
        let again = try await backend.claim(queues: ["default"], limit: 10, lease: lease, workerID: "w")
        #expect(again.map(\.name) == ["test.job"])
        try await backend.complete(again.map { .succeeded($0.lease, output: Data("2".utf8)) })
        batch = try #require(try await backend.batch("cb"))
        #expect(batch.isFinished)
        #expect(batch[.succeeded] == 2)
        #expect(try await state(backend, successID) == .ready)
        #expect(try await state(backend, completeID) == .active, "still the one claim from before")
        let success = try #require(try await backend.job(successID))
        #expect(success.payload == Data(#"{"batch":"cb"}"#.utf8))
        #expect(success.batchID == nil)
        let all = try await backend.jobs(JobQuery(limit: 100))
        #expect(all.filter { $0.name.hasPrefix("on.") }.count == 2)
    }

    static func selectiveRecover(_ backend: any JobBackend) async throws {
        _ = try await backend.enqueue((0..<4).map { _ in job(maxAttempts: 1, batch: "r") })
        let claimed = try await backend.claim(queues: ["default"], limit: 10, lease: lease, workerID: "w")
        try await backend.complete([
            .failed(claimed[0].lease, JobFailure(.retryable, "HTTP 503"), retryAfter: nil),
            .failed(claimed[1].lease, JobFailure(.permanent, "no such HSN"), retryAfter: nil),
            .failed(claimed[2].lease, JobFailure(.retryable, "timeout"), retryAfter: nil),
            .succeeded(claimed[3].lease, output: Data()),
        ])
        let retryable = try await backend.recoverBatch("r", onlyRetryable: true)
        #expect(retryable == [claimed[0].id, claimed[2].id])
        #expect(try await state(backend, claimed[1].id) == .dead)
        try await expectCountersMatchMembers(backend, "r")
        #expect(try await backend.recoverBatch("r", onlyRetryable: false) == [claimed[1].id])
        #expect(try await backend.batch("r")?.counts == [.ready: 3, .succeeded: 1])
        #expect(try await backend.recoverBatch("elsewhere", onlyRetryable: false).isEmpty)
    }

    static func concurrentCompletions(_ backend: any JobBackend) async throws {
        let created = try await backend.createBatch(NewBatch(id: "many", onComplete: job("on.complete", queue: "callbacks")))
        _ = try await backend.enqueue((0..<300).map { _ in job(batch: "many") })
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<8 {
                group.addTask {
                    while true {
                        let jobs = try await backend.claim(queues: ["default"], limit: 5, lease: lease, workerID: "w\(worker)")
                        if jobs.isEmpty { return }
                        try await backend.complete(jobs.map { .succeeded($0.lease, output: Data()) })
                    }
                }
            }
            try await group.waitForAll()
        }
        let batch = try #require(try await backend.batch("many"))
        #expect(batch[.succeeded] == 300)
        let callbacks = try await backend.jobs(JobQuery(queue: "callbacks"))
        #expect(callbacks.map(\.id) == [created.onCompleteJob])
        #expect(callbacks.first?.state == .ready)
        #expect(try await backend.claim(queues: ["callbacks"], limit: 10, lease: lease, workerID: "w").count == 1)
    }

    static func batchProgress(_ backend: any JobBackend) async throws {
        _ = try await backend.enqueue((0..<3).map { _ in job(batch: "p") })
        var updates = backend.progress(ofBatch: "p").makeAsyncIterator()
        var seen = [try #require(try await updates.next()).finished]
        #expect(seen == [0], "the stream starts with the batch as it is")
        // One job at a time, each step seen before the next: every intermediate count shows.
        for step in 1...3 {
            let claimed = try await backend.claim(queues: ["default"], limit: 1, lease: lease, workerID: "w")
            try #require(claimed.count == 1)
            try await backend.complete([.succeeded(claimed[0].lease, output: Data())])
            // A claim moves counters too, so updates with the count before may come first.
            while seen.last! < step {
                let batch = try #require(try await updates.next(), "the stream ended at \(seen)")
                seen.append(batch.finished)
            }
            #expect(seen.last == step)
        }
        #expect(try await updates.next() == nil, "the stream ends once the batch is finished")
        #expect(Array(Set(seen)).sorted() == [0, 1, 2, 3], "every step is seen, \(seen)")
        #expect(seen == seen.sorted())
        await #expect(throws: ConveyorError.batchNotFound("nope")) {
            for try await _ in backend.progress(ofBatch: "nope") {}
        }
    }
}
