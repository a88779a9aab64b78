import Conveyor
import Foundation
import PostgresNIO

extension PostgresBackend {
    static let recordColumns = """
        id, name, queue, payload, priority, state, attempt, max_attempts, timeout_us, run_at, created_at,
        started_at, finished_at, unique_key, batch_id, worker_id, lease_expires_at, error_kind, error_message, result,
        parent_id, wait_batch, headers, limit_keys
        """
    /// The same, with an empty payload and no result: a listing's projection.
    static let recordColumnsWithoutPayloads = recordColumns
        .replacingOccurrences(of: "payload,", with: "''::bytea AS payload,")
        .replacingOccurrences(of: "result,", with: "NULL::bytea AS result,")

    static func record(_ row: PostgresRandomAccessRow) throws -> JobRecord {
        let errorMessage = try row["error_message"].decode(String?.self)
        let errorKind = try row["error_kind"].decode(Int16?.self)
        return JobRecord(
            id: JobID(try row["id"].decode(Int64.self)),
            name: try row["name"].decode(String.self),
            queue: try row["queue"].decode(String.self),
            payload: try row["payload"].decode(Data?.self) ?? Data(),
            priority: Priority(rawValue: Int(try row["priority"].decode(Int32.self))),
            state: PostgresSchema.state(try row["state"].decode(Int16.self)) ?? .dead,
            attempt: Int(try row["attempt"].decode(Int32.self)),
            maxAttempts: Int(try row["max_attempts"].decode(Int32.self)),
            timeout: .microseconds(try row["timeout_us"].decode(Int64.self)),
            runAt: date(try row["run_at"].decode(Int64.self)),
            createdAt: date(try row["created_at"].decode(Int64.self)),
            startedAt: try row["started_at"].decode(Int64?.self).map(date),
            finishedAt: try row["finished_at"].decode(Int64?.self).map(date),
            uniqueKey: try row["unique_key"].decode(String?.self),
            batchID: try row["batch_id"].decode(String?.self),
            workerID: try row["worker_id"].decode(String?.self),
            leaseExpiresAt: try row["lease_expires_at"].decode(Int64?.self).map(date),
            lastError: errorMessage.map { JobFailure(errorKind == 1 ? .permanent : .retryable, $0) },
            result: try row["result"].decode(Data?.self),
            parentID: try row["parent_id"].decode(Int64?.self).map { JobID($0) },
            waitedForBatch: try row["wait_batch"].decode(String?.self),
            headers: JobHeaders.inspected(try row["headers"].decode(String.self)),
            limitKeys: LimitKey.decode(try row["limit_keys"].decode(String?.self))
        )
    }

    public func job(_ id: JobID) async throws -> JobRecord? {
        try await read(PostgresQuery(unsafeSQL: "SELECT \(Self.recordColumns) FROM jobs WHERE id = \(id.rawValue)")).first.map(Self.record)
    }

    public func jobs(_ query: JobQuery) async throws -> [JobRecord] {
        var conditions: [String] = []
        var bindings = PostgresBindings()
        func parameter(_ value: some PostgresDynamicTypeEncodable) -> String {
            bindings.append(value)
            return "$\(bindings.count)"
        }
        if let states = query.states {
            conditions.append("state = ANY(\(parameter(PostgresSchema.storedValues(states)))::int2[])")
        }
        if let queue = query.queue { conditions.append("queue = \(parameter(queue))") }
        if let batch = query.batchID { conditions.append("batch_id = \(parameter(batch))") }
        if let name = query.name { conditions.append("name = \(parameter(name))") }
        if let from = query.createdFrom { conditions.append("created_at >= \(parameter(Self.micros(from)))") }
        if let before = query.createdBefore { conditions.append("created_at < \(parameter(Self.micros(before)))") }
        if let after = query.after { conditions.append(query.newestFirst ? "id < \(parameter(after.rawValue))" : "id > \(parameter(after.rawValue))") }
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let columns = query.includePayloads ? Self.recordColumns : Self.recordColumnsWithoutPayloads
        let sql = "SELECT \(columns) FROM jobs \(whereClause) ORDER BY id \(query.newestFirst ? "DESC" : "") LIMIT \(max(0, query.limit))"
        return try await read(PostgresQuery(unsafeSQL: sql, binds: bindings)).map(Self.record)
    }

