import Conveyor
import Foundation
import GRDB
import GRDBSQLite

extension SQLiteBackend {
    public func enqueue(_ jobs: [NewJob]) async throws -> [EnqueueResult] {
        guard !jobs.isEmpty else { return [] }
        try NewJob.validateDependencies(jobs)
        let results = try await write { db, now in try Self.insert(jobs, db, now: now) }
        announceWork()
        return results
    }

    /// Stores one enqueue call's jobs inside the caller's write transaction.
    static func insert(_ jobs: [NewJob], _ db: Database, now: Int64) throws -> [EnqueueResult] {
        let insert = try db.cachedStatement(sql: """
            INSERT INTO jobs (name, queue, payload, priority, state, max_attempts, timeout_us, run_at,
                              created_at, unique_key, batch_id, parent_id, wait_batch, wait_kind, headers, limit_keys, parked_on)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        var limits = LimitLedger(now: now)
        var inLine: [String: Int] = [:]
        var findUnique: Statement?
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
            let runAt = job.runAt.map(micros) ?? (now + max(0, job.delay?.microseconds ?? 0))
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
            insert.bind(15, JobHeaders.encode(job.headers))
            // A ready job goes behind the held jobs of its keys, in line.
            let heldOn = state == .ready && !job.limitKeys.isEmpty
                ? try limits.holdingKey(for: job.limitKeys, inLine: &inLine, now: now, db) : nil
            insert.bind(5, heldOn == nil ? state.rawValue : SQLiteSchema.heldState)
            insert.bind(16, job.limitKeys.isEmpty ? nil : LimitKey.encode(job.limitKeys))
            insert.bind(17, heldOn)
            try insert.stepDone(db)
            results.append(.created(JobID(db.lastInsertedRowID)))
            cascade.move(job.batchID, queue: job.queue, from: nil, to: state)
        }
        // Waiting for a batch that has already finished: settle now, after this call's own
        // members are counted (they may make the batch unfinished again).
        try cascade.run(db, now: now)
        for batch in recheckBatches {
            if let row = try Row.fetchOne(db, sql: "SELECT finished_at IS NOT NULL, c_succeeded = \(SQLiteSchema.total("batches")) FROM batches WHERE id = ?", arguments: [batch]),
               row[0] as Bool {
                try cascade.release(waitersOf: batch, allSucceeded: row[1], db, now: now)
            }
        }
        // Applying the counters also creates the rows of queues used for the first time.
        try cascade.run(db, now: now)
        try limits.apply(db, now: now)
        return results
    }

    public func claim(queues: [String], limit: Int, lease: Duration, workerID: String) async throws -> [ClaimedJob] {
        guard limit > 0, !queues.isEmpty else { return [] }
        let leaseMicros = lease.microseconds
        let stepLimit = configuration.stepLimit
        let ruleCache = limitRuleCache
        let (claimed, released) = try await write { db, now -> ([ClaimedJob], Bool) in
            let expiry = now + leaseMicros
            let paused = try Set(String.fetchAll(db.cachedStatement(sql: "SELECT name FROM queues WHERE paused = 1")))
            let active = queues.filter { !paused.contains($0) }
            guard !active.isEmpty else { return ([], false) }
            // Due scheduled and retrying jobs of the claimed queues become ready first, so they
            // take their place in line: the earliest due first, a bounded number per claim.
            var cascade = Cascade()
            // `state IN (0, 4)` as written in the partial index `jobs_due`, so SQLite uses it.
            let due = try db.cachedStatement(sql: """
                SELECT id, state, batch_id FROM jobs WHERE state IN (0, 4) AND run_at <= ?1 AND queue = ?2 ORDER BY run_at LIMIT ?3
                """)
            let promote = try db.cachedStatement(sql: "UPDATE jobs SET state = 1 WHERE id = ?")
            for queue in active {
                due.bind(1, now)
                due.bind(2, queue)
                due.bind(3, stepLimit)
                var promoted: [(Int64, JobState?, String?)] = []
                try due.stepRows(db) { row in
                    promoted.append((columnInt64(row, 0), JobState(rawValue: Int(columnInt64(row, 1))), columnText(row, 2)))
                }
                for (id, state, batch) in promoted {
                    promote.bind(1, id)
                    try promote.stepDone(db)
                    cascade.move(batch, queue: queue, from: state, to: .ready)
                }
            }

            // Held jobs of keys that admit again go back in line first.
            var limits = LimitLedger(cache: ruleCache, now: now)
            let released = try limits.releaseDue(db, now: now, stepLimit: stepLimit)
            let claim = try db.cachedStatement(sql: """
                UPDATE jobs SET state = 2, attempt = attempt + 1, lease_token = lease_token + 1,
                                started_at = ?1, worker_id = ?2, lease_expires_at = ?3
                WHERE id IN (SELECT id FROM jobs WHERE queue = ?4 AND state = 1 ORDER BY priority DESC, id LIMIT ?5)
                RETURNING id, name, queue, payload, priority, attempt, max_attempts, timeout_us, batch_id, created_at,
                          parent_id, wait_batch, lease_token, headers, limit_keys
                """)
            var claimed: [ClaimedJob] = []
            claimed.reserveCapacity(limit)
            var unreadable: [(JobID, String?, String, String)] = []
            for queue in active where claimed.count < limit {
                // A job whose key is at its limit is held back (its claim undone) and the claim
                // goes on, holding back at most `stepLimit` jobs per queue per call.
                var heldBack = 0
                while claimed.count < limit && heldBack < stepLimit {
                    let asked = limit - claimed.count
                    claim.bind(1, now)
                    claim.bind(2, workerID)
                    claim.bind(3, expiry)
                    claim.bind(4, queue)
                    claim.bind(5, asked)
                    var rows: [ClaimedJob] = []
                    var returned = 0
                    try claim.stepRows(db) { row in
                        returned += 1
                        let id = JobID(columnInt64(row, 0))
                        let headers: [String: String]
                        do {
                            headers = try JobHeaders.decode(columnText(row, 13), job: id)
                        } catch {
                            // One unreadable record fails its own job, never the claim.
                            cascade.move(columnText(row, 8), queue: queue, from: .ready, to: .active)
                            unreadable.append((id, columnText(row, 8), queue, "\(error)"))
                            return
                        }
                        rows.append(ClaimedJob(
                            id: id,
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
                            waitedForBatch: columnText(row, 11), headers: headers,
                            limitKeys: LimitKey.decode(columnText(row, 14))))
                    }
                    // RETURNING gives no order; hand jobs out (and weigh them against limits) in claim order.
                    rows.sort { ($0.priority, $1.id) > ($1.priority, $0.id) }
                    for job in rows {
                        if !job.limitKeys.isEmpty {
                            if let (key, until) = try limits.blocking(job.limitKeys, now: now, db) {
                                try limits.hold(job.id.rawValue, on: key, until: until ?? now + LimitSettings.recheckMicroseconds, db)
                                heldBack += 1
                                continue
                            }
                            try limits.started(job.limitKeys, now: now, job: job.id.rawValue, db)
                        }
                        cascade.move(job.batchID, queue: queue, from: .ready, to: .active)
                        claimed.append(job)
                    }
                    if returned < asked { break }
                }
            }
            for (id, batch, queue, message) in unreadable {
                try db.execute(sql: "UPDATE jobs SET state = 5, finished_at = ?, lease_expires_at = NULL, error_kind = 1, error_message = ? WHERE id = ?",
                               arguments: [now, "the stored record of job \(id) cannot be read: \(message)", id.rawValue])
                cascade.move(batch, queue: queue, from: .active, to: .dead)
                cascade.finished(id, state: .dead)
            }
            try limits.apply(db, now: now)
            limits.keepRules()
            try cascade.run(db, now: now)
            return (claimed, released)
        }
        // Held jobs let go may be other queues' work.
        if released { announceWork() }
        return claimed
    }

    @discardableResult
    public func complete(_ outcomes: [JobOutcome]) async throws -> [JobLease] {
        guard !outcomes.isEmpty else { return [] }
        let ruleCache = limitRuleCache
        let (madeWork, fenced) = try await write { db, now in
            let succeed = try db.cachedStatement(sql: """
                UPDATE jobs SET state = 3, result = ?1, finished_at = ?2, lease_expires_at = NULL
                WHERE id = ?3 AND state = 2 AND lease_token = ?4
                RETURNING batch_id, has_children, queue, limit_keys
                """)
            let fail = try db.cachedStatement(sql: """
                UPDATE jobs SET state = ?1, run_at = coalesce(?2, run_at), finished_at = ?3, lease_expires_at = NULL,
                                error_kind = ?4, error_message = ?5
                WHERE id = ?6 AND state = 2 AND lease_token = ?7
                RETURNING batch_id, has_children, queue, limit_keys
                """)
            var retried = false
            var ended: [LimitLedger.Ended] = []
            var cascade = Cascade()
            var fenced: [JobLease] = []
            for outcome in outcomes {
                func end(_ keys: String?) {
                    ended.append(LimitLedger.Ended(id: outcome.lease.id.rawValue, keys: LimitKey.decode(keys), verdict: outcome.circuitVerdict))
                }
                var written = false
                defer { if !written { fenced.append(outcome.lease) } }
                switch outcome.result {
                case .succeeded(let output):
                    succeed.bind(1, output)
                    succeed.bind(2, now)
                    succeed.bind(3, outcome.lease.id.rawValue)
                    succeed.bind(4, outcome.lease.token)
                    try succeed.stepRows(db) { row in
                        written = true
                        if !columnIsNull(row, 3) { end(columnText(row, 3)) }
                        cascade.move(columnText(row, 0), queue: columnText(row, 2), from: .active, to: .succeeded)
                        cascade.finished(outcome.lease.id, state: .succeeded, hasChildren: columnInt64(row, 1) != 0)
                    }
                case .failed(let failure, let retryAfter):
                    if let retryAfter {
                        retried = true
                        fail.bind(1, JobState.retrying.rawValue)
                        fail.bind(2, now + max(0, retryAfter.microseconds))
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
                    let state: JobState = retryAfter == nil ? .dead : .retrying
                    try fail.stepRows(db) { row in
                        written = true
                        if !columnIsNull(row, 3) { end(columnText(row, 3)) }
                        cascade.move(columnText(row, 0), queue: columnText(row, 2), from: .active, to: state)
                        cascade.finished(outcome.lease.id, state: state, hasChildren: columnInt64(row, 1) != 0)
                    }
                case .deferred(let delay, let keys, let reason):
                    // Back to retrying without the attempt counted; the keys wait as long.
                    let until = now + max(0, delay.microseconds)
                    let deferred = try db.cachedStatement(sql: """
                        UPDATE jobs SET state = 4, run_at = ?1, attempt = attempt - 1, lease_expires_at = NULL,
                                        error_kind = 0, error_message = ?2
                        WHERE id = ?3 AND state = 2 AND lease_token = ?4
                        RETURNING batch_id, queue, limit_keys
                        """)
                    deferred.bind(1, until)
                    deferred.bind(2, JobFailure.deferred(for: delay, keys: keys, reason: reason).message)
                    deferred.bind(3, outcome.lease.id.rawValue)
                    deferred.bind(4, outcome.lease.token)
                    try deferred.stepRows(db) { row in
                        written = true
                        retried = true
                        cascade.move(columnText(row, 0), queue: columnText(row, 1), from: .active, to: .retrying)
                        if !columnIsNull(row, 2) { end(columnText(row, 2)) }
                    }
                    if written { try LimitLedger.block(keys, until: until, db) }
                }
            }
            try LimitLedger.ended(ended, now: now, cache: ruleCache, db)
            // A batch that just finished released its callbacks; a chain's next step starts.
            try cascade.run(db, now: now)
            return (retried || cascade.madeWork, fenced)
        }
        if madeWork { announceWork() }
        announceCompletions()
        return fenced
    }


    @discardableResult
    public func heartbeat(_ leases: [JobLease], lease: Duration) async throws -> [JobLease] {
        guard !leases.isEmpty else { return [] }
        let leaseMicros = lease.microseconds
        return try await write { db, now in
            let extend = try db.cachedStatement(sql: "UPDATE jobs SET lease_expires_at = ? WHERE id = ? AND state = 2 AND lease_token = ?")
            // Not extended: still held if this very lease just wrote the job's outcome
            // (recovery moves the token on, so a job it declared dead does not match).
            let finishedByIt = try db.cachedStatement(sql: "SELECT 1 FROM jobs WHERE id = ? AND lease_token = ? AND state IN (3, 4, 5)")
            var lost: [JobLease] = []
            for held in leases {
                extend.bind(1, now + leaseMicros)
                extend.bind(2, held.id.rawValue)
                extend.bind(3, held.token)
                try extend.stepDone(db)
                guard db.changesCount == 0 else { continue }
                finishedByIt.bind(1, held.id.rawValue)
                finishedByIt.bind(2, held.token)
                var found = false
                try finishedByIt.stepRows(db) { _ in found = true }
                if !found { lost.append(held) }
            }
            return lost
        }
    }

    public func release(_ leases: [JobLease]) async throws {
        guard !leases.isEmpty else { return }
        let ruleCache = limitRuleCache
        try await write { db, now in
            let release = try db.cachedStatement(sql: """
                UPDATE jobs SET state = 1, attempt = attempt - 1, lease_expires_at = NULL, worker_id = NULL, started_at = NULL
                WHERE id = ? AND state = 2 AND lease_token = ?
                RETURNING batch_id, queue, limit_keys
                """)
            var cascade = Cascade()
            var ended: [LimitLedger.Ended] = []
            for held in leases {
                release.bind(1, held.id.rawValue)
                release.bind(2, held.token)
                try release.stepRows(db) { row in
                    cascade.move(columnText(row, 0), queue: columnText(row, 1), from: .active, to: .ready)
                    if !columnIsNull(row, 2) {
                        ended.append(LimitLedger.Ended(id: held.id.rawValue, keys: LimitKey.decode(columnText(row, 2)), verdict: .neutral))
                    }
                }
            }
            try LimitLedger.ended(ended, now: now, cache: ruleCache, db)
            try cascade.run(db, now: now)
        }
        announceWork()
    }

    @discardableResult
    public func recoverExpiredLeases() async throws -> Int {
        let stepLimit = configuration.stepLimit
        let retention = configuration.retention?.microseconds
        let ruleCache = limitRuleCache
        let recovered = try await write { db, now -> Int in
            var cascade = Cascade()
            var count = 0
            // The lease is over: the token moves on, so its holder's heartbeats and outcomes
            // no longer count (even for a job that ends dead here).
            let rows = try Row.fetchAll(db, sql: """
                UPDATE jobs SET
                    state = CASE WHEN attempt >= max_attempts THEN 5 ELSE 1 END,
                    finished_at = CASE WHEN attempt >= max_attempts THEN ?1 ELSE NULL END,
                    run_at = ?1, lease_expires_at = NULL, error_kind = 0, lease_token = lease_token + 1,
                    error_message = ?2 || coalesce(worker_id, '?') || ?3
                WHERE id IN (SELECT id FROM jobs WHERE state = 2 AND lease_expires_at < ?1 ORDER BY lease_expires_at LIMIT ?4)
                RETURNING batch_id, state, id, has_children, queue, limit_keys
                """, arguments: [now, Self.leaseExpiredMessage.before, Self.leaseExpiredMessage.after, stepLimit])
            var ended: [LimitLedger.Ended] = []
            for row in rows {
                if let keys = row[5] as String? { ended.append(LimitLedger.Ended(id: row[2], keys: LimitKey.decode(keys), verdict: .neutral)) }
                count += 1
                let state = JobState(rawValue: row[1]) ?? .ready
                cascade.move(row[0], queue: row[4], from: .active, to: state)
                cascade.finished(JobID(row[2] as Int64), state: state, hasChildren: (row[3] as Int) != 0)
            }
            try LimitLedger.ended(ended, now: now, cache: ruleCache, db)
            try LimitLedger.pruneIdle(now: now, limit: stepLimit, db)
            try cascade.run(db, now: now)
            if let retention {
                let from = self.retentionCursor.withLock { $0 }
                let next = try Self.deleteExpiredFinished(before: now - retention, limit: stepLimit, from: from, db)
                self.retentionCursor.withLock { $0 = next }
            }
            return count
        }
        if recovered > 0 {
            announceWork()
            announceCompletions()
        }
        return recovered
    }

    /// Retention: looks at the `limit` jobs after id `cursor` and deletes those that finished
    /// before `cutoff`, stopping at the first that finished later (jobs finish roughly in id
    /// order, so what follows is newer still) and passing over unfinished ones; then finished
    /// batches none of whose members are left. Returns where the next call goes on (0, the
    /// start, once the walk reached the end). Batch counters keep deleted members (history), as
    /// a purge does.
    static func deleteExpiredFinished(before cutoff: Int64, limit: Int, from cursor: Int64, _ db: Database) throws -> Int64 {
        let window = try db.cachedStatement(sql: "SELECT id, state, finished_at FROM jobs WHERE id > ? ORDER BY id LIMIT ?")
        window.bind(1, cursor)
        window.bind(2, limit)
        var expired: [Int64] = []
        var next = cursor, seen = 0, stopped = false
        try window.stepRows(db) { row in
            seen += 1
            guard !stopped else { return }
            let id = columnInt64(row, 0)
            let state = JobState(rawValue: Int(columnInt64(row, 1)))
            if state?.isFinal == true {
                guard !columnIsNull(row, 2), columnInt64(row, 2) < cutoff else {
                    stopped = true
                    return
                }
                expired.append(id)
            }
            next = id
        }
        let delete = try db.cachedStatement(sql: "DELETE FROM jobs WHERE id = ? RETURNING queue, state")
        var counters = BatchCounters()
        for id in expired {
            delete.bind(1, id)
            try delete.stepRows(db) { gone in
                counters.deleted(queue: columnText(gone, 0), state: JobState(rawValue: Int(columnInt64(gone, 1))) ?? .succeeded)
            }
        }
        try counters.applyQueues(db)
        try db.execute(sql: """
            DELETE FROM batches WHERE id IN (
                SELECT b.id FROM batches b WHERE b.finished_at < ?
                    AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.batch_id = b.id)
                    AND NOT EXISTS (SELECT 1 FROM jobs w WHERE w.wait_batch = b.id AND w.state = 7)
                ORDER BY b.finished_at LIMIT 100)
            """, arguments: [cutoff])
        // Reached the end: start again from the lowest id (unfinished jobs passed over may have
        // finished since).
        return !stopped && seen < limit ? 0 : next
    }

    @discardableResult
    public func cancel(_ ids: [JobID]) async throws -> [JobID] {
        guard !ids.isEmpty else { return [] }
        let cancelled = try await write { db, now in
            let cancel = try db.cachedStatement(sql: "UPDATE jobs SET state = 6, finished_at = ?, parked_on = NULL WHERE id = ? AND state IN (0, 1, 4, 7, 8) RETURNING batch_id, queue")
            var cancelled: [JobID] = []
            var cascade = Cascade()
            for id in ids {
                guard let old = try Self.stateAndBatch(of: id, db) else { continue }
                cancel.bind(1, now)
                cancel.bind(2, id.rawValue)
                try cancel.stepRows(db) { row in
                    cancelled.append(id)
                    cascade.move(columnText(row, 0), queue: columnText(row, 1), from: old.state, to: .cancelled)
                    cascade.finished(id, state: .cancelled)
                }
                // In order: what this cancel settles (a chain's next steps, a finished batch's
                // callbacks) is settled before the next id is looked at.
                try cascade.run(db, now: now)
            }
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
        let moved = try await write { db, now in
            // OR IGNORE: a job whose unique key was taken by a newer job stays where it is.
            let retry = try db.cachedStatement(sql: """
                UPDATE OR IGNORE jobs SET state = ?, attempt = 0, run_at = ?, finished_at = NULL
                WHERE id = ? AND state IN (5, 6)
                RETURNING batch_id, queue
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
                    cascade.move(columnText(row, 0), queue: columnText(row, 1), from: old.state, to: state)
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
            if let state = SQLiteSchema.state(Int(columnInt64(row, 0))) { found = (state, columnText(row, 1)) }
        }
        return found
    }

    /// The state of the job's parent (the chain step before it), or nil when it has none.
    static func parentState(of id: JobID, _ db: Database) throws -> JobState? {
        let state = try Int.fetchOne(db, sql: "SELECT p.state FROM jobs c JOIN jobs p ON p.id = c.parent_id WHERE c.id = ?", arguments: [id.rawValue])
        return state.flatMap(JobState.init(rawValue:))
    }

    public func pause(queue: String) async throws {
        try await write { db, _ in
            try db.execute(sql: "INSERT INTO queues (name, paused) VALUES (?, 1) ON CONFLICT(name) DO UPDATE SET paused = 1", arguments: [queue])
        }
    }

    public func resume(queue: String) async throws {
        try await write { db, _ in
            try db.execute(sql: "INSERT INTO queues (name, paused) VALUES (?, 0) ON CONFLICT(name) DO UPDATE SET paused = 0", arguments: [queue])
        }
        announceWork()
    }

    /// Deletes at most `stepLimit` matching jobs, lowest ids first, in one short transaction.
    /// Walks ids from the cursor in windows of `stepLimit` × 20 ids, deleting at most
    /// `stepLimit` matching jobs per step, so a step reads a bounded number of rows however
    /// sparse the matches are.
    public func purgeStep(_ request: PurgeRequest, from cursor: String?) async throws -> PurgeStep {
        // Never active jobs, whatever the request says.
        let wanted = request.states.filter { $0 != .active }
        let states = SQLiteSchema.storedValues(wanted).map(String.init).joined(separator: ",")
        guard !states.isEmpty else { return PurgeStep(deleted: 0, cursor: nil) }
        let after = cursor.flatMap { Int64($0) } ?? 0
        let stepLimit = configuration.stepLimit
        let window = Int64(stepLimit) * 20
        let age = request.olderThan?.microseconds
        let (step, unfinishedLeft) = try await write { db, now -> (PurgeStep, Bool) in
            var filter = "id > ? AND id <= ? AND state IN (\(states))"
            var arguments: StatementArguments = [after, after + window]
            if let queue = request.queue {
                filter += " AND queue = ?"
                arguments += [queue]
            }
            if let age {
                filter += " AND coalesce(finished_at, created_at) < ?"
                arguments += [now - age]
            }
            let rows = try Row.fetchAll(db, sql: "SELECT id, state, batch_id, queue FROM jobs WHERE \(filter) ORDER BY id LIMIT ?",
                                        arguments: arguments + [stepLimit + 1])
            let lastID = try Int64.fetchOne(db, sql: "SELECT max(id) FROM jobs") ?? 0
            let doomed = rows.prefix(stepLimit)
            // An unfinished job leaves as if cancelled: what waits on it is settled and its batch
            // counts it as cancelled. Finished jobs stay in their batch's counts (history).
            var cascade = Cascade()
            var unfinished = false
            for row in doomed {
                guard let state = SQLiteSchema.state(row[1]), !state.isFinal else { continue }
                let id = JobID(row[0] as Int64)
                unfinished = true
                cascade.move(row[2], queue: row[3], from: state, to: .cancelled)
                cascade.finished(id)
                try db.execute(sql: "UPDATE jobs SET state = 6, finished_at = ?, parked_on = NULL WHERE id = ?", arguments: [now, id.rawValue])
            }
            try cascade.run(db, now: now)
            var deleted = 0
            let delete = try db.cachedStatement(sql: "DELETE FROM jobs WHERE id = ? AND state <> 2 RETURNING queue, state")
            for row in doomed {
                delete.bind(1, row[0] as Int64)
                try delete.stepRows(db) { gone in
                    deleted += 1
                    cascade.deleted(queue: columnText(gone, 0), state: JobState(rawValue: Int(columnInt64(gone, 1))) ?? .cancelled)
                }
            }
            try cascade.run(db, now: now)
            // More matches in this window: go on after the last deleted; else after the window,
            // unless it reached the last id.
            let next: Int64? = rows.count > stepLimit ? doomed.last.map { $0[0] as Int64 } : (after + window < lastID ? after + window : nil)
            let cursor = next.map(String.init)
            return (PurgeStep(deleted: deleted, cursor: cursor), unfinished && cascade.madeWork)
        }
        if unfinishedLeft { announceWork() }
        if step.deleted > 0 { announceCompletions() }
        return step
    }

    public func timeUntilNextDue(queues: [String]) async throws -> Duration? {
        guard !queues.isEmpty else { return nil }
        let placeholders = Array(repeating: "?", count: queues.count).joined(separator: ",")
        let due = try await read { db in
            // Paused queues' due jobs are not work: counting them would wake idle workers at once, forever.
            try Int64.fetchOne(db, sql: """
                SELECT min(due) FROM (
                    SELECT min(run_at) AS due FROM jobs WHERE state IN (0, 4) AND queue IN (\(placeholders))
                        AND queue NOT IN (SELECT name FROM queues WHERE paused = 1)
                    -- Held jobs of a key that admits again (of any queue: a claim lets them go).
                    UNION ALL SELECT min(wake_at) FROM limit_cells WHERE wake_at IS NOT NULL)
                """, arguments: StatementArguments(queues))
        }
        let now = self.now
        return due.map { .microseconds(max(0, $0 - now)) }
    }
}
