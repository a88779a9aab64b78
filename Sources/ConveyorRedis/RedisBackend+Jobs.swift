import Conveyor
import ConveyorRedisClient
import Foundation
import NIOCore

extension RedisBackend {
    public func enqueue(_ jobs: [NewJob]) async throws -> [EnqueueResult] {
        guard !jobs.isEmpty else { return [] }
        try NewJob.validateDependencies(jobs)
        let now = micros(Date())
        // Every record into one byte array, then one buffer whose slices are the arguments:
        // no allocation per job.
        var records = PackedWriter(capacity: jobs.reduce(0) { $0 + 64 + $1.name.utf8.count + $1.payload.count })
        var ends: [Int] = []
        ends.reserveCapacity(jobs.count)
        var linked = false
        for job in jobs {
            var parent = "", waitedFor = "", condition = ""
            switch job.dependsOn {
            case nil: break
            case .job(let id): parent = id.description; linked = true
            case .earlier(let index): parent = "#\(index)"; linked = true
            case .batch(let batch, let kind): waitedFor = batch; condition = String(kind.rawValue)
            }
            // The written-once record (layout notes in RedisScripts).
            records.string(job.name)
            records.bytes(job.payload)
            records.int(job.priority.rawValue)
            records.int(job.maxAttempts)
            records.int(Int(job.timeout.microseconds))
            records.string(now)
            records.string(job.uniqueKey ?? "")
            records.string(parent)
            records.string(waitedFor)
            records.string(condition)
            records.string(job.queue)
            records.string(job.batchID ?? "")
            records.string(job.runAt.map(micros) ?? now)
            ends.append(records.count)
        }
        let buffer = ByteBuffer(bytes: records.bytes)
        var arguments: [RESPArgument] = [.string(now), .int(jobs.count), linked ? "1" : ""]
        arguments.reserveCapacity(3 + jobs.count)
        var start = 0
        for end in ends {
            arguments.append(.bytes(buffer.getSlice(at: start, length: end - start)!))
            start = end
        }
        let reply = try await run(RedisScripts.enqueue, "enqueue", arguments)
        guard let values = reply.array, values.count == jobs.count else {
            throw unexpected("enqueue", reply)
        }
        let results = try values.map { value -> EnqueueResult in
            guard let raw = value.int, raw != 0 else { throw unexpected("enqueue", reply) }
            return raw > 0 ? .created(JobID(Int64(raw))) : .duplicate(JobID(Int64(-raw)))
        }
        workSignal.notify()
        return results
    }

    public func claim(queues: [String], limit: Int, lease: Duration, workerID: String) async throws -> [ClaimedJob] {
        guard limit > 0, !queues.isEmpty else { return [] }
        let claim = ClaimCall(queues: queues, limit: limit, lease: lease, workerID: workerID)
        return try claimedJobs(try await run(RedisScripts.claim, "claim", claim.arguments), claim)
    }

    /// Blocks on the queues' wake lists with the claim pipelined behind the pop (see
    /// ``BlockingWaits``): Redis claims the moment a token arrives or the wait times out.
    public func waitForWork(
        queues: [String], after generation: UInt64, timeout: Duration,
        claimingUpTo limit: Int, lease: Duration, workerID: String
    ) async throws -> [ClaimedJob] {
        guard limit > 0, !queues.isEmpty else {
            await workSignal.wait(after: generation, timeout: timeout)
            return []
        }
        let waiter: BlockingWaits.Waiter
        do {
            waiter = try await waits.take()
        } catch let error as RedisServerError {
            throw refused("wait for work", error)
        } catch let error as RedisClientError {
            throw ConveyorError.storeFailure("Redis at \(configuration.redis.endpoint) failed while waiting for work: \(error.message)")
        }
        let token = waits.begin(waiter)
        // Notified since the caller last looked (a stop, an enqueue here): look again first.
        guard workSignal.generation == generation else {
            waits.ended(token)
            await waits.giveBack(waiter, reusable: true)
            return []
        }
        let wait = max(.milliseconds(1), min(timeout, configuration.longestWait))
        // The claim's `now` is when the wait starts: a lease from a wait's end is shorter by
        // at most `longestWait`, and a job due meanwhile is promoted by the next claim.
        let claim = ClaimCall(queues: queues, limit: limit, lease: lease, workerID: workerID)
        let pop: [RESPArgument] = ["BLPOP"] + queues.map { key("wake:" + $0) }
            + [.string(String(format: "%.3f", Double(wait.microseconds) / 1_000_000))]
        let call = useFunctions.load(ordering: .relaxed)
            ? RedisFunctionLibrary.command(RedisScripts.functionName(RedisScripts.claim), keys: [.string(prefix)], arguments: claim.arguments)
            : RedisScripts.claim.eval.command(keys: [.string(prefix)], arguments: claim.arguments)
        let results: RedisPipelineResults
        do {
            results = try await waiter.connection.pipeline([pop, call], timeout: wait + configuration.redis.commandTimeout)
        } catch let error as RedisClientError {
            waits.ended(token)
            await waits.giveBack(waiter, reusable: false)
            throw ConveyorError.storeFailure("Redis at \(configuration.redis.endpoint) failed while waiting for work: \(error.message)")
        }
        waits.ended(token)
        await waits.giveBack(waiter, reusable: true)
        if case .failure(let error) = results[0] { throw refused("wait for work", error) }
        switch results[1] {
        case .success(let reply):
            return try claimedJobs(reply, claim)
        case .failure(let error) where error.isFunctionNotFound || error.code == "NOSCRIPT" || error.isUnknownCommand:
            // Not loaded (Redis restarted empty) or no FCALL: the caller's next claim sees to it.
            return []
        case .failure(let error):
            throw refused("claim", error)
        }
    }

