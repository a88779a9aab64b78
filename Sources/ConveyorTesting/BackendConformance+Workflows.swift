import Conveyor
import Foundation
import Testing

/// Adds one to its parent's output (a chain step).
public struct AddOneJob: Job {
    public static let name = "test.add-one"
    public init() {}
    public func run(_ context: JobContext) async throws -> Int { try await context.parentResult(as: Int.self) + 1 }
}

/// Sums the outputs of the batch it waited for (a chord callback); failed members count as zero
/// and are listed.
public struct SumJob: Job {
    public static let name = "test.sum"
    public struct Output: Codable, Sendable, Equatable { public var sum: Int; public var failures: [String] }
    public init() {}
    public func run(_ context: JobContext) async throws -> Output {
        let results = try await context.batchResults(as: Int.self)
        var output = Output(sum: 0, failures: [])
        for result in results {
            switch result {
            case .success(let value): output.sum += value
            case .failure(let failure): output.failures.append(failure.message)
            }
        }
        return output
    }
}

extension BackendConformance {
    static let workflowCases: [Case] = [
        Case(name: "a chain runs in order and each step sees the one before", body: chainOrder),
        Case(name: "a chain stops when a step ends dead, and says why", body: chainStops),
        Case(name: "a chord callback is released once, after every member, chains included", body: chordRelease),
        Case(name: "a strict chord fails at once when a member dies, and so does what follows it", body: strictChordFails),
        Case(name: "a dependency on a job that already finished is settled at once", body: finishedDependency),
        Case(name: "a worker runs chains and chords end to end with results passed along", body: workerRunsWorkflows),
        Case(name: "a batch of chords finishes after every chord's callback, and cancels as a whole", body: batchOfChords),
        Case(name: "recovering a failed chord member resumes its chain, the callback and what follows", body: recoverResumesWorkflow),
    ]

    static func recoverResumesWorkflow(_ backend: any JobBackend) async throws {
        let client = JobClient(backend: backend)
        let ids = try await client.enqueue(.chain(
            .chord([.chain(.job(job("x1", maxAttempts: 1)), .job(job("x2"))), .job(job("y"))], then: job("merge")),
            .job(job("publish"))
        )).map(\.id)
        let (x1, x2, y, merge, publish) = (ids[0], ids[1], ids[2], ids[3], ids[4])
        var claimed = try await claimAll(backend)
        #expect(Set(claimed.map(\.id)) == [x1, y])
        try await backend.complete(claimed.map {
            $0.id == x1 ? .failed($0.lease, JobFailure(.retryable, "HTTP 503"), retryAfter: nil) : .succeeded($0.lease, output: Data())
        })
        #expect(try await state(backend, x2) == .cancelled)
        #expect(try await state(backend, merge) == .dead)
        #expect(try await state(backend, publish) == .cancelled)
        // A step behind a dead parent cannot be retried alone.
        #expect(try await backend.retry([x2]).isEmpty)

        let batch = try #require(try await backend.job(merge)?.waitedForBatch)
        #expect(try await backend.recoverBatch(batch, onlyRetryable: true) == [x1])
        #expect(try await state(backend, x2) == .waiting)
        #expect(try await state(backend, merge) == .waiting)
        #expect(try await state(backend, publish) == .waiting)
        #expect(try await backend.batch(batch)?.counts == [.ready: 1, .waiting: 1, .succeeded: 1])
        for expected in [x1, x2, merge, publish] {
            claimed = try await claimAll(backend)
            #expect(claimed.map(\.id) == [expected])
            try await backend.complete(claimed.map { .succeeded($0.lease, output: Data()) })
        }
        #expect(try await backend.batch(batch)?.counts == [.succeeded: 3])
    }

    static func chainOrder(_ backend: any JobBackend) async throws {
        let client = JobClient(backend: backend)
        let ids = try await client.enqueue(.chain(.job(job("a")), .job(job("b")), .job(job("c")))).map(\.id)
        #expect(try await state(backend, ids[1]) == .waiting)
        for (index, id) in ids.enumerated() {
            let claimed = try await claimAll(backend)
            #expect(claimed.map(\.id) == [id], "step \(index) alone is ready")
            #expect(claimed.first?.parentID == (index == 0 ? nil : ids[index - 1]))
            try await backend.complete([.succeeded(claimed[0].lease, output: Data("\(index)".utf8))])
        }
        #expect(try await claimAll(backend).isEmpty)
    }

