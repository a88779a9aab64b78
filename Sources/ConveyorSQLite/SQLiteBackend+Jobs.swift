import Conveyor
import Foundation
import GRDB
import GRDBSQLite

extension SQLiteBackend {
    public func enqueue(_ jobs: [NewJob]) async throws -> [EnqueueResult] {
        guard !jobs.isEmpty else { return [] }
        try NewJob.validateDependencies(jobs)
        let now = micros(Date())
        let results = try await write { db in
            let insert = try db.cachedStatement(sql: """
                INSERT INTO jobs (name, queue, payload, priority, state, max_attempts, timeout_us, run_at,
                                  created_at, unique_key, batch_id, parent_id, wait_batch, wait_kind)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """)
            var findUnique: Statement?
            var queues = Set<String>()
            var knownBatches = Set<String>()
            var cascade = Cascade()
            var recheckBatches = Set<String>()
            var results: [EnqueueResult] = []
            results.reserveCapacity(jobs.count)
            for job in jobs {
                if let key = job.uniqueKey {
                    if findUnique == nil {
                        findUnique = try db.cachedStatement(sql: "SELECT id FROM jobs WHERE unique_key = ? AND state NOT IN (5, 6)")
                    }
                    findUnique!.bind(1, key)
                    var existing: Int64?
                    try findUnique!.stepRows(db) { existing = columnInt64($0, 0) }
                    if let existing {
                        results.append(.duplicate(JobID(existing)))
                        continue
                    }
                }
                // The batch row must exist before this transaction's counter changes are applied.
                if let batch = job.batchID, knownBatches.insert(batch).inserted {
                    try db.execute(sql: "INSERT OR IGNORE INTO batches (id, created_at) VALUES (?, ?)", arguments: [batch, now])
                }
                let runAt = job.runAt.map(micros) ?? now
                var state: JobState = runAt > now ? .scheduled : .ready
                var parent: JobID?
                var waitBatch: (String, BatchCondition)?
                switch job.dependsOn {
                case nil: break
                case .earlier(let index): parent = results[index].id
                case .job(let id): parent = id
                case .batch(let batch, let condition): waitBatch = (batch, condition)
                }
                if let parent {
                    guard let parentState = try Self.stateAndBatch(of: parent, db)?.state else { throw ConveyorError.jobNotFound(parent) }
                    try db.execute(sql: "UPDATE jobs SET has_children = 1 WHERE id = ?", arguments: [parent.rawValue])
                    state = .waiting
                    // A parent that already finished settles its new child at once.
                    cascade.finished(parent, state: parentState)
                }
                if let (batch, _) = waitBatch {
                    try db.execute(sql: "INSERT OR IGNORE INTO batches (id, created_at) VALUES (?, ?)", arguments: [batch, now])
                    state = .waiting
                    recheckBatches.insert(batch)
                }
                insert.bind(1, job.name)
                insert.bind(2, job.queue)
                insert.bind(3, job.payload)
                insert.bind(4, job.priority.rawValue)
                insert.bind(5, state.rawValue)
                insert.bind(6, job.maxAttempts)
                insert.bind(7, job.timeout.microseconds)
                insert.bind(8, runAt)
                insert.bind(9, now)
                insert.bind(10, job.uniqueKey)
                insert.bind(11, job.batchID)
                if let parent { insert.bind(12, parent.rawValue) } else { insert.bindNull(12) }
                insert.bind(13, waitBatch?.0)
                if let condition = waitBatch?.1 { insert.bind(14, condition.rawValue) } else { insert.bindNull(14) }
                try insert.stepDone(db)
                results.append(.created(JobID(db.lastInsertedRowID)))
                cascade.move(job.batchID, from: nil, to: state)
                queues.insert(job.queue)
            }
            // Waiting for a batch that has already finished: settle now, after this call's own
            // members are counted (they may make the batch unfinished again).
            try cascade.run(db, now: now)
            for batch in recheckBatches {
                if let row = try Row.fetchOne(db, sql: "SELECT finished_at IS NOT NULL, c_succeeded = \(SQLiteSchema.total("batches")) FROM batches WHERE id = ?", arguments: [batch]),
                   row[0] as Bool {
                    try cascade.settleFinishedBatch(batch, allSucceeded: row[1], db, now: now)
                }
            }
            try cascade.run(db, now: now)
            for queue in queues {
                try db.execute(sql: "INSERT OR IGNORE INTO queues (name) VALUES (?)", arguments: [queue])
            }
            return results
        }
        announceWork()
        return results
    }