    public func queueStats() async throws -> [QueueStats] {
        let columns = PostgresSchema.stateColumns
        // Each queue's folded row plus the deltas not folded yet (maintenance keeps them few).
        let rows = try await read(PostgresQuery(unsafeSQL: """
            SELECT name, bool_or(paused), \(columns.map { "sum(\($0))::int8" }.joined(separator: ", ")) FROM (
                SELECT name, paused, \(columns.joined(separator: ", ")) FROM queues
                UNION ALL SELECT queue, false, \(columns.joined(separator: ", ")) FROM queue_deltas) AS q
            GROUP BY name ORDER BY name
            """))
        return try rows.map { row in
            var queue = QueueStats(queue: try row[0].decode(String.self), paused: try row[1].decode(Bool.self))
            for state in JobState.allCases {
                let count = Int(try row[2 + state.rawValue].decode(Int64.self))
                if count != 0 { queue.counts[state] = count }
            }
            return queue
        }
    }

    static let batchColumns = "id, name, created_at, finished_at, \(PostgresSchema.stateColumns.joined(separator: ", ")), on_success_job, on_complete_job"

    static func batch(_ row: PostgresRandomAccessRow) throws -> Batch {
        var counts: [JobState: Int] = [:]
        for (state, column) in PostgresSchema.stateColumns.enumerated() {
            let count = Int(try row[column].decode(Int64.self))
            if count != 0, let state = JobState(rawValue: state) { counts[state] = count }
        }
        return Batch(
            id: try row["id"].decode(String.self), name: try row["name"].decode(String?.self), counts: counts,
            createdAt: date(try row["created_at"].decode(Int64.self)), finishedAt: try row["finished_at"].decode(Int64?.self).map(date),
            onSuccessJob: try row["on_success_job"].decode(Int64?.self).map { JobID($0) },
            onCompleteJob: try row["on_complete_job"].decode(Int64?.self).map { JobID($0) })
    }

    @discardableResult
    public func createBatch(_ new: NewBatch) async throws -> Batch {
        try new.validate()
        for job in [new.onSuccess, new.onComplete].compactMap({ $0 }) { try Self.validate([job]) }
        let batch = try await write { tx -> Batch in
            let created = try await tx.rows("INSERT INTO batches (id, name, created_at) VALUES (\(new.id), \(new.name), \(tx.now)) ON CONFLICT DO NOTHING RETURNING id")
            if !created.isEmpty {
                // Callbacks are not members: they wait outside the batch's counters.
                for (job, kind, column) in [(new.onSuccess, 1, "on_success_job"), (new.onComplete, 2, "on_complete_job")] {
                    guard let job else { continue }
                    // A callback may itself be a member of an outer batch (a batch of chords).
                    if let outer = job.batchID {
                        try await tx.execute("INSERT INTO batches (id, created_at) VALUES (\(outer), \(tx.now)) ON CONFLICT DO NOTHING")
                    }
                    let inserted = try await tx.rows("""
                        INSERT INTO jobs (name, queue, payload, priority, state, max_attempts, timeout_us, run_at, created_at,
                                          unique_key, batch_id, wait_batch, wait_kind, headers, limit_keys)
                        VALUES (\(job.name), \(job.queue), \(job.payload), \(Int32(job.priority.rawValue)), 7, \(Int32(job.maxAttempts)),
                                \(job.timeout.microseconds), \(tx.now), \(tx.now), \(job.uniqueKey), \(job.batchID), \(new.id), \(Int16(kind)),
                                \(JobHeaders.encode(job.headers)), \(job.limitKeys.isEmpty ? nil : LimitKey.encode(job.limitKeys)))
                        RETURNING id
                        """)
                    var cascade = PGCascade()
                    cascade.move(job.batchID, queue: job.queue, from: nil, to: .waiting)
                    try await cascade.run(tx)
                    var bindings = PostgresBindings()
                    bindings.append(try inserted[0][0].decode(Int64.self))
                    bindings.append(new.id)
                    try await tx.execute(PostgresQuery(unsafeSQL: "UPDATE batches SET \(column) = $1 WHERE id = $2", binds: bindings))
                }
            }
            let rows = try await tx.rows(PostgresQuery(unsafeSQL: "SELECT \(Self.batchColumns) FROM batches WHERE id = $1", binds: Self.bindings(new.id)))
            return try Self.batch(rows[0])
        }
        return batch
    }

