import Conveyor
import Foundation
import Testing

extension BackendConformance {
    static func enqueueAndClaim(_ backend: any JobBackend) async throws {
        let headers = ["traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "limit": "host:api.worldbank.org",
                       "tenant": "42", "note": "ünïcødé \"quoted\" / slash"]
        let new = NewJob(name: "export", queue: "q1", payload: Data(#"{"hsn":"09011112"}"#.utf8), priority: 7,
                         maxAttempts: 4, timeout: .seconds(12), uniqueKey: "k1", batchID: "b1", headers: headers)
        let result = try await backend.enqueue(new)
        #expect(!result.isDuplicate)
        let before = clock.now()
        let claimed = try await backend.claim(queues: ["q1"], limit: 10, lease: .seconds(5), workerID: "w1")
        try #require(claimed.count == 1)
        let job = claimed[0]
        #expect(job.id == result.id)
        #expect(job.name == "export")
        #expect(job.queue == "q1")
        #expect(job.payload == new.payload)
        #expect(job.priority == 7)
        #expect(job.attempt == 1)
        #expect(job.maxAttempts == 4)
        #expect(job.timeout == .seconds(12))
        #expect(job.batchID == "b1")
        #expect(job.headers == headers)
        #expect(job.leaseExpiresAt > before.addingTimeInterval(4))
        #expect(job.leaseExpiresAt < clock.now().addingTimeInterval(6))
        let record = try #require(try await backend.job(job.id))
        #expect(record.state == .active)
        #expect(record.workerID == "w1")
        #expect(record.uniqueKey == "k1")
        #expect(record.headers == headers)
        // A job without headers has none; a batch's callback keeps its own.
        let plain = try await backend.enqueue(BackendConformance.job(queue: "q2")).id
        #expect(try await backend.job(plain)?.headers == [:])
        let batch = try await backend.createBatch(NewBatch(id: "with-callback", onSuccess: NewJob(name: "done", headers: ["tenant": "7"])))
        #expect(try await backend.job(try #require(batch.onSuccessJob))?.headers == ["tenant": "7"])
        // Headers too large to carry are refused, naming the job, and nothing is stored.
        let huge = NewJob(name: "too.big", headers: ["blob": String(repeating: "x", count: JobHeaders.maximumBytes + 1)])
        await #expect(throws: ConveyorError.self) { _ = try await backend.enqueue([BackendConformance.job(), huge]) }
        #expect(try await backend.claim(queues: ["q1"], limit: 10, lease: .seconds(5), workerID: "w2").isEmpty)
    }

    static func bulkEnqueue(_ backend: any JobBackend) async throws {
        let jobs = (0..<1000).map { job(payload: #"{"n":\#($0)}"#) }
        let results = try await backend.enqueue(jobs)
        #expect(results.count == 1000)
        let ids = results.map(\.id)
        #expect(ids == ids.sorted())
        #expect(Set(ids).count == 1000)
        let claimed = try await claimAll(backend)
        #expect(claimed.map(\.id) == ids)
        #expect(claimed.map { String(decoding: $0.payload, as: UTF8.self) } == jobs.map { String(decoding: $0.payload, as: UTF8.self) })
    }

    static func priorityThenFIFO(_ backend: any JobBackend) async throws {
        let priorities: [Priority] = [5, 9, 0, 5, 9, 2]
        let ids = try await backend.enqueue(priorities.map { job(priority: $0) }).map(\.id)
        let claimed = try await backend.claim(queues: ["default"], limit: 3, lease: lease, workerID: "w")
        #expect(claimed.map(\.id) == [ids[1], ids[4], ids[0]])
        let rest = try await claimAll(backend)
        #expect(rest.map(\.id) == [ids[3], ids[5], ids[2]])
    }

    static func queueOrder(_ backend: any JobBackend) async throws {
        let low = try await backend.enqueue((0..<3).map { _ in job(queue: "low", priority: 9) }).map(\.id)
        let high = try await backend.enqueue((0..<2).map { _ in job(queue: "high", priority: 0) }).map(\.id)
        let claimed = try await backend.claim(queues: ["high", "low"], limit: 4, lease: lease, workerID: "w")
        #expect(claimed.map(\.id) == high + low.prefix(2))
        #expect(try await backend.claim(queues: ["other"], limit: 4, lease: lease, workerID: "w").isEmpty)
    }

    static func delayedJobs(_ backend: any JobBackend) async throws {
        let farID = try await backend.enqueue(job(delay: .seconds(3600))).id
        let soonID = try await backend.enqueue(job(delay: .seconds(60))).id
        let atID = try await backend.enqueue(job(runAt: clock.now().addingTimeInterval(120))).id
        #expect(try await state(backend, farID) == .scheduled)
        #expect(try await state(backend, soonID) == .scheduled)
        #expect(try await state(backend, atID) == .scheduled)
        // The store's clock has not moved: nothing is due, however slow this machine is.
        #expect(try await claimAll(backend).isEmpty)
        let due = try #require(try await backend.timeUntilNextDue(queues: ["default"]))
        #expect(due > .seconds(30) && due <= .seconds(60))
        #expect(try await backend.timeUntilNextDue(queues: ["elsewhere"]) == nil)
        clock.advance(by: .seconds(61))
        #expect(try await claimAll(backend).map(\.id) == [soonID])
        clock.advance(by: .seconds(60))
        #expect(try await claimAll(backend).map(\.id) == [atID])
        let farDue = try #require(try await backend.timeUntilNextDue(queues: ["default"]))
        #expect(farDue > .seconds(3000) && farDue < .seconds(3480))
        clock.advance(by: .seconds(3600))
        #expect(try await backend.timeUntilNextDue(queues: ["default"]) == .zero)
        #expect(try await claimAll(backend).map(\.id) == [farID])
    }

    static func uniqueKeys(_ backend: any JobBackend) async throws {
        let first = try await backend.enqueue(job(uniqueKey: "hsn-1"))
        let results = try await backend.enqueue([job(uniqueKey: "hsn-1"), job(uniqueKey: "hsn-2"), job(uniqueKey: "hsn-2")])
        #expect(!first.isDuplicate)
        #expect(results[0] == .duplicate(first.id))
        #expect(!results[1].isDuplicate)
        #expect(results[2] == .duplicate(results[1].id))
        // A dead holder frees the key; a succeeded one keeps it.
        let claimed = try await claimAll(backend)
        let byID = Dictionary(uniqueKeysWithValues: claimed.map { ($0.id, $0) })
        try await backend.complete([
            .failed(byID[first.id]!.lease, JobFailure(.permanent, "bad"), retryAfter: nil),
            .succeeded(byID[results[1].id]!.lease, output: Data("{}".utf8)),
        ])
        let again = try await backend.enqueue([job(uniqueKey: "hsn-1"), job(uniqueKey: "hsn-2")])
        #expect(!again[0].isDuplicate)
        #expect(again[0].id != first.id)
        #expect(again[1] == .duplicate(results[1].id))
        // Retrying the dead one now would take a key that is held: it stays dead.
        #expect(try await backend.retry([first.id]).isEmpty)
        #expect(try await state(backend, first.id) == .dead)
    }

    static func successStoresResult(_ backend: any JobBackend) async throws {
        let id = try await backend.enqueue(job()).id
        let claimed = try await claimAll(backend)
        try await backend.complete([.succeeded(claimed[0].lease, output: Data(#"{"rows":42}"#.utf8))])
        let record = try #require(try await backend.job(id))
        #expect(record.state == .succeeded)
        #expect(record.result == Data(#"{"rows":42}"#.utf8))
        #expect(record.finishedAt != nil)
        #expect(record.leaseExpiresAt == nil)
        let finished = try await backend.waitUntilFinished(id, timeout: .seconds(1))
        #expect(finished.state == .succeeded)
    }

    static func retryThenDead(_ backend: any JobBackend) async throws {
        let id = try await backend.enqueue(job(maxAttempts: 2)).id
        var claimed = try await claimAll(backend)
        let failedAt = clock.now()
        try await backend.complete([.failed(claimed[0].lease, JobFailure(.retryable, "HTTP 503"), retryAfter: .seconds(60))])
        let recordedBy = clock.now()
        var record = try #require(try await backend.job(id))
        #expect(record.state == .retrying)
        #expect(record.lastError == JobFailure(.retryable, "HTTP 503"))
        // Due 60 s after the store recorded the failure, by the store's clock.
        #expect(record.runAt >= failedAt.addingTimeInterval(59.999) && record.runAt <= recordedBy.addingTimeInterval(60.001))
        #expect(try await claimAll(backend).isEmpty, "not before its retry time")
        clock.advance(by: .seconds(61))
        claimed = try await claimAll(backend)
        try #require(claimed.count == 1)
        #expect(claimed[0].attempt == 2)
        try await backend.complete([.failed(claimed[0].lease, JobFailure(.retryable, "HTTP 503 again"), retryAfter: nil)])
        record = try #require(try await backend.job(id))
        #expect(record.state == .dead)
        #expect(record.attempt == 2)
        #expect(record.lastError?.message == "HTTP 503 again")
    }

    static func staleLease(_ backend: any JobBackend) async throws {
        let id = try await backend.enqueue(job()).id
        let first = try await claimAll(backend, lease: .seconds(10))[0]
        #expect(try await backend.recoverExpiredLeases() == 0)
        clock.advance(by: .seconds(11))
        #expect(try await backend.recoverExpiredLeases() == 1)
        let second = try await claimAll(backend)[0]
        #expect(second.attempt == 2)
        // The first worker comes back late: nothing it says counts, and the store says so.
        #expect(try await backend.complete([.succeeded(first.lease, output: Data(#""stale""#.utf8))]) == [first.lease])
        #expect(try await backend.heartbeat([first.lease], lease: lease) == [first.lease])
        try await backend.release([first.lease])
        var record = try #require(try await backend.job(id))
        #expect(record.state == .active)
        #expect(record.attempt == 2)
        try await backend.complete([.succeeded(second.lease, output: Data(#""fresh""#.utf8))])
        record = try #require(try await backend.job(id))
        #expect(record.state == .succeeded)
        #expect(record.result == Data(#""fresh""#.utf8))
    }

    static func staleLeaseAfterRetry(_ backend: any JobBackend) async throws {
        let id = try await backend.enqueue(job(maxAttempts: 1)).id
        let stalled = try await claimAll(backend, lease: .seconds(10))[0]
        clock.advance(by: .seconds(11))
        #expect(try await backend.recoverExpiredLeases() == 1)
        #expect(try await state(backend, id) == .dead)
        // Recovered to dead: its old holder is told the lease is lost, not that it still holds it.
        #expect(try await backend.heartbeat([stalled.lease], lease: lease) == [stalled.lease])
        #expect(try await backend.retry([id]) == [id])
        let fresh = try await claimAll(backend)[0]
        #expect(fresh.attempt == stalled.attempt, "attempts count again after a retry")
        #expect(fresh.leaseToken != stalled.leaseToken, "the lease token does not")
        // The stalled worker wakes up: nothing it says counts.
        try await backend.complete([.failed(stalled.lease, JobFailure(.permanent, "stale"), retryAfter: nil)])
        #expect(try await backend.heartbeat([stalled.lease], lease: lease) == [stalled.lease])
        #expect(try await state(backend, id) == .active)
        try await backend.complete([.succeeded(fresh.lease, output: Data("1".utf8))])
        #expect(try await state(backend, id) == .succeeded)
    }

    static func heartbeatExtends(_ backend: any JobBackend) async throws {
        _ = try await backend.enqueue([job(), job(), job()])
        let claimed = try await claimAll(backend, lease: .seconds(10))
        let lost = try await backend.heartbeat(claimed.map(\.lease), lease: .seconds(60))
        #expect(lost.isEmpty)
        clock.advance(by: .seconds(30))
        #expect(try await backend.recoverExpiredLeases() == 0)
        let record = try #require(try await backend.job(claimed[0].id))
        #expect(try #require(record.leaseExpiresAt) > clock.now().addingTimeInterval(20))
        let unknown = JobLease(id: JobID(999_999), token: 1)
        #expect(try await backend.heartbeat([claimed[1].lease, unknown], lease: .seconds(60)) == [unknown])
        // A heartbeat racing the lease's own completion has lost nothing; a released lease is lost.
        try await backend.complete([.succeeded(claimed[1].lease, output: Data("1".utf8))])
        try await backend.release([claimed[2].lease])
        #expect(try await backend.heartbeat([claimed[1].lease, claimed[2].lease], lease: .seconds(60)) == [claimed[2].lease])
    }

    static func releaseJob(_ backend: any JobBackend) async throws {
        let id = try await backend.enqueue(job()).id
        let claimed = try await claimAll(backend)
        try await backend.release(claimed.map(\.lease))
        let record = try #require(try await backend.job(id))
        #expect(record.state == .ready)
        #expect(record.attempt == 0)
        #expect(try await claimAll(backend).first?.attempt == 1)
    }

    static func recoverExpired(_ backend: any JobBackend) async throws {
        let ids = try await backend.enqueue([job(maxAttempts: 1), job(maxAttempts: 3)]).map(\.id)
        // Leases of 100 s and steps of 90 and 20 s: however slow the machine, the real time
        // between the claim and the checks stays far inside the margins.
        _ = try await claimAll(backend, lease: .seconds(100))
        clock.advance(by: .seconds(90))
        #expect(try await backend.recoverExpiredLeases() == 0, "not before the lease ends")
        clock.advance(by: .seconds(20))
        #expect(try await backend.recoverExpiredLeases() == 2)
        let last = try #require(try await backend.job(ids[0]))
        #expect(last.state == .dead)
        #expect(last.lastError?.message.contains("lease expired") == true)
        let other = try #require(try await backend.job(ids[1]))
        #expect(other.state == .ready)
        #expect(other.attempt == 1)
        #expect(try await claimAll(backend).map(\.attempt) == [2])
    }

    static func cancelJobs(_ backend: any JobBackend) async throws {
        let ids = try await backend.enqueue([job(), job(), job(delay: .seconds(600))]).map(\.id)
        _ = try await backend.claim(queues: ["default"], limit: 1, lease: lease, workerID: "w")
        let cancelled = try await backend.cancel(ids + [JobID(424_242)])
        #expect(cancelled == [ids[1], ids[2]])
        #expect(try await state(backend, ids[0]) == .active)
        #expect(try await state(backend, ids[1]) == .cancelled)
        #expect(try await state(backend, ids[2]) == .cancelled)
    }

    static func retryDead(_ backend: any JobBackend) async throws {
        let ids = try await backend.enqueue([job(maxAttempts: 1), job(), job()]).map(\.id)
        let claimed = try await backend.claim(queues: ["default"], limit: 1, lease: lease, workerID: "w")
        try await backend.complete([.failed(claimed[0].lease, JobFailure(.permanent, "no"), retryAfter: nil)])
        _ = try await backend.cancel([ids[1]])
        let moved = try await backend.retry(ids)
        #expect(moved == [ids[0], ids[1]])
        let record = try #require(try await backend.job(ids[0]))
        #expect(record.state == .ready)
        #expect(record.attempt == 0)
        #expect(try await claimAll(backend).count == 3)
    }

    static func pauseResume(_ backend: any JobBackend) async throws {
        _ = try await backend.enqueue([job(queue: "a"), job(queue: "b")])
        try await backend.pause(queue: "a")
        let claimed = try await backend.claim(queues: ["a", "b"], limit: 10, lease: lease, workerID: "w")
        #expect(claimed.map(\.queue) == ["b"])
        let stats = try await backend.queueStats()
        #expect(stats.first { $0.queue == "a" }?.paused == true)
        // A paused queue's due jobs are not work: an idle worker must not be woken for them.
        let id = try await backend.enqueue(job(queue: "a", delay: .seconds(60))).id
        #expect(try await state(backend, id) == .scheduled)
        clock.advance(by: .seconds(61))
        #expect(try await backend.timeUntilNextDue(queues: ["a"]) == nil)
        try await backend.resume(queue: "a")
        #expect(try await backend.timeUntilNextDue(queues: ["a"]) == .zero)
        #expect(try await backend.claim(queues: ["a"], limit: 10, lease: lease, workerID: "w").count == 2)
        #expect(try await backend.queueStats().first { $0.queue == "a" }?.paused == false)
    }

    static func purgeJobs(_ backend: any JobBackend) async throws {
        let ids = try await backend.enqueue([job(), job(), job(), job(queue: "other")]).map(\.id)
        let claimed = try await backend.claim(queues: ["default"], limit: 2, lease: lease, workerID: "w")
        try await backend.complete([.succeeded(claimed[0].lease, output: Data("{}".utf8))])
        #expect(try await backend.purge(PurgeRequest()) == 1)
        #expect(try await backend.job(ids[0]) == nil)
        // Active jobs are never purged, even when asked (the store's own guard: the request's
        // initializer drops `.active`, so set it after).
        var onlyActive = PurgeRequest(queue: "default")
        onlyActive.states = [.active]
        #expect(try await backend.purge(onlyActive) == 0)
        #expect(try await state(backend, ids[1]) == .active)
        var everything = PurgeRequest(queue: "default")
        everything.states = JobState.allCases
        #expect(try await backend.purge(everything) == 1)
        #expect(try await state(backend, ids[1]) == .active)
        #expect(try await backend.job(ids[2]) == nil)
        #expect(try await state(backend, ids[3]) == .ready)
    }

    static func purgeOlderThan(_ backend: any JobBackend) async throws {
        let ids = try await backend.enqueue([job(), job(), job(queue: "other")]).map(\.id)
        let claimed = try await claimAll(backend, queues: ["default", "other"])
        try await backend.complete(claimed.map { .succeeded($0.lease, output: Data("{}".utf8)) })
        // Finished just now: nothing finished a minute ago or longer.
        #expect(try await backend.purge(PurgeRequest(olderThan: .seconds(60))) == 0)
        // A minute and a half later, everything did; only the asked queue goes.
        clock.advance(by: .seconds(90))
        #expect(try await backend.purge(PurgeRequest(queue: "default", olderThan: .seconds(60))) == 2)
        #expect(try await backend.job(ids[0]) == nil)
        #expect(try await backend.job(ids[1]) == nil)
        #expect(try await state(backend, ids[2]) == .succeeded)
        // A retried job is not finished any more, whatever it was.
        let more = try await backend.enqueue(job()).id
        let again = try await claimAll(backend)
        try await backend.complete([.failed(again[0].lease, JobFailure(.permanent, "x"), retryAfter: nil)])
        #expect(try await backend.retry([more]) == [more])
        clock.advance(by: .seconds(90))
        #expect(try await backend.purge(PurgeRequest(olderThan: .seconds(60))) == 1)
        #expect(try await state(backend, more) == .ready)
    }

    static func boundedSteps(_ backend: any JobBackend) async throws {
        let count = stepLimit * 2 + 50
        _ = try await backend.enqueue((0..<count).map { _ in job(maxAttempts: 5) })
        var claimed = try await claimAll(backend, lease: .seconds(10))
        #expect(claimed.count == count)
        clock.advance(by: .seconds(11))
        // Each call recovers a bounded number; calls go on until none is left.
        var calls: [Int] = []
        while true {
            let recovered = try await backend.recoverExpiredLeases()
            if recovered == 0 { break }
            calls.append(recovered)
            try #require(calls.count < 100)
        }
        #expect(calls.reduce(0, +) == count)
        #expect(calls.allSatisfy { $0 <= stepLimit }, "each call handles a bounded number")
        claimed = try await claimAll(backend)
        #expect(claimed.count == count)
        // Retried jobs due at once are promoted a bounded number per claim, and every one in time.
        try await backend.complete(claimed.map { .failed($0.lease, JobFailure(.retryable, "again"), retryAfter: .seconds(5)) })
        clock.advance(by: .seconds(6))
        var again: [ClaimedJob] = []
        for _ in 0..<20 where again.count < count { again += try await claimAll(backend) }
        #expect(again.count == count)
        try await backend.complete(again.map { .succeeded($0.lease, output: Data()) })
        // A purge goes step by step, each bounded, continuing from the last step's cursor.
        var cursor: String?
        var deleted: [Int] = []
        repeat {
            let step = try await backend.purgeStep(PurgeRequest(), from: cursor)
            deleted.append(step.deleted)
            cursor = step.cursor
            try #require(deleted.count < 100)
        } while cursor != nil
        #expect(deleted.reduce(0, +) == count)
        #expect(try await backend.queueStats().first { $0.queue == "default" }?.total ?? 0 == 0)
    }

    static func inspection(_ backend: any JobBackend) async throws {
        let batch = try await backend.enqueue((0..<5).map { _ in job(batch: "sub-1") }).map(\.id)
        _ = try await backend.enqueue([job(queue: "other", batch: "sub-2"), job(delay: .seconds(600))])
        let claimed = try await backend.claim(queues: ["default"], limit: 2, lease: lease, workerID: "w")
        try await backend.complete([
            .succeeded(claimed[0].lease, output: Data("1".utf8)),
            .failed(claimed[1].lease, JobFailure(.permanent, "bad key"), retryAfter: nil),
        ])
        let stats = try await backend.queueStats()
        let main = try #require(stats.first { $0.queue == "default" })
        #expect(main[.ready] == 3)
        #expect(main[.scheduled] == 1)
        #expect(main[.succeeded] == 1)
        #expect(main[.dead] == 1)
        #expect(stats.first { $0.queue == "other" }?[.ready] == 1)

        let summary = try #require(try await backend.batch("sub-1"))
        #expect(summary.total == 5)
        #expect(summary[.succeeded] == 1)
        #expect(summary[.dead] == 1)
        #expect(!summary.isFinished)
        #expect(try await backend.batch("nope") == nil)
        #expect(try await backend.batches(limit: 10).map(\.id) == ["sub-2", "sub-1"])

        let dead = try await backend.jobs(JobQuery(states: [.dead]))
        #expect(dead.map(\.id) == [claimed[1].id])
        #expect(dead.first?.lastError == JobFailure(.permanent, "bad key"))
        let page1 = try await backend.jobs(JobQuery(batchID: "sub-1", limit: 2))
        let page2 = try await backend.jobs(JobQuery(batchID: "sub-1", after: page1.last?.id, limit: 10))
        #expect((page1 + page2).map(\.id) == batch)
        let newest1 = try await backend.jobs(JobQuery(batchID: "sub-1", limit: 3, newestFirst: true))
        let newest2 = try await backend.jobs(JobQuery(batchID: "sub-1", after: newest1.last?.id, limit: 10, newestFirst: true))
        #expect((newest1 + newest2).map(\.id) == batch.reversed())
        let all = try await backend.jobs(JobQuery(limit: 1000)).map(\.id)
        var pages: [JobID] = []
        try await backend.forEachPage(of: JobQuery(limit: 2, newestFirst: true)) { pages += $0.map(\.id) }
        #expect(pages == all.reversed())
        #expect(try await backend.jobs(JobQuery(queue: "other")).count == 1)
    }

    /// Listings filter by name and enqueue time, page through sparse matches, and can leave
    /// payloads and results out.
    static func inspectionFilters(_ backend: any JobBackend) async throws {
        let early = try await backend.enqueue((0..<3).map { _ in job("export", payload: #"{"big":"early"}"#) }).map(\.id)
        clock.advance(by: .seconds(60))
        let middle = clock.now()
        let others = try await backend.enqueue((0..<250).map { _ in job("noise") }).map(\.id)
        let late = try await backend.enqueue([job("export", payload: #"{"big":"late"}"#)])[0].id
        clock.advance(by: .seconds(60))
        let end = clock.now()
        let claimed = try await backend.claim(queues: ["default"], limit: 1, lease: lease, workerID: "w")
        try await backend.complete([.succeeded(claimed[0].lease, output: Data(#""done""#.utf8))])

        #expect(try await backend.allJobs(JobQuery(name: "export")).map(\.id) == early + [late])
        #expect(try await backend.allJobs(JobQuery(createdFrom: middle)).map(\.id) == others + [late])
        #expect(try await backend.allJobs(JobQuery(createdBefore: middle)).map(\.id) == early)
        #expect(try await backend.allJobs(JobQuery(createdFrom: end)).isEmpty)
        #expect(try await backend.allJobs(JobQuery(name: "export", createdFrom: middle)).map(\.id) == [late])
        // Newest first, one match per page across 250 jobs that do not match.
        var pages: [[JobID]] = []
        try await backend.forEachPage(of: JobQuery(limit: 1, newestFirst: true, name: "export")) { pages.append($0.map(\.id)) }
        #expect(pages.flatMap { $0 } == [late] + early.reversed())
        #expect(try await backend.jobs(JobQuery(states: [.succeeded], name: "export")).map(\.id) == [early[0]])

        let full = try #require(try await backend.jobs(JobQuery(states: [.succeeded])).first)
        #expect(full.payload == Data(#"{"big":"early"}"#.utf8))
        #expect(full.result == Data(#""done""#.utf8))
        let bare = try #require(try await backend.jobs(JobQuery(states: [.succeeded], includePayloads: false)).first)
        #expect(bare.payload.isEmpty)
        #expect(bare.result == nil)
        #expect(bare.id == full.id && bare.name == full.name && bare.state == .succeeded && bare.attempt == 1 && bare.createdAt == full.createdAt)
    }

    static func workerRegistry(_ backend: any JobBackend) async throws {
        let now = clock.now()
        // The caller's idea of the time is ignored: last-seen is the store's own.
        let info = WorkerInfo(id: "host:1:a", hostname: "host", pid: 1, queues: ["a", "b"], concurrency: 4,
                              startedAt: now, lastSeenAt: .distantPast, running: 2)
        try await backend.registerWorker(WorkerInfo(id: "old", hostname: "h", pid: 2, queues: ["a"], concurrency: 1,
                                                    startedAt: now, lastSeenAt: now))
        clock.advance(by: .seconds(600))
        let registering = clock.now()
        try await backend.registerWorker(info)
        let registered = clock.now()
        let seen = try await backend.workers(seenWithin: .seconds(60))
        #expect(seen.map(\.id) == ["host:1:a"])
        #expect(seen.first?.queues == ["a", "b"])
        #expect(seen.first?.running == 2)
        let lastSeen = try #require(seen.first?.lastSeenAt)
        #expect(lastSeen >= registering.addingTimeInterval(-0.001) && lastSeen <= registered.addingTimeInterval(0.001))
        #expect(try await backend.workers(seenWithin: .seconds(3600)).count == 2)
        try await backend.unregisterWorker(id: "host:1:a")
        #expect(try await backend.workers(seenWithin: .seconds(60)).isEmpty)
    }

    static func wakeUps(_ backend: any JobBackend) async throws {
        var generation = backend.workSignal.generation
        _ = try await backend.enqueue(job())
        #expect(backend.workSignal.generation != generation)

        let claimed = try await claimAll(backend)
        try await backend.complete([.failed(claimed[0].lease, JobFailure(.retryable, "x"), retryAfter: nil)])
        generation = backend.workSignal.generation
        _ = try await backend.retry([claimed[0].id])
        #expect(backend.workSignal.generation != generation)

        generation = backend.workSignal.generation
        try await backend.resume(queue: "default")
        #expect(backend.workSignal.generation != generation)

        // A waiter blocked on the signal returns when work arrives, long before its timeout.
        generation = backend.workSignal.generation
        let clock = ContinuousClock()
        let start = clock.now
        async let waited: Void = backend.workSignal.wait(after: generation, timeout: .seconds(30))
        _ = try await backend.enqueue(job())
        await waited
        #expect(clock.now - start < .seconds(10))
    }

    static func waitForWorkEndsOnEnqueue(_ backend: any JobBackend) async throws {
        // As a worker does: the generation is read before the claim that found nothing.
        let generation = backend.workSignal.generation
        #expect(try await claimAll(backend).isEmpty)
        let clock = ContinuousClock()
        let start = clock.now
        async let waited = backend.waitForWork(
            queues: ["default"], after: generation, timeout: .seconds(30),
            claimingUpTo: 5, lease: lease, workerID: "conformance")
        let id = try await backend.enqueue(job()).id
        // A store that claims as the wait ends returns the job; otherwise the caller claims.
        let got = try await waited
        let claimed = got.isEmpty ? try await claimAll(backend) : got
        #expect(claimed.map(\.id) == [id])
        #expect(claimed.first?.attempt == 1)
        #expect(try await state(backend, id) == .active)
        #expect(try await claimAll(backend).isEmpty)
        #expect(clock.now - start < .seconds(10), "ended by the enqueue, not by the 30 s timeout")
    }

    static func concurrentClaims(_ backend: any JobBackend) async throws {
        _ = try await backend.enqueue((0..<400).map { _ in job() })
        let claimed = try await withThrowingTaskGroup(of: [JobID].self) { group in
            for worker in 0..<8 {
                group.addTask {
                    var mine: [JobID] = []
                    while true {
                        let jobs = try await backend.claim(queues: ["default"], limit: 7, lease: lease, workerID: "w\(worker)")
                        if jobs.isEmpty { return mine }
                        mine += jobs.map(\.id)
                    }
                }
            }
            return try await group.reduce(into: [JobID]()) { $0 += $1 }
        }
        #expect(claimed.count == 400)
        #expect(Set(claimed).count == 400)
    }
}