    /// A claim's arguments: now, lease expiry, worker id, limit, queues.
    struct ClaimCall {
        let now: Date
        let expiry: Date
        let arguments: [RESPArgument]

        init(queues: [String], limit: Int, lease: Duration, workerID: String) {
            now = Date()
            expiry = now.addingTimeInterval(Double(lease.microseconds) / 1_000_000)
            arguments = [.string(micros(now)), .string(micros(expiry)), .string(workerID), .int(limit)] + queues.map { .string($0) }
        }
    }

    /// The claim script's reply: per job its id, written-once record, attempt and lease token.
    func claimedJobs(_ reply: RESPValue, _ claim: ClaimCall) throws -> [ClaimedJob] {
        guard let values = reply.array, values.count % 4 == 0 else { throw unexpected("claim", reply) }
        var claimed: [ClaimedJob] = []
        claimed.reserveCapacity(values.count / 4)
        var index = 0
        while index < values.count {
            guard let id = values[index].int, let packed = values[index + 1].buffer,
                  let attempt = values[index + 2].int, let token = values[index + 3].int
            else { throw unexpected("claim", reply) }
            do {
                var record = PackedReader(packed)
                let name = try record.string(), payload = try record.data()
                let priority = try record.int(), maxAttempts = try record.int(), timeout = try record.int()
                let created = try record.string()
                _ = try record.next()  // unique key
                let parent = try record.optionalString(), waitedFor = try record.optionalString()
                _ = try record.next()  // batch condition
                let queue = try record.string(), batch = try record.optionalString()
                claimed.append(ClaimedJob(
                    id: JobID(Int64(id)), name: name, queue: queue, payload: payload,
                    priority: Priority(rawValue: priority), attempt: attempt, maxAttempts: maxAttempts,
                    timeout: .microseconds(Int64(timeout)), batchID: batch, createdAt: date(micros: created) ?? claim.now,
                    leaseExpiresAt: claim.expiry, leaseToken: token,
                    parentID: parent.flatMap { JobID($0) }, waitedForBatch: waitedFor))
            } catch ConveyorError.storeFailure(let message) {
                throw ConveyorError.storeFailure("Redis at \(configuration.redis.endpoint), job \(id): \(message)")
            }
            index += 4
        }
        return claimed
    }

    public func complete(_ outcomes: [JobOutcome]) async throws {
        guard !outcomes.isEmpty else { return }
        var arguments: [RESPArgument] = [.string(micros(Date()))]
        arguments.reserveCapacity(1 + outcomes.count * 6)
        for outcome in outcomes {
            arguments.append(.string(outcome.lease.id.description))
            arguments.append(.int(outcome.lease.token))
            switch outcome.result {
            case .succeeded(let output):
                arguments += ["s", RESPArgument(output), "", ""]
            case .failed(let failure, let retryAt):
                arguments.append(retryAt == nil ? "d" : "r")
                arguments.append(.string(failure.message))
                arguments.append(failure.kind == .permanent ? "1" : "0")
                arguments.append(.string(retryAt.map(micros) ?? ""))
            }
        }
        let madeWork = try await run(RedisScripts.complete, "complete", arguments)
        if madeWork.int == 1 { workSignal.notify() }
        completionSignal.notify()
    }

    @discardableResult
    public func heartbeat(_ leases: [JobLease], lease: Duration) async throws -> [JobLease] {
        guard !leases.isEmpty else { return [] }
        let expiry = Date().addingTimeInterval(Double(lease.microseconds) / 1_000_000)
        let reply = try await run(RedisScripts.heartbeat, "heartbeat", [.string(micros(expiry))] + Self.leaseArguments(leases))
        guard let values = reply.array else { throw unexpected("heartbeat", reply) }
        return stride(from: 0, to: values.count - 1, by: 2).compactMap { index in
            guard let id = values[index].int, let token = values[index + 1].int else { return nil }
            return JobLease(id: JobID(Int64(id)), token: token)
        }
    }