    public func batch(_ id: String) async throws -> Batch? {
        try await read(PostgresQuery(unsafeSQL: "SELECT \(Self.batchColumns) FROM batches WHERE id = $1", binds: Self.bindings(id))).first.map(Self.batch)
    }

    public func batches(limit: Int) async throws -> [Batch] {
        try await read(PostgresQuery(unsafeSQL: "SELECT \(Self.batchColumns) FROM batches ORDER BY created_at DESC, id DESC LIMIT \(max(0, limit))"))
            .map(Self.batch)
    }

    @discardableResult
    public func recoverBatch(_ id: String, onlyRetryable: Bool) async throws -> [JobID] {
        let moved = try await write { tx -> [JobID] in
            // A member whose unique key was taken by a newer job stays dead.
            let rows = try await tx.rows("""
                UPDATE jobs j SET state = 1, attempt = 0, run_at = \(tx.now), finished_at = NULL
                WHERE j.id IN (SELECT id FROM jobs WHERE batch_id = \(id) AND state = 5 ORDER BY id FOR NO KEY UPDATE)
                  AND (NOT \(onlyRetryable) OR coalesce(j.error_kind, 0) <> 1)
                  AND (j.unique_key IS NULL OR NOT EXISTS (
                      SELECT 1 FROM jobs o WHERE o.unique_key = j.unique_key AND o.state NOT IN (5, 6) AND o.id <> j.id))
                RETURNING j.id, j.queue
                """)
            var cascade = PGCascade()
            var ids: [JobID] = []
            for row in rows {
                let job = JobID(try row[0].decode(Int64.self))
                ids.append(job)
                cascade.move(id, queue: try row[1].decode(String.self), from: .dead, to: .ready)
                try await cascade.restoreDependents(of: job, batch: id, tx)
            }
            try await cascade.run(tx)
            return ids.sorted()
        }
        if !moved.isEmpty { announceWork() }
        return moved
    }

    public func registerWorker(_ worker: WorkerInfo) async throws {
        try await write { tx in
            try await tx.execute("""
                INSERT INTO workers (id, hostname, pid, queues, concurrency, started_at, last_seen_at, running)
                VALUES (\(worker.id), \(worker.hostname), \(Int32(worker.pid)), \(worker.queues.joined(separator: ",")),
                        \(Int32(worker.concurrency)), \(Self.micros(worker.startedAt)), \(tx.now), \(Int32(worker.running)))
                ON CONFLICT (id) DO UPDATE SET last_seen_at = excluded.last_seen_at, running = excluded.running
                """)
            // Workers that vanished without saying goodbye (SIGKILL) are forgotten after a day.
            try await tx.execute("DELETE FROM workers WHERE last_seen_at < \(tx.now - 86_400_000_000)")
        }
    }

    public func unregisterWorker(id: String) async throws {
        try await write { tx in try await tx.execute("DELETE FROM workers WHERE id = \(id)") }
    }

    public func workers(seenWithin age: Duration) async throws -> [WorkerInfo] {
        let window = max(0, min(age.microseconds, Int64.max / 4))
        let rows = try await read("""
            SELECT id, hostname, pid, queues, concurrency, started_at, last_seen_at, running FROM workers
            WHERE last_seen_at >= (extract(epoch FROM clock_timestamp()) * 1000000)::int8 + \(offset) - \(window) ORDER BY id
            """)
        return try rows.map { row in
            WorkerInfo(
                id: try row[0].decode(String.self), hostname: try row[1].decode(String.self), pid: try row[2].decode(Int32.self),
                queues: try row[3].decode(String.self).split(separator: ",").map(String.init),
                concurrency: Int(try row[4].decode(Int32.self)), startedAt: Self.date(try row[5].decode(Int64.self)),
                lastSeenAt: Self.date(try row[6].decode(Int64.self)), running: Int(try row[7].decode(Int32.self)))
        }
    }
}
