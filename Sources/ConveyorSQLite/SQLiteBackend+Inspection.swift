import Conveyor
import Foundation
import GRDB

extension SQLiteBackend {
    static let recordColumns = """
        id, name, queue, payload, priority, state, attempt, max_attempts, timeout_us, run_at, created_at,
        started_at, finished_at, unique_key, batch_id, worker_id, lease_expires_at, error_kind, error_message, result,
        parent_id, wait_batch, headers, limit_keys
        """
    /// The same, with an empty payload and no result: a listing's projection.
    static let recordColumnsWithoutPayloads = recordColumns
        .replacingOccurrences(of: "payload,", with: "X'' AS payload,")
        .replacingOccurrences(of: "result,", with: "NULL AS result,")

    static func record(_ row: Row) throws -> JobRecord {
        let errorMessage: String? = row["error_message"]
        let errorKind: Int? = row["error_kind"]
        return JobRecord(
            id: JobID(row["id"] as Int64),
            name: row["name"],
            queue: row["queue"],
            payload: row["payload"] ?? Data(),
            priority: Priority(rawValue: row["priority"]),
            state: SQLiteSchema.state(row["state"]) ?? .dead,
            attempt: row["attempt"],
            maxAttempts: row["max_attempts"],
            timeout: .microseconds(row["timeout_us"] as Int64),
            runAt: date(micros: row["run_at"]),
            createdAt: date(micros: row["created_at"]),
            startedAt: (row["started_at"] as Int64?).map { date(micros: $0) },
            finishedAt: (row["finished_at"] as Int64?).map { date(micros: $0) },
            uniqueKey: row["unique_key"],
            batchID: row["batch_id"],
            workerID: row["worker_id"],
            leaseExpiresAt: (row["lease_expires_at"] as Int64?).map { date(micros: $0) },
            lastError: errorMessage.map { JobFailure(errorKind == 1 ? .permanent : .retryable, $0) },
            result: row["result"],
            parentID: (row["parent_id"] as Int64?).map { JobID($0) },
            waitedForBatch: row["wait_batch"],
            headers: JobHeaders.inspected(row["headers"]),
            limitKeys: LimitKey.decode(row["limit_keys"])
        )
    }