    public func claim(queues: [String], limit: Int, lease: Duration, workerID: String) async throws -> [ClaimedJob] {
        guard limit > 0, !queues.isEmpty else { return [] }
        let nowDate = Date()
        let now = micros(nowDate)
        let expiry = now + lease.microseconds
        return try await write { db in
            let paused = try Set(String.fetchAll(db.cachedStatement(sql: "SELECT name FROM queues WHERE paused = 1")))
            let active = queues.filter { !paused.contains($0) }
            guard !active.isEmpty else { return [] }
            // Due scheduled and retrying jobs become ready first, so they take their place in line.
            var cascade = Cascade()
            let dueMembers = try db.cachedStatement(sql: "SELECT batch_id, state FROM jobs WHERE state IN (0, 4) AND run_at <= ? AND batch_id IS NOT NULL")
            dueMembers.bind(1, now)
            try dueMembers.stepRows(db) { row in
                cascade.move(columnText(row, 0), from: JobState(rawValue: Int(columnInt64(row, 1))), to: .ready)
            }
            let promote = try db.cachedStatement(sql: "UPDATE jobs SET state = 1 WHERE state IN (0, 4) AND run_at <= ?")
            promote.bind(1, now)
            try promote.stepDone(db)

            let claim = try db.cachedStatement(sql: """
                UPDATE jobs SET state = 2, attempt = attempt + 1, lease_token = lease_token + 1,
                                started_at = ?1, worker_id = ?2, lease_expires_at = ?3
                WHERE id IN (SELECT id FROM jobs WHERE queue = ?4 AND state = 1 ORDER BY priority DESC, id LIMIT ?5)
                RETURNING id, name, queue, payload, priority, attempt, max_attempts, timeout_us, batch_id, created_at,
                          parent_id, wait_batch, lease_token
                """)
            var claimed: [ClaimedJob] = []
            claimed.reserveCapacity(limit)
            for queue in active where claimed.count < limit {
                let start = claimed.count
                claim.bind(1, now)
                claim.bind(2, workerID)
                claim.bind(3, expiry)
                claim.bind(4, queue)
                claim.bind(5, limit - claimed.count)
                try claim.stepRows(db) { row in
                    cascade.move(columnText(row, 8), from: .ready, to: .active)
                    claimed.append(ClaimedJob(
                        id: JobID(columnInt64(row, 0)),
                        name: columnText(row, 1) ?? "",
                        queue: columnText(row, 2) ?? queue,
                        payload: columnData(row, 3) ?? Data(),
                        priority: Priority(rawValue: Int(columnInt64(row, 4))),
                        attempt: Int(columnInt64(row, 5)),
                        maxAttempts: Int(columnInt64(row, 6)),
                        timeout: .microseconds(columnInt64(row, 7)),
                        batchID: columnText(row, 8),
                        createdAt: date(micros: columnInt64(row, 9)),
                        leaseExpiresAt: date(micros: expiry),
                        leaseToken: Int(columnInt64(row, 12)),
                        parentID: columnIsNull(row, 10) ? nil : JobID(columnInt64(row, 10)),
                        waitedForBatch: columnText(row, 11)))
                }
                // RETURNING gives no order; hand jobs out in claim order.
                claimed[start...].sort { ($0.priority, $1.id) > ($1.priority, $0.id) }
            }
            try cascade.run(db, now: now)
            return claimed
        }
    }

