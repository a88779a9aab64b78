import Conveyor
import ConveyorRedisClient
import Foundation
import NIOCore

extension RedisBackend {
    public func enqueue(_ jobs: [NewJob]) async throws -> [EnqueueResult] {
        guard !jobs.isEmpty else { return [] }
        try NewJob.validateDependencies(jobs)
        let reply = try await run(RedisScripts.enqueue, "enqueue", [clockOffset] + Self.enqueueArguments(jobs))
        let results = try enqueueResults(reply, count: jobs.count, "enqueue")
        workSignal.notify()
        return results
    }

    /// The enqueue script's arguments after the clock offset: count, linked, when each job is
    /// due, the records.
    static func enqueueArguments(_ jobs: [NewJob]) -> [RESPArgument] {
        // Every record into one byte array, then one buffer whose slices are the arguments:
        // no allocation per job.
        var records = PackedWriter(capacity: jobs.reduce(0) { $0 + 64 + $1.name.utf8.count + $1.payload.count })
        var ends: [Int] = []
        ends.reserveCapacity(jobs.count)
        var linked = false
        // When each job is due, only if any is not due at once (see the enqueue script).
        var due: PackedWriter?
        if jobs.contains(where: { $0.runAt != nil || ($0.delay ?? .zero) > .zero }) {
            var writer = PackedWriter(capacity: 4 + jobs.count * 9)
            writer.arrayHeader(jobs.count)
            for job in jobs {
                if let runAt = job.runAt {
                    writer.string(micros(runAt))
                } else {
                    writer.int(Int(max(0, job.delay?.microseconds ?? 0)))
                }
            }
            due = writer
        }
        // Each job's limit keys, only if any has some.
        var limits: PackedWriter?
        if jobs.contains(where: { !$0.limitKeys.isEmpty }) {
            var writer = PackedWriter(capacity: 4 + jobs.count * 24)
            writer.arrayHeader(jobs.count)
            for job in jobs { writer.string(LimitKey.encode(job.limitKeys)) }
            limits = writer
        }
        for job in jobs {
            var parent = "", waitedFor = "", condition = ""
            switch job.dependsOn {
            case nil: break
            case .job(let id): parent = id.description; linked = true
            case .earlier(let index): parent = "#\(index)"; linked = true
            case .batch(let batch, let kind): waitedFor = batch; condition = String(kind.rawValue)
            }
            // The written-once record without its times, which the script appends from Redis's
            // clock (layout notes in RedisScripts).
            records.string(job.name)
            records.bytes(job.payload)
            records.int(job.priority.rawValue)
            records.int(job.maxAttempts)
            records.int(Int(job.timeout.microseconds))
            records.string(job.uniqueKey ?? "")
            records.string(parent)
            records.string(waitedFor)
            records.string(condition)
            records.string(job.queue)
            records.string(job.batchID ?? "")
            records.string(JobHeaders.encode(job.headers))
            ends.append(records.count)
        }
        let buffer = ByteBuffer(bytes: records.bytes)
        var arguments: [RESPArgument] = [
            .int(jobs.count), linked ? "1" : "", due.map { .bytes(ByteBuffer(bytes: $0.bytes)) } ?? "",
            limits.map { .bytes(ByteBuffer(bytes: $0.bytes)) } ?? "",
        ]
        arguments.reserveCapacity(4 + jobs.count)
        var start = 0
        for end in ends {
            arguments.append(.bytes(buffer.getSlice(at: start, length: end - start)!))
            start = end
        }
        return arguments
    }

    /// The enqueue script's reply: ids, negative for duplicates.
    func enqueueResults(_ reply: RESPValue, count: Int, _ operation: String) throws -> [EnqueueResult] {
        guard let values = reply.array, values.count == count else { throw unexpected(operation, reply) }
        return try values.map { value -> EnqueueResult in
            guard let raw = value.int, raw != 0 else { throw unexpected(operation, reply) }
            return raw > 0 ? .created(JobID(Int64(raw))) : .duplicate(JobID(Int64(-raw)))
        }
    }