    public func job(_ id: JobID) async throws -> JobRecord? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT \(Self.recordColumns) FROM jobs WHERE id = ?", arguments: [id.rawValue])
                .map { try Self.record($0) }
        }
    }

    public func jobs(_ query: JobQuery) async throws -> [JobRecord] {
        var conditions: [String] = []
        var arguments: StatementArguments = []
        if let states = query.states {
            conditions.append("state IN (\(states.isEmpty ? "-1" : SQLiteSchema.storedValues(states).map(String.init).joined(separator: ",")))")
        }
        if let queue = query.queue {
            conditions.append("queue = ?")
            arguments += [queue]
        }
        if let batch = query.batchID {
            conditions.append("batch_id = ?")
            arguments += [batch]
        }
        if let name = query.name {
            conditions.append("name = ?")
            arguments += [name]
        }
        if let from = query.createdFrom {
            conditions.append("created_at >= ?")
            arguments += [micros(from)]
        }
        if let before = query.createdBefore {
            conditions.append("created_at < ?")
            arguments += [micros(before)]
        }
        if let after = query.after {
            conditions.append(query.newestFirst ? "id < ?" : "id > ?")
            arguments += [after.rawValue]
        }
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let columns = query.includePayloads ? Self.recordColumns : Self.recordColumnsWithoutPayloads
        let sql = "SELECT \(columns) FROM jobs \(whereClause) ORDER BY id \(query.newestFirst ? "DESC" : "") LIMIT \(max(0, query.limit))"
        let finalArguments = arguments
        return try await read { db in
            try Row.fetchAll(db, sql: sql, arguments: finalArguments).map { try Self.record($0) }
        }
    }

    public func queueStats() async throws -> [QueueStats] {
        try await read { db in
            var stats: [String: QueueStats] = [:]
            // The counters every transaction keeps: a row per queue, however many jobs it holds.
            for row in try Row.fetchAll(db, sql: "SELECT name, paused, \(SQLiteSchema.stateColumns.joined(separator: ", ")) FROM queues") {
                let name: String = row[0]
                var queue = QueueStats(queue: name, paused: (row[1] as Int) != 0)
                for state in JobState.allCases {
                    let count: Int = row[2 + state.rawValue]
                    if count != 0 { queue.counts[state] = count }
                }
                stats[name] = queue
            }
            return stats.values.sorted { $0.queue < $1.queue }
        }
    }

    static let batchColumns = "id, name, created_at, finished_at, \(SQLiteSchema.stateColumns.joined(separator: ", ")), on_success_job, on_complete_job"

    static func batch(_ row: Row) -> Batch {
        var counts: [JobState: Int] = [:]
        for (state, column) in SQLiteSchema.stateColumns.enumerated() {
            let count: Int = row[column]
            if count != 0, let state = JobState(rawValue: state) { counts[state] = count }
        }
        let id: String = row["id"]
        let name: String? = row["name"]
        let created: Int64 = row["created_at"]
        let finished: Int64? = row["finished_at"]
        let onSuccess: Int64? = row["on_success_job"]
        let onComplete: Int64? = row["on_complete_job"]
        return Batch(
            id: id, name: name, counts: counts, createdAt: date(micros: created), finishedAt: finished.map { date(micros: $0) },
            onSuccessJob: onSuccess.map { JobID($0) }, onCompleteJob: onComplete.map { JobID($0) })
    }

    @discardableResult
    public func createBatch(_ new: NewBatch) async throws -> Batch {
        try new.validate()
        let batch = try await write { db, now -> Batch in
            try db.execute(sql: "INSERT OR IGNORE INTO batches (id, name, created_at) VALUES (?, ?, ?)", arguments: [new.id, new.name, now])
            if db.changesCount == 1 {
                // Callbacks are not members: they wait outside the batch's counters.
                for (job, kind, column) in [(new.onSuccess, 1, "on_success_job"), (new.onComplete, 2, "on_complete_job")] {
                    guard let job else { continue }
                    try db.execute(sql: """
                        INSERT INTO jobs (name, queue, payload, priority, state, max_attempts, timeout_us, run_at, created_at,
                                          unique_key, batch_id, wait_batch, wait_kind, headers)
                        VALUES (?, ?, ?, ?, 7, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """, arguments: [job.name, job.queue, job.payload, job.priority.rawValue, job.maxAttempts,
                                         job.timeout.microseconds, now, now, job.uniqueKey, job.batchID, new.id, kind,
                                         JobHeaders.encode(job.headers)])
                    // A callback may itself be a member of an outer batch (a batch of chords).
                    if let outer = job.batchID {
                        try db.execute(sql: "INSERT OR IGNORE INTO batches (id, created_at) VALUES (?, ?)", arguments: [outer, now])
                    }
                    var cascade = Cascade()
                    cascade.move(job.batchID, queue: job.queue, from: nil, to: .waiting)
                    try cascade.run(db, now: now)
                    try db.execute(sql: "UPDATE batches SET \(column) = ? WHERE id = ?", arguments: [db.lastInsertedRowID, new.id])
                }
            }
            return try Row.fetchOne(db, sql: "SELECT \(Self.batchColumns) FROM batches WHERE id = ?", arguments: [new.id]).map(Self.batch)!
        }
        return batch
    }

    public func batch(_ id: String) async throws -> Batch? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT \(Self.batchColumns) FROM batches WHERE id = ?", arguments: [id]).map(Self.batch)
        }
    }

    public func batches(limit: Int) async throws -> [Batch] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT \(Self.batchColumns) FROM batches ORDER BY created_at DESC, id DESC LIMIT ?", arguments: [limit])
                .map(Self.batch)
        }
    }

    @discardableResult
    public func recoverBatch(_ id: String, onlyRetryable: Bool) async throws -> [JobID] {
        let moved = try await write { db, now -> [JobID] in
            // OR IGNORE: a member whose unique key was taken by a newer job stays dead.
            let rows = try Row.fetchAll(db, sql: """
                UPDATE OR IGNORE jobs SET state = 1, attempt = 0, run_at = ?, finished_at = NULL
                WHERE batch_id = ? AND state = 5 AND (? = 0 OR coalesce(error_kind, 0) <> 1)
                RETURNING id, queue
                """, arguments: [now, id, onlyRetryable ? 1 : 0])
            let ids: [Int64] = rows.map { $0[0] }
            var cascade = Cascade()
            for row in rows {
                cascade.move(id, queue: row[1], from: .dead, to: .ready)
                try cascade.restoreDependents(of: JobID(row[0] as Int64), batch: id, db)
            }
            try cascade.run(db, now: now)
            return ids.map { JobID($0) }.sorted()
        }
        if !moved.isEmpty { announceWork() }
        return moved
    }

    public func registerWorker(_ worker: WorkerInfo) async throws {
        try await write { db, now in
            try db.execute(sql: """
                INSERT INTO workers (id, hostname, pid, queues, concurrency, started_at, last_seen_at, running)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(id) DO UPDATE SET last_seen_at = excluded.last_seen_at, running = excluded.running
                """, arguments: [
                    worker.id, worker.hostname, Int(worker.pid), worker.queues.joined(separator: ","), worker.concurrency,
                    micros(worker.startedAt), now, worker.running,
                ])
            // Workers that vanished without saying goodbye (SIGKILL) are forgotten after a day.
            try db.execute(sql: "DELETE FROM workers WHERE last_seen_at < ?", arguments: [now - 86_400_000_000])
        }
    }

    public func unregisterWorker(id: String) async throws {
        try await write { db, _ in
            try db.execute(sql: "DELETE FROM workers WHERE id = ?", arguments: [id])
        }
    }

    public func workers(seenWithin age: Duration) async throws -> [WorkerInfo] {
        let since = now - max(0, min(age.microseconds, Int64.max / 2))
        return try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM workers WHERE last_seen_at >= ? ORDER BY id", arguments: [since]).map { row in
                WorkerInfo(
                    id: row["id"], hostname: row["hostname"], pid: Int32(row["pid"] as Int),
                    queues: (row["queues"] as String).split(separator: ",").map(String.init),
                    concurrency: row["concurrency"], startedAt: date(micros: row["started_at"]),
                    lastSeenAt: date(micros: row["last_seen_at"]), running: row["running"])
            }
        }
    }
}