    public func complete(_ outcomes: [JobOutcome]) async throws {
        guard !outcomes.isEmpty else { return }
        let now = micros(Date())
        let madeWork = try await write { db in
            let succeed = try db.cachedStatement(sql: """
                UPDATE jobs SET state = 3, result = ?1, finished_at = ?2, lease_expires_at = NULL
                WHERE id = ?3 AND state = 2 AND lease_token = ?4
                RETURNING batch_id, has_children
                """)
            let fail = try db.cachedStatement(sql: """
                UPDATE jobs SET state = ?1, run_at = coalesce(?2, run_at), finished_at = ?3, lease_expires_at = NULL,
                                error_kind = ?4, error_message = ?5
                WHERE id = ?6 AND state = 2 AND lease_token = ?7
                RETURNING batch_id, has_children
                """)
            var retried = false
            var cascade = Cascade()
            for outcome in outcomes {
                switch outcome.result {
                case .succeeded(let output):
                    succeed.bind(1, output)
                    succeed.bind(2, now)
                    succeed.bind(3, outcome.lease.id.rawValue)
                    succeed.bind(4, outcome.lease.token)
                    try succeed.stepRows(db) { row in
                        cascade.move(columnText(row, 0), from: .active, to: .succeeded)
                        cascade.finished(outcome.lease.id, state: .succeeded, hasChildren: columnInt64(row, 1) != 0)
                    }
                case .failed(let failure, let retryAt):
                    if let retryAt {
                        retried = true
                        fail.bind(1, JobState.retrying.rawValue)
                        fail.bind(2, micros(retryAt))
                        fail.bindNull(3)
                    } else {
                        fail.bind(1, JobState.dead.rawValue)
                        fail.bindNull(2)
                        fail.bind(3, now)
                    }
                    fail.bind(4, failure.kind == .permanent ? 1 : 0)
                    fail.bind(5, failure.message)
                    fail.bind(6, outcome.lease.id.rawValue)
                    fail.bind(7, outcome.lease.token)
                    let state: JobState = retryAt == nil ? .dead : .retrying
                    try fail.stepRows(db) { row in
                        cascade.move(columnText(row, 0), from: .active, to: state)
                        cascade.finished(outcome.lease.id, state: state, hasChildren: columnInt64(row, 1) != 0)
                    }
                }
            }
            // A batch that just finished released its callbacks; a chain's next step starts.
            try cascade.run(db, now: now)
            return retried || cascade.madeWork
        }
        if madeWork { announceWork() }
        announceCompletions()
    }


    @discardableResult
    public func heartbeat(_ leases: [JobLease], lease: Duration) async throws -> [JobLease] {
        guard !leases.isEmpty else { return [] }
        let expiry = micros(Date()) + lease.microseconds
        return try await write { db in
            let extend = try db.cachedStatement(sql: "UPDATE jobs SET lease_expires_at = ? WHERE id = ? AND state = 2 AND lease_token = ?")
            var lost: [JobLease] = []
            for held in leases {
                extend.bind(1, expiry)
                extend.bind(2, held.id.rawValue)
                extend.bind(3, held.token)
                try extend.stepDone(db)
                if db.changesCount == 0 { lost.append(held) }
            }
            return lost
        }
    }

    public func release(_ leases: [JobLease]) async throws {
        guard !leases.isEmpty else { return }
        let now = micros(Date())
        try await write { db in
            let release = try db.cachedStatement(sql: """
                UPDATE jobs SET state = 1, attempt = attempt - 1, lease_expires_at = NULL, worker_id = NULL, started_at = NULL
                WHERE id = ? AND state = 2 AND lease_token = ?
                RETURNING batch_id
                """)
            var cascade = Cascade()
            for held in leases {
                release.bind(1, held.id.rawValue)
                release.bind(2, held.token)
                try release.stepRows(db) { cascade.move(columnText($0, 0), from: .active, to: .ready) }
            }
            try cascade.run(db, now: now)
        }
        announceWork()
    }

