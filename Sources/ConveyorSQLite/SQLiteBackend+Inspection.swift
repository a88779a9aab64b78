import Conveyor
import Foundation
import GRDB

extension SQLiteBackend {
    static let recordColumns = """
        id, name, queue, payload, priority, state, attempt, max_attempts, timeout_us, run_at, created_at,
        started_at, finished_at, unique_key, batch_id, worker_id, lease_expires_at, error_kind, error_message, result
        """

    static func record(_ row: Row) -> JobRecord {
        let errorMessage: String? = row["error_message"]
        let errorKind: Int? = row["error_kind"]
        return JobRecord(
            id: JobID(row["id"] as Int64),
            name: row["name"],
            queue: row["queue"],
            payload: row["payload"] ?? Data(),
            priority: Priority(rawValue: row["priority"]),
            state: JobState(rawValue: row["state"]) ?? .dead,
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
            result: row["result"]
        )
    }

    public func job(_ id: JobID) async throws -> JobRecord? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT \(Self.recordColumns) FROM jobs WHERE id = ?", arguments: [id.rawValue])
                .map(Self.record)
        }
    }

    public func jobs(_ query: JobQuery) async throws -> [JobRecord] {
        var conditions: [String] = []
        var arguments: StatementArguments = []
        if let states = query.states {
            conditions.append("state IN (\(states.isEmpty ? "-1" : states.map { String($0.rawValue) }.joined(separator: ",")))")
        }
        if let queue = query.queue {
            conditions.append("queue = ?")
            arguments += [queue]
        }
        if let batch = query.batchID {
            conditions.append("batch_id = ?")
            arguments += [batch]
        }
        if let after = query.after {
            conditions.append("id > ?")
            arguments += [after.rawValue]
        }
        let whereClause = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        let sql = "SELECT \(Self.recordColumns) FROM jobs \(whereClause) ORDER BY id LIMIT \(max(0, query.limit))"
        let finalArguments = arguments
        return try await read { db in
            try Row.fetchAll(db, sql: sql, arguments: finalArguments).map(Self.record)
        }
    }

    public func queueStats() async throws -> [QueueStats] {
        try await read { db in
            var stats: [String: QueueStats] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT name, paused FROM queues") {
                let name: String = row[0]
                stats[name] = QueueStats(queue: name, paused: (row[1] as Int) != 0)
            }
            for row in try Row.fetchAll(db, sql: "SELECT queue, state, count(*) FROM jobs GROUP BY queue, state") {
                let queue: String = row[0]
                guard let state = JobState(rawValue: row[1]) else { continue }
                stats[queue, default: QueueStats(queue: queue)].counts[state] = row[2]
            }
            return stats.values.sorted { $0.queue < $1.queue }
        }
    }

    public func batchSummary(_ batchID: String) async throws -> BatchSummary {
        try await read { db in
            var counts: [JobState: Int] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT state, count(*) FROM jobs WHERE batch_id = ? GROUP BY state", arguments: [batchID]) {
                if let state = JobState(rawValue: row[0]) { counts[state] = row[1] }
            }
            return BatchSummary(id: batchID, counts: counts)
        }
    }

    public func batchIDs(limit: Int) async throws -> [String] {
        try await read { db in
            try String.fetchAll(db, sql: "SELECT id FROM batches ORDER BY created_at DESC, id DESC LIMIT ?", arguments: [limit])
        }
    }

    public func registerWorker(_ worker: WorkerInfo) async throws {
        try await write { db in
            try db.execute(sql: """
                INSERT INTO workers (id, hostname, pid, queues, concurrency, started_at, last_seen_at, running)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(id) DO UPDATE SET last_seen_at = excluded.last_seen_at, running = excluded.running
                """, arguments: [
                    worker.id, worker.hostname, Int(worker.pid), worker.queues.joined(separator: ","), worker.concurrency,
                    micros(worker.startedAt), micros(worker.lastSeenAt), worker.running,
                ])
            // Workers that vanished without saying goodbye (SIGKILL) are forgotten after a day.
            try db.execute(sql: "DELETE FROM workers WHERE last_seen_at < ?", arguments: [micros(worker.lastSeenAt) - 86_400_000_000])
        }
    }

    public func unregisterWorker(id: String) async throws {
        try await write { db in
            try db.execute(sql: "DELETE FROM workers WHERE id = ?", arguments: [id])
        }
    }

    public func workers(seenSince since: Date) async throws -> [WorkerInfo] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM workers WHERE last_seen_at >= ? ORDER BY id", arguments: [micros(since)]).map { row in
                WorkerInfo(
                    id: row["id"], hostname: row["hostname"], pid: Int32(row["pid"] as Int),
                    queues: (row["queues"] as String).split(separator: ",").map(String.init),
                    concurrency: row["concurrency"], startedAt: date(micros: row["started_at"]),
                    lastSeenAt: date(micros: row["last_seen_at"]), running: row["running"])
            }
        }
    }
}
