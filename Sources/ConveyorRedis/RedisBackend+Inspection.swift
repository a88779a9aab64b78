import Conveyor
import ConveyorRedisClient
import Foundation

extension RedisBackend {
    /// A field, value list (HGETALL) as a dictionary.
    static func fields(_ reply: RESPValue) -> [String: RESPValue] {
        guard let values = reply.array else { return [:] }
        var fields: [String: RESPValue] = [:]
        fields.reserveCapacity(values.count / 2)
        var index = 0
        while index + 1 < values.count {
            if let name = values[index].string { fields[name] = values[index + 1] }
            index += 2
        }
        return fields
    }

    static func record(id: JobID, _ f: [String: RESPValue]) throws -> JobRecord? {
        guard let state = f["s"]?.int.flatMap(JobState.init(rawValue:)) else { return nil }
        let headers = JobHeaders.inspected(f["hd"]?.text)
        func time(_ name: String) -> Date? { f[name]?.text.flatMap { date(micros: $0) } }
        return JobRecord(
            id: id,
            name: f["n"]?.string ?? "",
            queue: f["q"]?.string ?? "",
            payload: f["p"]?.data ?? Data(),
            priority: Priority(rawValue: f["pr"]?.int ?? Priority.normal.rawValue),
            state: state,
            attempt: f["a"]?.int ?? 0,
            maxAttempts: f["m"]?.int ?? 1,
            timeout: .microseconds(Int64(f["t"]?.int ?? 0)),
            runAt: time("r") ?? Date(timeIntervalSince1970: 0),
            createdAt: time("c") ?? Date(timeIntervalSince1970: 0),
            startedAt: time("st"),
            finishedAt: time("f"),
            uniqueKey: f["u"]?.text,
            batchID: f["b"]?.text,
            workerID: f["w"]?.text,
            leaseExpiresAt: state == .active ? time("l") : nil,
            lastError: f["em"]?.string.map { JobFailure(f["ek"]?.int == 1 ? .permanent : .retryable, $0) },
            result: state == .succeeded ? f["res"]?.data : nil,
            parentID: f["pa"]?.text.flatMap { JobID($0) },
            waitedForBatch: f["wb"]?.text,
            headers: headers,
            limitKeys: LimitKey.decode(f["lk"]?.text)
        )
    }

    public func job(_ id: JobID) async throws -> JobRecord? {
        startCompletionListener()
        let reply = try await run(RedisScripts.readJob, "read job \(id)", [clockOffset, .string(id.description)])
        return try Self.record(id: id, Self.fields(reply))
    }

    public func jobs(_ query: JobQuery) async throws -> [JobRecord] {
        guard query.limit > 0 else { return [] }
        if let states = query.states, states.isEmpty { return [] }
        var found: [JobRecord] = []
        var after = query.after?.description ?? ""
        while found.count < query.limit {
            let arguments: [RESPArgument] = [
                clockOffset, .string(query.batchID ?? ""), .string(query.queue ?? ""),
                .string(after), .int(query.limit - found.count), .int(max(1, configuration.listingBudget)),
                query.newestFirst ? "1" : "", .string(query.name ?? ""),
                .string(query.createdFrom.map(micros) ?? ""),
                .string(query.createdBefore.map(micros) ?? ""),
                query.includePayloads ? "" : "1",
            ] + (query.states ?? []).map { .int($0.rawValue) }
            let reply = try await run(RedisScripts.listJobs, "list jobs", arguments)
            guard let values = reply.array, values.count % 2 == 1, let cursor = values.first?.string else {
                throw unexpected("list jobs", reply)
            }
            for index in stride(from: 1, to: values.count, by: 2) {
                guard let id = values[index].string.flatMap({ JobID($0) }) else { throw unexpected("list jobs", reply) }
                if let record = try Self.record(id: id, Self.fields(values[index + 1])) { found.append(record) }
            }
            if cursor.isEmpty { break }
            after = cursor
        }
        return found
    }

    public func queueStats() async throws -> [QueueStats] {
        let header = try await pipeline("queue stats", [["SMEMBERS", key("qs")], ["SMEMBERS", key("paused")]])
        let queues = Set((header[0].array ?? []).compactMap(\.string)).union((header[1].array ?? []).compactMap(\.string)).sorted()
        let paused = Set((header[1].array ?? []).compactMap(\.string))
        guard !queues.isEmpty else { return [] }
        let counts = try await pipeline("queue stats", queues.map { ["HGETALL", key("qc:" + $0)] })
        return zip(queues, counts).map { queue, reply in
            var stats = QueueStats(queue: queue, paused: paused.contains(queue))
            for (name, value) in Self.fields(reply) {
                if let raw = Int(name), let state = JobState(rawValue: raw), let count = value.int, count != 0 {
                    stats.counts[state] = count
                }
            }
            return stats
        }
    }