    public func claim(queues: [String], limit: Int, lease: Duration, workerID: String) async throws -> [ClaimedJob] {
        guard limit > 0, !queues.isEmpty else { return [] }
        return try await claimedJobs(try await run(RedisScripts.claim, "claim", claimArguments(queues: queues, limit: limit, lease: lease, workerID: workerID)))
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
        let lua = try Self.lua()
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
        var wait = max(.milliseconds(1), min(timeout, configuration.longestWait))
        // Redis ends a blocking pop's timeout at its next cron tick (10 a second), up to 100 ms
        // late: a rate-limited key woken late every time runs below its rate (GCRA keeps no
        // lost time). When something is due before the longest wait, a timer here pushes a
        // wake-up token on time instead, and the pop's own timeout is only the fallback.
        var timer: Task<Void, Never>?
        if timeout < configuration.longestWait, let first = queues.first {
            let due = wait
            let token: [RESPArgument] = ["RPUSH", key("wake:" + first), "1"]
            timer = Task { [self] in
                try? await Task.sleep(for: due, tolerance: .milliseconds(1))
                guard !Task.isCancelled else { return }
                _ = try? await send("wake on time", token)
            }
            wait += .milliseconds(250)
        }
        defer { timer?.cancel() }
        // The claim runs when the pop returns, and its leases start then, by Redis's clock.
        let claimArguments = claimArguments(queues: queues, limit: limit, lease: lease, workerID: workerID)
        let pop: [RESPArgument] = ["BLPOP"] + queues.map { key("wake:" + $0) }
            + [.string(String(format: "%.3f", Double(wait.microseconds) / 1_000_000))]
        let asFunction = useFunctions.load(ordering: .relaxed)
        let call = asFunction
            ? RedisFunctionLibrary.command(lua.functionName(RedisScripts.claim), keys: [.string(prefix)], arguments: claimArguments)
            : lua.script(RedisScripts.claim).eval.command(keys: [.string(prefix)], arguments: claimArguments)
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
            return try await claimedJobs(reply)
        case .failure(let error) where error.isFunctionNotFound || error.code == "NOSCRIPT" || error.isUnknownCommand:
            // Not loaded (Redis restarted empty) or no FCALL: the caller's next claim sees to it.
            return []
        case .failure(let error):
            throw refused("claim", error, lua: asFunction ? lua.libraryLines : lua.script(RedisScripts.claim).lines)
        }
    }

    /// A claim's arguments: clock offset, lease µs, worker id, limit, queues.
    func claimArguments(queues: [String], limit: Int, lease: Duration, workerID: String) -> [RESPArgument] {
        [clockOffset, .string(String(max(0, lease.microseconds))), .string(workerID), .int(limit)] + queues.map { .string($0) }
    }

    /// The claim script's reply: the leases' expiry, then per job its id, written-once record,
    /// attempt and lease token. A record this version cannot read fails its own job (dead, with
    /// the reason), never the jobs claimed with it.
    func claimedJobs(_ reply: RESPValue) async throws -> [ClaimedJob] {
        guard let values = reply.array, values.count % 4 == 1, let expiryText = values[0].string,
              let expiry = date(micros: expiryText)
        else { throw unexpected("claim", reply) }
        var claimed: [ClaimedJob] = []
        claimed.reserveCapacity(values.count / 4)
        var unreadable: [(JobLease, String)] = []
        var index = 1
        while index < values.count {
            guard let id = values[index].int, let packed = values[index + 1].buffer,
                  let attempt = values[index + 2].int, let token = values[index + 3].int
            else { throw unexpected("claim", reply) }
            do {
                var record = PackedReader(packed)
                let name = try record.string(), payload = try record.data()
                let priority = try record.int(), maxAttempts = try record.int(), timeout = try record.int()
                _ = try record.next()  // unique key
                let parent = try record.optionalString(), waitedFor = try record.optionalString()
                _ = try record.next()  // batch condition
                let queue = try record.string(), batch = try record.optionalString()
                let headers = try JobHeaders.decode(try record.string(), job: JobID(Int64(id)))
                let created = try record.string()
                _ = try record.next()  // run-at
                let limitKeys = record.isAtEnd ? [] : LimitKey.decode(try record.string())
                claimed.append(ClaimedJob(
                    id: JobID(Int64(id)), name: name, queue: queue, payload: payload,
                    priority: Priority(rawValue: priority), attempt: attempt, maxAttempts: maxAttempts,
                    timeout: .microseconds(Int64(timeout)), batchID: batch, createdAt: date(micros: created) ?? expiry,
                    leaseExpiresAt: expiry, leaseToken: token,
                    parentID: parent.flatMap { JobID($0) }, waitedForBatch: waitedFor, headers: headers,
                    limitKeys: limitKeys))
            } catch ConveyorError.storeFailure(let message) {
                unreadable.append((JobLease(id: JobID(Int64(id)), token: token), message))
            }
            index += 4
        }
        if !unreadable.isEmpty { await failUnreadable(unreadable) }
        return claimed
    }

    /// Ends claimed jobs whose records this version cannot read: dead at once, with the reason,
    /// so one bad record never strands the jobs claimed with it nor burns their attempts.
    /// Part of the claim call: the claim returns after they are written.
    private func failUnreadable(_ jobs: [(JobLease, String)]) async {
        let outcomes = jobs.map { lease, message in
            JobOutcome.failed(lease, JobFailure(.permanent, "the stored record of job \(lease.id) cannot be read: \(message)"), retryAfter: nil)
        }
        do {
            try await complete(outcomes)
        } catch {
            // Left to lease expiry, which counts the attempt; the next claim fails it again.
            logger.warning("cannot fail jobs whose records are unreadable; their leases will expire",
                           metadata: ["jobs": "\(jobs.map(\.0.id))", "error": "\(error)"])
        }
    }

    @discardableResult
    public func complete(_ outcomes: [JobOutcome]) async throws -> [JobLease] {
        guard !outcomes.isEmpty else { return [] }
        var arguments: [RESPArgument] = [clockOffset]
        arguments.reserveCapacity(1 + outcomes.count * 6)
        for outcome in outcomes {
            arguments.append(.string(outcome.lease.id.description))
            arguments.append(.int(outcome.lease.token))
            switch outcome.result {
            case .succeeded(let output):
                arguments += ["s", RESPArgument(output), "", ""]
            case .failed(let failure, let retryAfter):
                // Upper case: a failure the job type does not count against its keys' circuits.
                let kind = retryAfter == nil ? "d" : "r"
                arguments.append(.string(outcome.countsAgainstCircuit ? kind : kind.uppercased()))
                arguments.append(.string(failure.message))
                arguments.append(failure.kind == .permanent ? "1" : "0")
                arguments.append(.string(retryAfter.map { String(max(0, $0.microseconds)) } ?? ""))
            case .deferred(let delay, let keys, let reason):
                arguments.append("x")
                arguments.append(.string(JobFailure.deferred(for: delay, keys: keys, reason: reason).message))
                arguments.append(.string(LimitKey.encode(keys)))
                arguments.append(.string(String(max(0, delay.microseconds))))
            }
        }
        let reply = try await run(RedisScripts.complete, "complete", arguments)
        guard let values = reply.array, let madeWork = values.first?.int, values.count % 2 == 1 else {
            throw unexpected("complete", reply)
        }
        if madeWork == 1 { workSignal.notify() }
        completionSignal.notify()
        return Self.leases(values.dropFirst())
    }

    /// Id, token pairs from a script's reply.
    static func leases(_ values: ArraySlice<RESPValue>) -> [JobLease] {
        stride(from: values.startIndex, to: values.endIndex - 1, by: 2).compactMap { index in
            guard let id = values[index].int, let token = values[index + 1].int else { return nil }
            return JobLease(id: JobID(Int64(id)), token: token)
        }
    }

    @discardableResult
    public func heartbeat(_ leases: [JobLease], lease: Duration) async throws -> [JobLease] {
        guard !leases.isEmpty else { return [] }
        let reply = try await run(RedisScripts.heartbeat, "heartbeat",
                                  [clockOffset, .string(String(max(0, lease.microseconds)))] + Self.leaseArguments(leases))
        guard let values = reply.array else { throw unexpected("heartbeat", reply) }
        return Self.leases(values[...])
    }

    public func release(_ leases: [JobLease]) async throws {
        guard !leases.isEmpty else { return }
        _ = try await run(RedisScripts.release, "release", [clockOffset] + Self.leaseArguments(leases))
        workSignal.notify()
    }

    static func leaseArguments(_ leases: [JobLease]) -> [RESPArgument] {
        leases.flatMap { [RESPArgument.string($0.id.description), .int($0.token)] }
    }

    @discardableResult
    public func recoverExpiredLeases() async throws -> Int {
        let budget = max(1, configuration.stepLimit)
        let retention = String(max(0, configuration.retention.microseconds))
        var recovered = 0
        // Retention goes on while a pass found a full budget of finished jobs to delete, each
        // pass its own short call, so it keeps up with a full-speed drain.
        for pass in 0..<50 {
            let reply = try await run(RedisScripts.recover, "recover expired leases", [clockOffset, .string(retention), .int(budget)])
            guard let values = reply.array, values.count == 2, let count = values[0].int, let more = values[1].int else {
                throw unexpected("recover expired leases", reply)
            }
            if pass == 0 { recovered = count }
            if more == 0 { break }
        }
        if recovered > 0 {
            workSignal.notify()
            completionSignal.notify()
        }
        return recovered
    }

    @discardableResult
    public func cancel(_ ids: [JobID]) async throws -> [JobID] {
        guard !ids.isEmpty else { return [] }
        let cancelled = try await idList("cancel", RedisScripts.cancel, [clockOffset] + ids.map { .string($0.description) })
        if !cancelled.isEmpty {
            workSignal.notify()
            completionSignal.notify()
        }
        return cancelled
    }

    @discardableResult
    public func retry(_ ids: [JobID]) async throws -> [JobID] {
        guard !ids.isEmpty else { return [] }
        let moved = try await idList("retry", RedisScripts.retry, [clockOffset] + ids.map { .string($0.description) })
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

    public func purgeStep(_ request: PurgeRequest, from cursor: String?) async throws -> PurgeStep {
        // Never active jobs, whatever the request says.
        let states = request.states.filter { $0 != .active }
        guard !states.isEmpty else { return PurgeStep(deleted: 0, cursor: nil) }
        let arguments: [RESPArgument] = [
            clockOffset, .string(request.queue ?? ""), .string(request.olderThan.map { String(max(0, $0.microseconds)) } ?? ""),
            .string(cursor ?? ""), .int(max(1, min(configuration.listingBudget, configuration.stepLimit))),
        ] + states.map { .int($0.rawValue) }
        let reply = try await run(RedisScripts.purge, "purge", arguments)
        guard let values = reply.array, values.count == 2, let count = values[0].int, let next = values[1].string else {
            throw unexpected("purge", reply)
        }
        if count > 0 { completionSignal.notify() }
        return PurgeStep(deleted: count, cursor: next.isEmpty ? nil : next)
    }

    public func timeUntilNextDue(queues: [String]) async throws -> Duration? {
        guard !queues.isEmpty else { return nil }
        // Paused queues' due jobs are not work: counting them would wake idle workers at once, forever.
        let reply = try await run(RedisScripts.untilNextDue, "time until the next due job", [clockOffset] + queues.map { .string($0) })
        guard let text = reply.string else { throw unexpected("time until the next due job", reply) }
        guard !text.isEmpty else { return nil }
        guard let micros = Int64(text) else { throw unexpected("time until the next due job", reply) }
        return .microseconds(micros)
    }

    func unexpected(_ operation: String, _ reply: RESPValue) -> ConveyorError {
        ConveyorError.storeFailure("Redis at \(configuration.redis.endpoint) gave an unexpected reply to \(operation): \(String(describing: reply).prefix(200))")
    }
}