    @discardableResult
    public func recoverExpiredLeases(now: Date) async throws -> Int {
        let now = micros(now)
        let recovered = try await write { db -> Int in
            var cascade = Cascade()
            var count = 0
            let rows = try Row.fetchAll(db, sql: """
                UPDATE jobs SET
                    state = CASE WHEN attempt >= max_attempts THEN 5 ELSE 1 END,
                    finished_at = CASE WHEN attempt >= max_attempts THEN ?1 ELSE NULL END,
                    run_at = ?1, lease_expires_at = NULL, error_kind = 0,
                    error_message = ?2 || coalesce(worker_id, '?') || ?3
                WHERE state = 2 AND lease_expires_at < ?1
                RETURNING batch_id, state, id, has_children
                """, arguments: [now, Self.leaseExpiredMessage.before, Self.leaseExpiredMessage.after])
            for row in rows {
                count += 1
                let state = JobState(rawValue: row[1]) ?? .ready
                cascade.move(row[0], from: .active, to: state)
                cascade.finished(JobID(row[2] as Int64), state: state, hasChildren: (row[3] as Int) != 0)
            }
            try cascade.run(db, now: now)
            return count
        }
        if recovered > 0 {
            announceWork()
            announceCompletions()
        }
        return recovered
    }

    @discardableResult
    public func cancel(_ ids: [JobID]) async throws -> [JobID] {
        guard !ids.isEmpty else { return [] }
        let now = micros(Date())
        let cancelled = try await write { db in
            let cancel = try db.cachedStatement(sql: "UPDATE jobs SET state = 6, finished_at = ? WHERE id = ? AND state IN (0, 1, 4, 7) RETURNING batch_id")
            var cancelled: [JobID] = []
            var cascade = Cascade()
            for id in ids {
                guard let old = try Self.stateAndBatch(of: id, db) else { continue }
                cancel.bind(1, now)
                cancel.bind(2, id.rawValue)
                try cancel.stepRows(db) { row in
                    cancelled.append(id)
                    cascade.move(columnText(row, 0), from: old.state, to: .cancelled)
                    cascade.finished(id, state: .cancelled)
                }
            }
            try cascade.run(db, now: now)
            return cancelled
        }
        if !cancelled.isEmpty {
            // Cancelling a batch's last members finishes it and may release its callbacks.
            announceWork()
            announceCompletions()
        }
        return cancelled
    }

    @discardableResult
    public func retry(_ ids: [JobID]) async throws -> [JobID] {
        guard !ids.isEmpty else { return [] }
        let now = micros(Date())
        let moved = try await write { db in
            // OR IGNORE: a job whose unique key was taken by a newer job stays where it is.
            let retry = try db.cachedStatement(sql: """
                UPDATE OR IGNORE jobs SET state = ?, attempt = 0, run_at = ?, finished_at = NULL
                WHERE id = ? AND state IN (5, 6)
                RETURNING batch_id
                """)
            var moved: [JobID] = []
            var cascade = Cascade()
            for id in ids {
                guard let old = try Self.stateAndBatch(of: id, db) else { continue }
                // A chain step runs only after its parent succeeded: it waits for a parent still
                // on its way, and stays put behind one that ended dead or cancelled.
                let parentState = try Self.parentState(of: id, db)
                if let parentState, parentState != .succeeded, parentState.isFinal { continue }
                let state: JobState = parentState == nil || parentState == .succeeded ? .ready : .waiting
                retry.bind(1, state.rawValue)
                retry.bind(2, now)
                retry.bind(3, id.rawValue)
                try retry.stepRows(db) { row in
                    moved.append(id)
                    cascade.move(columnText(row, 0), from: old.state, to: state)
                }
                if moved.last == id { try cascade.restoreDependents(of: id, batch: old.batch, db) }
            }
            try cascade.run(db, now: now)
            return moved
        }
        if !moved.isEmpty { announceWork() }
        return moved
    }

    /// `JobFailure.leaseExpired`'s text around the worker id, for the recovery statement.
    static let leaseExpiredMessage: (before: String, after: String) = {
        let parts = JobFailure.leaseExpired(worker: "\u{1}").message.split(separator: "\u{1}", omittingEmptySubsequences: false)
        return (String(parts[0]), String(parts.count > 1 ? parts[1] : ""))
    }()