    // MARK: Batches

    static func batch(id: String, _ f: [String: RESPValue]) -> Batch? {
        guard let created = f["c"]?.text.flatMap({ date(micros: $0) }) else { return nil }
        var counts: [JobState: Int] = [:]
        for state in JobState.allCases {
            if let count = f["s\(state.rawValue)"]?.int, count != 0 { counts[state] = count }
        }
        return Batch(
            id: id, name: f["n"]?.text, counts: counts, createdAt: created,
            finishedAt: f["f"]?.text.flatMap { date(micros: $0) },
            onSuccessJob: f["os"]?.text.flatMap { JobID($0) }, onCompleteJob: f["oc"]?.text.flatMap { JobID($0) })
    }

    @discardableResult
    public func createBatch(_ new: NewBatch) async throws -> Batch {
        try new.validate()
        var arguments: [RESPArgument] = [clockOffset, .string(new.id), .string(new.name ?? "")]
        for callback in [new.onSuccess, new.onComplete] {
            guard let job = callback else {
                arguments += ["0", "", "", "", "", "", "", "", "", ""]
                continue
            }
            arguments += [
                "1", .string(job.name), .string(job.queue), RESPArgument(job.payload), .int(job.priority.rawValue),
                .int(job.maxAttempts), .string(String(job.timeout.microseconds)), .string(job.uniqueKey ?? ""),
                .string(job.batchID ?? ""), .string(JobHeaders.encode(job.headers)),
            ]
        }
        let reply = try await run(RedisScripts.createBatch, "create batch \(new.id)", arguments)
        guard let batch = Self.batch(id: new.id, Self.fields(reply)) else { throw unexpected("create batch \(new.id)", reply) }
        return batch
    }

    public func batch(_ id: String) async throws -> Batch? {
        startCompletionListener()
        return Self.batch(id: id, Self.fields(try await send("read batch \(id)", ["HGETALL", key("b:" + id)])))
    }

    public func batches(limit: Int) async throws -> [Batch] {
        guard limit > 0 else { return [] }
        let ids = (try await send("list batches", ["ZREVRANGE", key("bs"), "0", .int(limit - 1)]).array ?? []).compactMap(\.string)
        guard !ids.isEmpty else { return [] }
        let replies = try await pipeline("list batches", ids.map { ["HGETALL", key("b:" + $0)] })
        return zip(ids, replies).compactMap { Self.batch(id: $0, Self.fields($1)) }
    }

    @discardableResult
    public func recoverBatch(_ id: String, onlyRetryable: Bool) async throws -> [JobID] {
        let moved = try await idList(
            "recover batch \(id)", RedisScripts.recoverBatch, [clockOffset, .string(id), onlyRetryable ? "1" : "0"])
        if !moved.isEmpty { workSignal.notify() }
        return moved
    }

    // MARK: Workers

    public func registerWorker(_ worker: WorkerInfo) async throws {
        let json = try JSONEncoder().encode(worker)
        _ = try await run(RedisScripts.registerWorker, "register worker \(worker.id)", [clockOffset, .string(worker.id), RESPArgument(json)])
    }

    public func unregisterWorker(id: String) async throws {
        _ = try await pipeline("unregister worker \(id)", [["HDEL", key("wk"), .string(id)], ["ZREM", key("wks"), .string(id)]])
    }

    public func workers(seenWithin age: Duration) async throws -> [WorkerInfo] {
        let reply = try await run(RedisScripts.listWorkers, "list workers", [clockOffset, .string(String(max(0, age.microseconds)))])
        guard let values = reply.array, values.count % 3 == 0 else { throw unexpected("list workers", reply) }
        let decoder = JSONDecoder()
        var workers: [WorkerInfo] = []
        for index in stride(from: 0, to: values.count, by: 3) {
            guard let id = values[index].string else { throw unexpected("list workers", reply) }
            guard let json = values[index + 2].data, !json.isEmpty else { continue }  // unregistered meanwhile
            do {
                var worker = try decoder.decode(WorkerInfo.self, from: json)
                if let seen = values[index + 1].string.flatMap({ Double($0) }) {
                    worker.lastSeenAt = Date(timeIntervalSince1970: seen / 1_000_000)
                }
                workers.append(worker)
            } catch {
                throw ConveyorError.storeFailure("Redis at \(configuration.redis.endpoint): worker \(id)'s record is not one this version reads: \(error)")
            }
        }
        return workers.sorted { $0.id < $1.id }
    }
}