    public func release(_ leases: [JobLease]) async throws {
        guard !leases.isEmpty else { return }
        _ = try await run(RedisScripts.release, "release", [.string(micros(Date()))] + Self.leaseArguments(leases))
        workSignal.notify()
    }

    static func leaseArguments(_ leases: [JobLease]) -> [RESPArgument] {
        leases.flatMap { [RESPArgument.string($0.id.description), .int($0.token)] }
    }

    @discardableResult
    public func recoverExpiredLeases(now: Date) async throws -> Int {
        let cutoff = now.addingTimeInterval(-Double(configuration.retention.microseconds) / 1_000_000)
        let reply = try await run(RedisScripts.recover, "recover expired leases", [.string(micros(now)), .string(micros(cutoff))])
        guard let count = reply.int else { throw unexpected("recover expired leases", reply) }
        if count > 0 {
            workSignal.notify()
            completionSignal.notify()
        }
        return count
    }

    @discardableResult
    public func cancel(_ ids: [JobID]) async throws -> [JobID] {
        guard !ids.isEmpty else { return [] }
        let cancelled = try await idList("cancel", RedisScripts.cancel, [.string(micros(Date()))] + ids.map { .string($0.description) })
        if !cancelled.isEmpty {
            workSignal.notify()
            completionSignal.notify()
        }
        return cancelled
    }

    @discardableResult
    public func retry(_ ids: [JobID]) async throws -> [JobID] {
        guard !ids.isEmpty else { return [] }
        let moved = try await idList("retry", RedisScripts.retry, [.string(micros(Date()))] + ids.map { .string($0.description) })
        if !moved.isEmpty { workSignal.notify() }
        return moved
    }

    func idList(_ operation: String, _ script: StoreScript, _ arguments: [RESPArgument]) async throws -> [JobID] {
        let reply = try await run(script, operation, arguments)
        guard let values = reply.array else { throw unexpected(operation, reply) }
        return try values.map { value in
            guard let id = value.int else { throw unexpected(operation, reply) }
            return JobID(Int64(id))
        }
    }

    public func pause(queue: String) async throws {
        _ = try await pipeline("pause", [["SADD", key("paused"), .string(queue)], ["SADD", key("qs"), .string(queue)]])
    }

    public func resume(queue: String) async throws {
        _ = try await pipeline("resume", [
            ["SREM", key("paused"), .string(queue)], ["SADD", key("qs"), .string(queue)], ["RPUSH", key("wake:" + queue), "1"],
        ])
        workSignal.notify()
    }

    @discardableResult
    public func purge(_ request: PurgeRequest) async throws -> Int {
        guard !request.states.isEmpty else { return 0 }
        var deleted = 0
        var from = "1"
        while true {
            let arguments: [RESPArgument] = [
                .string(micros(Date())), .string(request.queue ?? ""), .string(request.olderThan.map(micros) ?? ""),
                .string(from), .int(max(1, configuration.listingBudget)),
            ] + request.states.map { .int($0.rawValue) }
            let reply = try await run(RedisScripts.purge, "purge", arguments)
            guard let values = reply.array, values.count == 2, let count = values[0].int, let next = values[1].string else {
                throw unexpected("purge", reply)
            }
            deleted += count
            if next.isEmpty { return deleted }
            from = next
        }
    }

    public func nextDueDate(queues: [String]) async throws -> Date? {
        guard !queues.isEmpty else { return nil }
        let replies = try await pipeline("next due date", [["SMEMBERS", key("paused")]]
            + queues.map { ["ZRANGE", key("dly:" + $0), "0", "0", "WITHSCORES"] })
        // Paused queues' due jobs are not work: counting them would wake idle workers at once, forever.
        let paused = Set((replies[0].array ?? []).compactMap(\.string))
        var earliest: Date?
        for (queue, reply) in zip(queues, replies.dropFirst()) where !paused.contains(queue) {
            guard let pair = reply.array, pair.count == 2, let score = pair[1].string, let due = Double(score) else { continue }
            let date = Date(timeIntervalSince1970: due / 1_000_000)
            earliest = min(earliest ?? date, date)
        }
        return earliest
    }

    func unexpected(_ operation: String, _ reply: RESPValue) -> ConveyorError {
        ConveyorError.storeFailure("Redis at \(configuration.redis.endpoint) gave an unexpected reply to \(operation): \(String(describing: reply).prefix(200))")
    }
}
