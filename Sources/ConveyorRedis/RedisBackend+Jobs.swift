import Conveyor
import ConveyorRedisClient
import Foundation

extension RedisBackend {
    public func enqueue(_ jobs: [NewJob]) async throws -> [EnqueueResult] {
        guard !jobs.isEmpty else { return [] }
        try NewJob.validateDependencies(jobs)
        var arguments: [RESPArgument] = [.string(micros(Date())), .int(jobs.count)]
        arguments.reserveCapacity(2 + jobs.count * 12)
        for job in jobs {
            arguments.append(.string(job.name))
            arguments.append(.string(job.queue))
            arguments.append(RESPArgument(job.payload))
            arguments.append(.int(job.priority.rawValue))
            arguments.append(.string(job.runAt.map(micros) ?? ""))
            arguments.append(.int(job.maxAttempts))
            arguments.append(.string(String(job.timeout.microseconds)))
            arguments.append(.string(job.uniqueKey ?? ""))
            arguments.append(.string(job.batchID ?? ""))
            switch job.dependsOn {
            case nil: arguments += ["", "", ""]
            case .job(let id): arguments += ["j", .string(id.description), ""]
            case .earlier(let index): arguments += ["e", .int(index), ""]
            case .batch(let batch, let condition): arguments += ["b", .string(batch), .int(condition.rawValue)]
            }
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
        listen(to: queues)
        let now = Date()
        let expiry = now.addingTimeInterval(Double(lease.microseconds) / 1_000_000)
        let expiryText = micros(expiry)
        let arguments: [RESPArgument] = [.string(micros(now)), .string(expiryText), .string(workerID), .int(limit)]
            + queues.map { .string($0) }
        let reply = try await run(RedisScripts.claim, "claim", arguments)
        guard let values = reply.array, values.count % 13 == 0 else { throw unexpected("claim", reply) }
        var claimed: [ClaimedJob] = []
        claimed.reserveCapacity(values.count / 13)
        var index = 0
        while index < values.count {
            let v = values[index..<index + 13]
            let i = index
            guard let id = v[i].int, let name = v[i + 1].string, let queue = v[i + 2].string,
                  let attempt = v[i + 5].int, let token = v[i + 12].int
            else { throw unexpected("claim", reply) }
            claimed.append(ClaimedJob(
                id: JobID(Int64(id)), name: name, queue: queue, payload: v[i + 3].data ?? Data(),
                priority: Priority(rawValue: v[i + 4].int ?? Priority.normal.rawValue), attempt: attempt,
                maxAttempts: v[i + 6].int ?? 1, timeout: .microseconds(Int64(v[i + 7].int ?? 0)),
                batchID: v[i + 8].text, createdAt: v[i + 9].text.flatMap { date(micros: $0) } ?? now,
                leaseExpiresAt: expiry, leaseToken: token,
                parentID: v[i + 10].text.flatMap { JobID($0) }, waitedForBatch: v[i + 11].text))
            index += 13
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

    func idList(_ operation: String, _ script: RedisScript, _ arguments: [RESPArgument]) async throws -> [JobID] {
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
        let arguments: [RESPArgument] = [
            .string(micros(Date())), .string(request.queue ?? ""), .string(request.olderThan.map(micros) ?? ""),
        ] + request.states.map { .int($0.rawValue) }
        let reply = try await run(RedisScripts.purge, "purge", arguments)
        guard let count = reply.int else { throw unexpected("purge", reply) }
        return count
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