    static func chainStops(_ backend: any JobBackend) async throws {
        let client = JobClient(backend: backend)
        let ids = try await client.enqueue(.chain(.job(job("a")), .job(job("b")), .job(job("c"))), batchID: "flow").map(\.id)
        let first = try await claimAll(backend)
        try await backend.complete([.failed(first[0].lease, JobFailure(.permanent, "source returned 404"), retryAfter: nil)])
        for id in ids.dropFirst() {
            let record = try #require(try await backend.job(id))
            #expect(record.state == .cancelled)
            #expect(record.lastError?.message == "chain stopped: job \(ids[0]) ended dead: source returned 404")
        }
        #expect(try await backend.batch("flow")?.counts == [.dead: 1, .cancelled: 2])
        #expect(try await backend.batch("flow")?.isFinished == true, "a stopped chain never leaves its batch waiting")
    }

    static func chordRelease(_ backend: any JobBackend) async throws {
        let client = JobClient(backend: backend)
        let ids = try await client.enqueue(.chord([
            .chain(.job(job("a1")), .job(job("a2"))),
            .job(job("b")),
            .chain(.job(job("c1")), .job(job("c2"))),
        ], then: job("callback", queue: "callbacks"), when: .allFinished)).map(\.id)
        let callback = try #require(ids.last)
        #expect(try await state(backend, callback) == .waiting)
        // Finish everything claimable, concurrently, until nothing is left.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<4 {
                group.addTask {
                    while true {
                        let jobs = try await backend.claim(queues: ["default"], limit: 1, lease: lease, workerID: "w\(worker)")
                        if jobs.isEmpty {
                            let done = try await backend.jobs(JobQuery(states: [.succeeded], queue: "default")).count
                            if done == 5 { return }
                            await Task.yield()
                            continue
                        }
                        #expect(try await state(backend, callback) == .waiting)
                        try await backend.complete(jobs.map { .succeeded($0.lease, output: Data("1".utf8)) })
                    }
                }
            }
            try await group.waitForAll()
        }
        let released = try await backend.claim(queues: ["callbacks"], limit: 10, lease: lease, workerID: "w")
        #expect(released.map(\.id) == [callback])
        let batch = try #require(released.first?.waitedForBatch)
        #expect(try await backend.batch(batch)?.counts == [.succeeded: 5])
        #expect(try await backend.jobs(JobQuery(batchID: batch)).count == 5)
    }

    static func strictChordFails(_ backend: any JobBackend) async throws {
        let client = JobClient(backend: backend)
        let ids = try await client.enqueue(.chain(
            .chord([.job(job("a", maxAttempts: 1)), .job(job("b")), .job(job("c"))], then: job("merge")),
            .job(job("publish"))
        )).map(\.id)
        let claimed = try await claimAll(backend)
        #expect(claimed.count == 3)
        try await backend.complete([
            .succeeded(claimed[0].lease, output: Data()),
            .failed(claimed[1].lease, JobFailure(.retryable, "HTTP 503"), retryAfter: nil),
            .succeeded(claimed[2].lease, output: Data()),
        ])
        let merge = try #require(try await backend.job(ids[3]))
        #expect(merge.state == .dead)
        #expect(merge.attempt == 0)
        #expect(merge.lastError?.message.hasPrefix("1 of 3 members of batch") == true)
        let publish = try #require(try await backend.job(ids[4]))
        #expect(publish.state == .cancelled)
        #expect(publish.lastError?.message.contains("chain stopped: job \(ids[3]) ended dead") == true)
        #expect(try await claimAll(backend).isEmpty)
    }

    static func finishedDependency(_ backend: any JobBackend) async throws {
        let parents = try await backend.enqueue([job("ok"), job("bad")]).map(\.id)
        let claimed = try await claimAll(backend)
        try await backend.complete([
            .succeeded(claimed[0].lease, output: Data("7".utf8)),
            .failed(claimed[1].lease, JobFailure(.permanent, "no"), retryAfter: nil),
        ])
        var afterOK = job("next")
        afterOK.dependsOn = .job(parents[0])
        var afterBad = job("next")
        afterBad.dependsOn = .job(parents[1])
        var missing = job("next")
        missing.dependsOn = .job(JobID(987_654))
        let children = try await backend.enqueue([afterOK, afterBad]).map(\.id)
        #expect(try await state(backend, children[0]) == .ready)
        #expect(try await state(backend, children[1]) == .cancelled)
        await #expect(throws: ConveyorError.jobNotFound(JobID(987_654))) { try await backend.enqueue([missing]) }
        // A dependency on a later or absent job of the same call: a clear error, nothing stored.
        var forward = job("forward")
        forward.dependsOn = .earlier(1)
        var selfish = job("self")
        selfish.dependsOn = .earlier(0)
        let before = try await backend.jobs(JobQuery(limit: 1000)).count
        await #expect(throws: ConveyorError.self) { try await backend.enqueue([forward, job("later")]) }
        await #expect {
            try await backend.enqueue([selfish])
        } throws: { error in
            "\(error)" == "'self' has an invalid dependency: it is job 0 of the call and depends on earlier job 0; the first job of a call has no earlier job; nothing of this enqueue was stored"
        }
        #expect(try await backend.jobs(JobQuery(limit: 1000)).count == before)

        _ = try await backend.enqueue([job(batch: "done")])
        let member = try await claimAll(backend).first { $0.batchID == "done" }!
        try await backend.complete([.succeeded(member.lease, output: Data())])
        var late = job("late")
        late.dependsOn = .batch("done", .allSucceeded)
        #expect(try await state(backend, try await backend.enqueue(late).id) == .ready)
    }

    static func batchOfChords(_ backend: any JobBackend) async throws {
        let client = JobClient(backend: backend)
        let outer = try await backend.createBatch(NewBatch(id: "outer", onComplete: job("outer.done", queue: "callbacks")))
        let first = try await client.enqueue(.chord([.job(job("a")), .job(job("b"))], then: job("merge-1")), batchID: "outer")
        let second = try await client.enqueue(.chord([.job(job("c"))], then: job("merge-2")), batchID: "outer")
        #expect(try await backend.batch("outer")?.counts == [.waiting: 2], "the outer batch's members are the chords' callbacks")
        var claimed = try await claimAll(backend)
        #expect(Set(claimed.map(\.name)) == ["a", "b", "c"])
        try await backend.complete(claimed.map { .succeeded($0.lease, output: Data()) })
        #expect(try await backend.batch("outer")?.counts == [.ready: 2])
        claimed = try await claimAll(backend)
        #expect(Set(claimed.map(\.id)) == [first.last!.id, second.last!.id])
        try await backend.complete([.succeeded(claimed[0].lease, output: Data())])
        #expect(try await state(backend, try #require(outer.onCompleteJob)) == .waiting)
        try await backend.complete([.succeeded(claimed[1].lease, output: Data())])
        #expect(try await backend.batch("outer")?.isFinished == true)
        #expect(try await state(backend, try #require(outer.onCompleteJob)) == .ready)

        _ = try await backend.enqueue((0..<3).map { _ in job(batch: "doomed") })
        _ = try await backend.claim(queues: ["default"], limit: 1, lease: lease, workerID: "w")
        let cancelled = try await backend.cancelBatch("doomed")
        #expect(cancelled == 2)
        #expect(try await backend.batch("doomed")?.counts == [.active: 1, .cancelled: 2])
    }

    static func workerRunsWorkflows(_ backend: any JobBackend) async throws {
        let client = JobClient(backend: backend)
        var registry = testRegistry
        registry.register(AddOneJob.self)
        registry.register(SumJob.self)
        let chain = try await client.enqueue(.chain(
            .job(try client.makeNewJob(EchoJob(value: 40))),
            .job(try client.makeNewJob(AddOneJob())),
            .job(try client.makeNewJob(AddOneJob()))
        ))
        let chord = try await client.enqueue(.chord(
            (1...10).map { .job(try client.makeNewJob(EchoJob(value: $0))) } + [.job(try client.makeNewJob(RejectJob()))],
            then: try client.makeNewJob(SumJob()), when: .allFinished))
        let worker = Worker(backend: backend, registry: registry, configuration: .init(concurrency: 4))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await worker.run() }
            _ = try await backend.waitUntilFinished(chain.last!.id, timeout: .seconds(60))
            _ = try await backend.waitUntilFinished(chord.last!.id, timeout: .seconds(60))
            worker.stop()
            try await group.waitForAll()
        }
        #expect(try await JobHandle<Int>(id: chain.last!.id, backend: backend).value() == 42)
        let sum = try await JobHandle<SumJob.Output>(id: chord.last!.id, backend: backend).value()
        #expect(sum == SumJob.Output(sum: 55, failures: ["rejected on purpose"]))
    }
}