    static func stateAndBatch(of id: JobID, _ db: Database) throws -> (state: JobState, batch: String?)? {
        let statement = try db.cachedStatement(sql: "SELECT state, batch_id FROM jobs WHERE id = ?")
        statement.bind(1, id.rawValue)
        var found: (JobState, String?)?
        try statement.stepRows(db) { row in
            if let state = JobState(rawValue: Int(columnInt64(row, 0))) { found = (state, columnText(row, 1)) }
        }
        return found
    }

    /// The state of the job's parent (the chain step before it), or nil when it has none.
    static func parentState(of id: JobID, _ db: Database) throws -> JobState? {
        let state = try Int.fetchOne(db, sql: "SELECT p.state FROM jobs c JOIN jobs p ON p.id = c.parent_id WHERE c.id = ?", arguments: [id.rawValue])
        return state.flatMap(JobState.init(rawValue:))
    }

    public func pause(queue: String) async throws {
        try await write { db in
            try db.execute(sql: "INSERT INTO queues (name, paused) VALUES (?, 1) ON CONFLICT(name) DO UPDATE SET paused = 1", arguments: [queue])
        }
    }

    public func resume(queue: String) async throws {
        try await write { db in
            try db.execute(sql: "INSERT INTO queues (name, paused) VALUES (?, 0) ON CONFLICT(name) DO UPDATE SET paused = 0", arguments: [queue])
        }
        announceWork()
    }

    @discardableResult
    public func purge(_ request: PurgeRequest) async throws -> Int {
        let states = request.states.map { String($0.rawValue) }.joined(separator: ",")
        guard !states.isEmpty else { return 0 }
        let now = micros(Date())
        return try await write { db in
            var filter = "state IN (\(states))"
            var arguments: StatementArguments = []
            if let queue = request.queue {
                filter += " AND queue = ?"
                arguments += [queue]
            }
            if let olderThan = request.olderThan {
                filter += " AND coalesce(finished_at, created_at) < ?"
                arguments += [micros(olderThan)]
            }
            // An unfinished job leaves as if cancelled: what waits on it is settled and its batch
            // counts it as cancelled. Finished jobs stay in their batch's counts (history).
            var cascade = Cascade()
            var unfinished: [Int64] = []
            for row in try Row.fetchAll(db, sql: "SELECT id, state, batch_id FROM jobs WHERE \(filter) AND state NOT IN (2, 3, 5, 6)", arguments: arguments) {
                let id = JobID(row[0] as Int64)
                unfinished.append(id.rawValue)
                cascade.move(row[2], from: JobState(rawValue: row[1]), to: .cancelled)
                cascade.finished(id)
                try db.execute(sql: "UPDATE jobs SET state = 6, finished_at = ? WHERE id = ?", arguments: [now, id.rawValue])
            }
            try cascade.run(db, now: now)
            try db.execute(sql: "DELETE FROM jobs WHERE \(filter)", arguments: arguments)
            var deleted = db.changesCount
            for id in unfinished {
                try db.execute(sql: "DELETE FROM jobs WHERE id = ?", arguments: [id])
                deleted += db.changesCount
            }
            return deleted
        }
    }

    public func nextDueDate(queues: [String]) async throws -> Date? {
        guard !queues.isEmpty else { return nil }
        let placeholders = Array(repeating: "?", count: queues.count).joined(separator: ",")
        let due = try await read { db in
            // Paused queues' due jobs are not work: counting them would wake idle workers at once, forever.
            try Int64.fetchOne(db, sql: """
                SELECT min(run_at) FROM jobs WHERE state IN (0, 4) AND queue IN (\(placeholders))
                    AND queue NOT IN (SELECT name FROM queues WHERE paused = 1)
                """, arguments: StatementArguments(queues))
        }
        return due.map { date(micros: $0) }
    }
}
