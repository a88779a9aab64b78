import Conveyor
import Foundation
import NIOCore
import PostgresNIO

extension PostgresBackend {
    public func enqueue(_ jobs: [NewJob]) async throws -> [EnqueueResult] {
        guard !jobs.isEmpty else { return [] }
        try Self.validate(jobs)
        let results = try await write { tx in try await Self.insert(jobs, tx) }
        announceWork()
        return results
    }

    static func validate(_ jobs: [NewJob]) throws {
        try NewJob.validateDependencies(jobs)
    }

    /// Stores one enqueue call's jobs inside the transaction `tx`.
    static func insert(_ jobs: [NewJob], _ tx: PGTransaction) async throws -> [EnqueueResult] {
        let now = tx.now
        var cascade = PGCascade()
        let batches = Set(jobs.compactMap(\.batchID)).sorted()
        if !batches.isEmpty {
            try await tx.execute("INSERT INTO batches (id, created_at) SELECT unnest(\(batches)::text[]), \(now) ON CONFLICT DO NOTHING")
        }
        // A ready job goes behind the held jobs of its keys, in line: the keys of the jobs that
        // may be ready are read first.
        var limits = PGLimitLedger(now: now)
        var inLine: [String: Int] = [:]
        try await limits.read(jobs.filter { $0.dependsOn == nil && Self.runAt(of: $0, now: now) <= now }.flatMap(\.limitKeys), tx)
        // Plain jobs (no unique key, no dependency) go in one statement, whatever their number.
        if jobs.allSatisfy({ $0.uniqueKey == nil && $0.dependsOn == nil }) {
            let ids = try await insertPlain(jobs, &limits, tx)
            for (job, state) in zip(jobs, ids.map(\.1)) { cascade.move(job.batchID, queue: job.queue, from: nil, to: state) }
            // The keys' cells before the batches' counters, as every transaction takes them.
            try await limits.apply(tx)
            try await cascade.run(tx)
            return ids.map { .created($0.0) }
        }
        var results: [EnqueueResult] = []
        var recheckBatches = Set<String>()
        for job in jobs {
            // Looked for first: an insert that meets the key would still draw an id, leaving a gap.
            if let key = job.uniqueKey,
               let existing = try await tx.rows("SELECT id FROM jobs WHERE unique_key = \(key) AND state NOT IN (5, 6)").first {
                results.append(.duplicate(JobID(try existing[0].decode(Int64.self))))
                continue
            }
            let runAt = Self.runAt(of: job, now: now)
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
                // Locked, so a parent finishing at this moment either finished before (and is
                // seen final here) or settles after this commit (and sees the new child).
                let found = try await tx.rows("SELECT state FROM jobs WHERE id = \(parent.rawValue) FOR NO KEY UPDATE")
                guard let row = found.first, let parentState = JobState(rawValue: Int(try row[0].decode(Int16.self))) else {
                    throw ConveyorError.jobNotFound(parent)
                }
                try await tx.execute("UPDATE jobs SET has_children = true WHERE id = \(parent.rawValue) AND NOT has_children")
                state = .waiting
                cascade.finished(parent, state: parentState)
            }
            if let (batch, _) = waitBatch {
                try await tx.execute("INSERT INTO batches (id, created_at) VALUES (\(batch), \(now)) ON CONFLICT DO NOTHING")
                // Locked for the same reason: the batch's last member finishing now is seen either way.
                try await tx.execute("SELECT 1 FROM batches WHERE id = \(batch) FOR UPDATE")
                state = .waiting
                recheckBatches.insert(batch)
            }
            let headers = JobHeaders.encode(job.headers)
            let heldOn = state == .ready && !job.limitKeys.isEmpty ? limits.holdingKey(for: job.limitKeys, inLine: &inLine) : nil
            let limitKeys = job.limitKeys.isEmpty ? nil : LimitKey.encode(job.limitKeys)
            let inserted = try await tx.rows("""
                INSERT INTO jobs (name, queue, payload, priority, state, max_attempts, timeout_us, run_at,
                                  created_at, unique_key, batch_id, parent_id, wait_batch, wait_kind, headers, limit_keys, parked_on)
                VALUES (\(job.name), \(job.queue), \(job.payload), \(Int32(job.priority.rawValue)),
                        \(heldOn == nil ? Int16(state.rawValue) : PostgresSchema.heldState),
                        \(Int32(job.maxAttempts)), \(job.timeout.microseconds), \(runAt), \(now), \(job.uniqueKey), \(job.batchID),
                        \(parent?.rawValue), \(waitBatch?.0), \(waitBatch.map { Int16($0.1.rawValue) }), \(headers), \(limitKeys), \(heldOn))
                ON CONFLICT (unique_key) WHERE unique_key IS NOT NULL AND state NOT IN (5, 6) DO NOTHING
                RETURNING id
                """)
            if let row = inserted.first {
                results.append(.created(JobID(try row[0].decode(Int64.self))))
                cascade.move(job.batchID, queue: job.queue, from: nil, to: state)
            } else if let key = job.uniqueKey,
                      let existing = try await tx.rows("SELECT id FROM jobs WHERE unique_key = \(key) AND state NOT IN (5, 6)").first {
                results.append(.duplicate(JobID(try existing[0].decode(Int64.self))))
            } else {
                // The holder left between the two statements: run the whole call again.
                throw ConveyorError.storeFailure("unique key \(job.uniqueKey ?? "") changed hands during the enqueue; try again")
            }
        }
        try await limits.apply(tx)
        try await cascade.run(tx)
        for batch in recheckBatches.sorted() {
            let rows = try await tx.rows(PostgresQuery(
                unsafeSQL: "SELECT finished_at IS NOT NULL, c_succeeded = \(PostgresSchema.total("batches")) FROM batches WHERE id = $1",
                binds: bindings(batch)))
            if let row = rows.first, try row[0].decode(Bool.self) {
                try await cascade.release(waitersOf: batch, allSucceeded: try row[1].decode(Bool.self), tx)
            }
        }
        try await cascade.run(tx)
        return results
    }

    /// Inserts plain jobs with one multi-row statement, a ready one held back on a key as
    /// `limits` says; returns their ids (in order) and states (a held job's is ready).
    private static func insertPlain(_ jobs: [NewJob], _ limits: inout PGLimitLedger, _ tx: PGTransaction) async throws -> [(JobID, JobState)] {
        let now = tx.now
        var states: [JobState] = []
        var inLine: [String: Int] = [:]
        var columns = (names: [String](), queues: [String](), payloads: [ByteBuffer](), priorities: [Int32](), states: [Int16](),
                       attempts: [Int32](), timeouts: [Int64](), runAts: [Int64](), batches: [String](), headers: [String](),
                       keys: [String](), parked: [String]())
        for job in jobs {
            let runAt = Self.runAt(of: job, now: now)
            let state: JobState = runAt > now ? .scheduled : .ready
            let heldOn = state == .ready && !job.limitKeys.isEmpty ? limits.holdingKey(for: job.limitKeys, inLine: &inLine) : nil
            states.append(state)
            columns.names.append(job.name)
            columns.queues.append(job.queue)
            columns.payloads.append(ByteBuffer(bytes: job.payload))
            columns.priorities.append(Int32(job.priority.rawValue))
            columns.states.append(heldOn == nil ? Int16(state.rawValue) : PostgresSchema.heldState)
            columns.attempts.append(Int32(job.maxAttempts))
            columns.timeouts.append(job.timeout.microseconds)
            columns.runAts.append(runAt)
            columns.batches.append(job.batchID ?? "")
            columns.headers.append(JobHeaders.encode(job.headers))
            columns.keys.append(LimitKey.encode(job.limitKeys))
            columns.parked.append(heldOn ?? "")
        }
        let rows = try await tx.rows("""
            INSERT INTO jobs (name, queue, payload, priority, state, max_attempts, timeout_us, run_at, created_at, batch_id, headers,
                              limit_keys, parked_on)
            SELECT n, q, p, pr, s, ma, t, r, \(now), NULLIF(b, ''), h, NULLIF(k, ''), NULLIF(pk, '')
            FROM unnest(\(columns.names)::text[], \(columns.queues)::text[], \(columns.payloads)::bytea[], \(columns.priorities)::int4[],
                        \(columns.states)::int2[], \(columns.attempts)::int4[], \(columns.timeouts)::int8[], \(columns.runAts)::int8[],
                        \(columns.batches)::text[], \(columns.headers)::text[], \(columns.keys)::text[], \(columns.parked)::text[])
                 WITH ORDINALITY AS u(n, q, p, pr, s, ma, t, r, b, h, k, pk, o)
            ORDER BY o
            RETURNING id
            """)
        // Identity values are drawn in the order the rows are inserted.
        let ids = try rows.map { try $0[0].decode(Int64.self) }.sorted()
        return zip(ids, states).map { (JobID($0), $1) }
    }

    public func claim(queues: [String], limit: Int, lease: Duration, workerID: String) async throws -> [ClaimedJob] {
        guard limit > 0, !queues.isEmpty else { return [] }
        let leaseMicros = lease.microseconds
        let stepLimit = configuration.stepLimit
        let ruleCache = limitRuleCache
        let (claimed, released) = try await write { tx -> ([ClaimedJob], Bool) in
            // With the paused queues, whether a key's held jobs may go and the limit rules'
            // version (so a store without limits pays nothing more for them).
            let look = try await tx.rows("""
                SELECT ARRAY(SELECT name FROM queues WHERE paused AND name = ANY(\(queues))),
                       EXISTS (SELECT 1 FROM limit_cells WHERE wake_at <= \(tx.now)), \(unescaped: PGLimitLedger.rulesVersionSQL)
                """)[0]
            let paused = try look[0].decode([String].self)
            let active = queues.filter { !paused.contains($0) }
            guard !active.isEmpty else { return ([], false) }
            var cascade = PGCascade()
            // Due scheduled and retrying jobs of the claimed queues become ready first, so they
            // take their place in line: the earliest due first, a bounded number per claim.
            for row in try await tx.rows("""
                UPDATE jobs j SET state = 1 FROM (
                    SELECT d.id, d.state FROM unnest(\(active)::text[]) AS q(name), LATERAL (
                        SELECT id, state FROM jobs WHERE queue = q.name AND state IN (0, 4) AND run_at <= \(tx.now)
                        ORDER BY run_at LIMIT \(stepLimit) FOR UPDATE SKIP LOCKED) d
                ) due
                WHERE j.id = due.id
                RETURNING due.state, j.batch_id, j.queue
                """) {
                cascade.move(try row[1].decode(String?.self), queue: try row[2].decode(String.self),
                             from: JobState(rawValue: Int(try row[0].decode(Int16.self))), to: .ready)
            }
            // Held jobs of keys that admit again go back in line first.
            var limits = PGLimitLedger(cache: ruleCache, now: tx.now, rulesVersion: try look[2].decode(Int64.self))
            let released = try look[1].decode(Bool.self) ? try await limits.releaseDue(tx, stepLimit: stepLimit) : false
            var claimed: [ClaimedJob] = []
            var unreadable: [(JobID, String?, String, String)] = []
            for queue in active where claimed.count < limit {
                // A job whose key is at its limit is held back (its claim undone) and the claim
                // goes on, holding back at most `stepLimit` jobs per queue per call.
                var heldBack = 0
                var passedOver: [Int64] = []
                while claimed.count < limit && heldBack < stepLimit {
                    let asked = limit - claimed.count
                    let (page, returned, claimedAt) = try await self.claimPage(
                        queue: queue, asked: asked, passingOver: passedOver, workerID: workerID, leaseMicros: leaseMicros,
                        unreadable: &unreadable, cascade: &cascade, tx)
                    // Weighed against limits in claim order, each key's cell locked first, at the
                    // instant the jobs' starts are recorded (so every window of recorded starts
                    // keeps to the limits, however the claims' transactions interleave).
                    let busy = try await limits.lock(page.flatMap(\.limitKeys), at: claimedAt, tx)
                    for job in page {
                        if !job.limitKeys.isEmpty {
                            if job.limitKeys.contains(where: busy.contains) {
                                limits.passOver(job.id.rawValue)
                                passedOver.append(job.id.rawValue)
                                heldBack += 1
                                continue
                            }
                            if let (key, until) = limits.blocking(job.limitKeys, at: claimedAt) {
                                limits.hold(job.id.rawValue, on: key, until: until ?? claimedAt + LimitSettings.recheckMicroseconds)
                                heldBack += 1
                                continue
                            }
                            limits.started(job.limitKeys, at: claimedAt, job: job.id.rawValue)
                        }
                        cascade.move(job.batchID, queue: queue, from: .ready, to: .active)
                        claimed.append(job)
                    }
                    try await limits.flushUndone(tx)
                    if returned < asked { break }
                }
            }
            for (id, batch, queue, message) in unreadable {
                try await tx.execute("""
                    UPDATE jobs SET state = 5, finished_at = \(tx.now), lease_expires_at = NULL, error_kind = 1,
                                    error_message = \("the stored record of job \(id) cannot be read: \(message)") WHERE id = \(id.rawValue)
                    """)
                cascade.move(batch, queue: queue, from: .active, to: .dead)
                cascade.finished(id, state: .dead)
            }
            // The keys' cells before the batches' counters, as every transaction takes them.
            try await limits.apply(tx)
            limits.keepRules()
            try await cascade.run(tx)
            return (claimed, released)
        }
        // Held jobs let go may be other queues' work.
        if released { announceWork() }
        return claimed
    }

    /// Claims up to `asked` ready jobs of `queue` (not those in `passingOver`), highest
    /// priority first, then oldest; returns those it can read, in claim order, how many rows it
    /// claimed, and when they started (µs). An unreadable record is counted active and noted,
    /// to fail on its own.
    private func claimPage(
        queue: String, asked: Int, passingOver: [Int64], workerID: String, leaseMicros: Int64,
        unreadable: inout [(JobID, String?, String, String)], cascade: inout PGCascade, _ tx: PGTransaction
    ) async throws -> ([ClaimedJob], Int, Int64) {
        // The lease starts now, as the claim runs (not when the transaction began).
        let rows = try await tx.rows("""
            WITH t AS (SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::int8 + \(offset) AS now)
            UPDATE jobs SET state = 2, attempt = attempt + 1, lease_token = lease_token + 1,
                            started_at = t.now, worker_id = \(workerID), lease_expires_at = t.now + \(leaseMicros)
            FROM t
            WHERE id IN (SELECT id FROM jobs WHERE queue = \(queue) AND state = 1 AND id <> ALL(\(passingOver)::int8[])
                         ORDER BY priority DESC, id LIMIT \(asked) FOR UPDATE SKIP LOCKED)
            RETURNING id, name, queue, payload, priority, attempt, max_attempts, timeout_us, batch_id, created_at,
                      parent_id, wait_batch, lease_token, headers, limit_keys, lease_expires_at, started_at
            """)
        var page: [ClaimedJob] = []
        for row in rows {
            let id = JobID(try row[0].decode(Int64.self))
            let batch = try row[8].decode(String?.self)
            let headers: [String: String]
            do {
                headers = try JobHeaders.decode(try row[13].decode(String.self), job: id)
            } catch {
                // One unreadable record fails its own job, never the claim.
                cascade.move(batch, queue: queue, from: .ready, to: .active)
                unreadable.append((id, batch, queue, "\(error)"))
                continue
            }
            page.append(ClaimedJob(
                id: id, name: try row[1].decode(String.self), queue: try row[2].decode(String.self),
                payload: try row[3].decode(Data.self), priority: Priority(rawValue: Int(try row[4].decode(Int32.self))),
                attempt: Int(try row[5].decode(Int32.self)), maxAttempts: Int(try row[6].decode(Int32.self)),
                timeout: .microseconds(try row[7].decode(Int64.self)), batchID: batch,
                createdAt: Self.date(try row[9].decode(Int64.self)), leaseExpiresAt: Self.date(try row[15].decode(Int64.self)),
                leaseToken: Int(try row[12].decode(Int64.self)), parentID: try row[10].decode(Int64?.self).map { JobID($0) },
                waitedForBatch: try row[11].decode(String?.self), headers: headers,
                limitKeys: LimitKey.decode(try row[14].decode(String?.self))))
        }
        // RETURNING gives no order; hand jobs out (and weigh them against limits) in claim order.
        page.sort { ($0.priority, $1.id) > ($1.priority, $0.id) }
        return (page, rows.count, try rows.first?[16].decode(Int64.self) ?? tx.now)
    }

    @discardableResult
    public func complete(_ outcomes: [JobOutcome]) async throws -> [JobLease] {
        guard !outcomes.isEmpty else { return [] }
        let ruleCache = limitRuleCache
        let (madeWork, fenced) = try await write { tx -> (Bool, [JobLease]) in
            var cascade = PGCascade()
            var written = Set<JobLease>()
            var retried = false
            // Jobs of limit keys that left `active`, and keys the upstream asked to wait.
            var ended: [PGLimitLedger.Ended] = []
            var blocks: [(keys: [String], until: Int64)] = []
            func end(_ id: JobID, _ keys: String?, _ verdict: CircuitVerdict) {
                guard let keys else { return }
                ended.append(PGLimitLedger.Ended(id: id.rawValue, keys: LimitKey.decode(keys), verdict: verdict))
            }
            // Successes in one statement.
            let successes = outcomes.compactMap { outcome -> (JobLease, Data)? in
                if case .succeeded(let output) = outcome.result { return (outcome.lease, output) }
                return nil
            }
            if !successes.isEmpty {
                let ids = successes.map { $0.0.id.rawValue }, tokens = successes.map { Int64($0.0.token) }
                let results = successes.map { ByteBuffer(bytes: $0.1) }
                for row in try await tx.rows("""
                    UPDATE jobs j SET state = 3, result = u.result, finished_at = \(tx.now), lease_expires_at = NULL
                    FROM unnest(\(ids)::int8[], \(tokens)::int8[], \(results)::bytea[]) AS u(id, token, result)
                    WHERE j.id = u.id AND j.state = 2 AND j.lease_token = u.token
                    RETURNING j.id, j.lease_token, j.batch_id, j.has_children, j.queue, j.limit_keys
                    """) {
                    let id = JobID(try row[0].decode(Int64.self))
                    written.insert(JobLease(id: id, token: Int(try row[1].decode(Int64.self))))
                    end(id, try row[5].decode(String?.self), .succeeded)
                    cascade.move(try row[2].decode(String?.self), queue: try row[4].decode(String.self), from: .active, to: .succeeded)
                    cascade.finished(id, state: .succeeded, hasChildren: try row[3].decode(Bool.self))
                }
            }
            for outcome in outcomes {
                let lease = outcome.lease
                switch outcome.result {
                case .succeeded:
                    continue
                case .failed(let failure, let retryAfter):
                    let state: JobState = retryAfter == nil ? .dead : .retrying
                    let runAt: Int64? = retryAfter.map { tx.now + max(0, $0.microseconds) }
                    let finishedAt: Int64? = retryAfter == nil ? tx.now : nil
                    let rows = try await tx.rows("""
                        UPDATE jobs SET state = \(Int16(state.rawValue)), run_at = coalesce(\(runAt), run_at), finished_at = \(finishedAt),
                                        lease_expires_at = NULL, error_kind = \(Int16(failure.kind == .permanent ? 1 : 0)),
                                        error_message = \(failure.message)
                        WHERE id = \(lease.id.rawValue) AND state = 2 AND lease_token = \(Int64(lease.token))
                        RETURNING batch_id, has_children, queue, limit_keys
                        """)
                    if let row = rows.first {
                        written.insert(lease)
                        end(lease.id, try row[3].decode(String?.self), outcome.circuitVerdict)
                        if retryAfter != nil { retried = true }
                        cascade.move(try row[0].decode(String?.self), queue: try row[2].decode(String.self), from: .active, to: state)
                        cascade.finished(lease.id, state: state, hasChildren: try row[1].decode(Bool.self))
                    }
                case .deferred(let delay, let keys, let reason):
                    // Back to retrying without the attempt counted; the keys wait as long.
                    let until = tx.now + max(0, delay.microseconds)
                    let rows = try await tx.rows("""
                        UPDATE jobs SET state = 4, run_at = \(until), attempt = attempt - 1,
                                        lease_expires_at = NULL, error_kind = 0,
                                        error_message = \(JobFailure.deferred(for: delay, keys: keys, reason: reason).message)
                        WHERE id = \(lease.id.rawValue) AND state = 2 AND lease_token = \(Int64(lease.token))
                        RETURNING batch_id, queue, limit_keys
                        """)
                    if let row = rows.first {
                        written.insert(lease)
                        retried = true
                        cascade.move(try row[0].decode(String?.self), queue: try row[1].decode(String.self), from: .active, to: .retrying)
                        end(lease.id, try row[2].decode(String?.self), outcome.circuitVerdict)
                        blocks.append((keys, until))
                    }
                }
            }
            // Slots free before the batches' counters move, as every transaction takes them.
            let woke = try await PGLimitLedger.ended(ended, blocks: blocks, cache: ruleCache, tx)
            // A batch that just finished released its callbacks; a chain's next step starts.
            try await cascade.run(tx)
            return (retried || woke || cascade.madeWork, outcomes.map(\.lease).filter { !written.contains($0) })
        }
        if madeWork { announceWork() }
        announceCompletions()
        return fenced
    }

    @discardableResult
    public func heartbeat(_ leases: [JobLease], lease: Duration) async throws -> [JobLease] {
        guard !leases.isEmpty else { return [] }
        let ids = leases.map(\.id.rawValue), tokens = leases.map { Int64($0.token) }
        let offset = self.offset
        return try await withConnection { connection in
            let rows = try await connection.query("""
                WITH t AS (SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::int8 + \(offset) AS now),
                extended AS (
                    UPDATE jobs j SET lease_expires_at = t.now + \(lease.microseconds)
                    FROM t, unnest(\(ids)::int8[], \(tokens)::int8[]) AS u(id, token)
                    WHERE j.id = u.id AND j.state = 2 AND j.lease_token = u.token
                    RETURNING j.id, j.lease_token)
                SELECT id, lease_token FROM extended
                UNION ALL
                -- Not extended, but still held: this very lease just wrote the job's outcome
                -- (recovery moves the token on, so a job it declared dead does not match).
                SELECT j.id, j.lease_token FROM jobs j JOIN unnest(\(ids)::int8[], \(tokens)::int8[]) AS u(id, token)
                    ON j.id = u.id AND j.lease_token = u.token WHERE j.state IN (3, 4, 5)
                """, logger: self.logger).collect()
            let held = Set(try rows.map { row in
                let (id, token) = try row.decode((Int64, Int64).self)
                return JobLease(id: JobID(id), token: Int(token))
            })
            return leases.filter { !held.contains($0) }
        }
    }

    public func release(_ leases: [JobLease]) async throws {
        guard !leases.isEmpty else { return }
        let ids = leases.map(\.id.rawValue), tokens = leases.map { Int64($0.token) }
        let ruleCache = limitRuleCache
        try await write { tx in
            var cascade = PGCascade()
            var ended: [PGLimitLedger.Ended] = []
            for row in try await tx.rows("""
                UPDATE jobs j SET state = 1, attempt = attempt - 1, lease_expires_at = NULL, worker_id = NULL, started_at = NULL
                FROM unnest(\(ids)::int8[], \(tokens)::int8[]) AS u(id, token)
                WHERE j.id = u.id AND j.state = 2 AND j.lease_token = u.token
                RETURNING j.batch_id, j.queue, j.id, j.limit_keys
                """) {
                cascade.move(try row[0].decode(String?.self), queue: try row[1].decode(String.self), from: .active, to: .ready)
                if let keys = try row[3].decode(String?.self) {
                    ended.append(PGLimitLedger.Ended(id: try row[2].decode(Int64.self), keys: LimitKey.decode(keys), verdict: .neutral))
                }
            }
            _ = try await PGLimitLedger.ended(ended, cache: ruleCache, tx)
            try await cascade.run(tx)
        }
        announceWork()
    }

    @discardableResult
    public func recoverExpiredLeases() async throws -> Int {
        let stepLimit = configuration.stepLimit
        let retention = configuration.retention?.microseconds
        let message = Self.leaseExpiredMessage
        let ruleCache = limitRuleCache
        let recovered = try await write { tx -> Int in
            var cascade = PGCascade()
            // The lease is over: the token moves on, so its holder's heartbeats and outcomes
            // no longer count (even for a job that ends dead here).
            let rows = try await tx.rows("""
                UPDATE jobs SET
                    state = CASE WHEN attempt >= max_attempts THEN 5 ELSE 1 END,
                    finished_at = CASE WHEN attempt >= max_attempts THEN \(tx.now) ELSE NULL END,
                    run_at = \(tx.now), lease_expires_at = NULL, error_kind = 0, lease_token = lease_token + 1,
                    error_message = \(message.before) || coalesce(worker_id, '?') || \(message.after)
                WHERE id IN (SELECT id FROM jobs WHERE state = 2 AND lease_expires_at < \(tx.now)
                             ORDER BY lease_expires_at LIMIT \(stepLimit) FOR UPDATE SKIP LOCKED)
                RETURNING batch_id, state, id, has_children, queue, limit_keys
                """)
            var ended: [PGLimitLedger.Ended] = []
            for row in rows {
                let state = JobState(rawValue: Int(try row[1].decode(Int16.self))) ?? .ready
                let id = try row[2].decode(Int64.self)
                cascade.move(try row[0].decode(String?.self), queue: try row[4].decode(String.self), from: .active, to: state)
                cascade.finished(JobID(id), state: state, hasChildren: try row[3].decode(Bool.self))
                if let keys = try row[5].decode(String?.self) { ended.append(PGLimitLedger.Ended(id: id, keys: LimitKey.decode(keys), verdict: .neutral)) }
            }
            // Their slots free (an expired lease counts neither way for a circuit), then idle cells go.
            _ = try await PGLimitLedger.ended(ended, cache: ruleCache, tx)
            try await PGLimitLedger.pruneIdle(limit: stepLimit, tx)
            try await cascade.run(tx)
            if let retention {
                let from = self.retentionCursor.withLock { $0 }
                let next = try await Self.deleteExpiredFinished(before: tx.now - retention, limit: stepLimit, from: from, tx)
                self.retentionCursor.withLock { $0 = next }
            }
            return rows.count
        }
        try await foldQueueCounts(limit: stepLimit * 10)
        if recovered > 0 {
            announceWork()
            announceCompletions()
        }
        return recovered
    }

    /// Folds the oldest queue delta rows into the queues' rows (one transaction, at most `limit`
    /// rows, skipping rows another fold holds).
    func foldQueueCounts(limit: Int) async throws {
        let columns = PostgresSchema.stateColumns
        try await write { tx in
            try await tx.execute(PostgresQuery(unsafeSQL: """
                WITH gone AS (
                    DELETE FROM queue_deltas WHERE id IN (SELECT id FROM queue_deltas ORDER BY id LIMIT \(limit) FOR UPDATE SKIP LOCKED)
                    RETURNING *),
                sums AS (SELECT queue, \(columns.map { "sum(\($0))::int8 AS \($0)" }.joined(separator: ", ")) FROM gone GROUP BY queue ORDER BY queue)
                INSERT INTO queues (name, \(columns.joined(separator: ", "))) SELECT * FROM sums
                ON CONFLICT (name) DO UPDATE SET \(columns.map { "\($0) = queues.\($0) + excluded.\($0)" }.joined(separator: ", "))
                """))
        }
    }

    /// Retention, as on SQLite: looks at the `limit` jobs after id `cursor` and deletes those
    /// that finished before `cutoff`, stopping at the first that finished later and passing
    /// over unfinished ones; then finished batches none of whose members are left. Returns
    /// where the next call goes on (0 once the walk reached the end).
    static func deleteExpiredFinished(before cutoff: Int64, limit: Int, from cursor: Int64, _ tx: PGTransaction) async throws -> Int64 {
        let window = try await tx.rows("SELECT id, state, finished_at FROM jobs WHERE id > \(cursor) ORDER BY id LIMIT \(limit)")
        var expired: [Int64] = []
        var next = cursor, stopped = false
        for row in window {
            let id = try row[0].decode(Int64.self)
            if JobState(rawValue: Int(try row[1].decode(Int16.self)))?.isFinal == true {
                guard let finished = try row[2].decode(Int64?.self), finished < cutoff else {
                    stopped = true
                    break
                }
                expired.append(id)
            }
            next = id
        }
        if !expired.isEmpty {
            var counters = PGCounters()
            for row in try await tx.rows("DELETE FROM jobs WHERE id = ANY(\(expired)) AND state IN (3, 5, 6) RETURNING queue, state") {
                counters.deleted(queue: try row[0].decode(String.self), state: JobState(rawValue: Int(try row[1].decode(Int16.self))) ?? .succeeded)
            }
            try await counters.applyQueues(tx)
        }
        try await tx.execute("""
            DELETE FROM batches WHERE id IN (
                SELECT b.id FROM batches b WHERE b.finished_at < \(cutoff)
                    AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.batch_id = b.id)
                    AND NOT EXISTS (SELECT 1 FROM jobs w WHERE w.wait_batch = b.id AND w.state = 7)
                ORDER BY b.finished_at LIMIT 100)
            """)
        return !stopped && window.count < limit ? 0 : next
    }

    @discardableResult
    public func cancel(_ ids: [JobID]) async throws -> [JobID] {
        guard !ids.isEmpty else { return [] }
        let cancelled = try await write { tx -> [JobID] in
            var cancelled: [JobID] = []
            var cascade = PGCascade()
            for id in ids {
                guard let old = try await Self.stateAndBatch(of: id, tx) else { continue }
                let rows = try await tx.rows("""
                    UPDATE jobs SET state = 6, finished_at = \(tx.now), parked_on = NULL
                    WHERE id = \(id.rawValue) AND state IN (0, 1, 4, 7, 8) RETURNING batch_id, queue
                    """)
                if let row = rows.first {
                    cancelled.append(id)
                    cascade.move(try row[0].decode(String?.self), queue: try row[1].decode(String.self), from: old.state, to: .cancelled)
                    cascade.finished(id, state: .cancelled)
                }
                // In order: what this cancel settles is settled before the next id is looked at.
                try await cascade.run(tx)
            }
            return cancelled
        }
        if !cancelled.isEmpty {
            announceWork()
            announceCompletions()
        }
        return cancelled
    }

    @discardableResult
    public func retry(_ ids: [JobID]) async throws -> [JobID] {
        guard !ids.isEmpty else { return [] }
        let moved = try await write { tx -> [JobID] in
            var moved: [JobID] = []
            var cascade = PGCascade()
            for id in ids {
                guard let old = try await Self.stateAndBatch(of: id, tx) else { continue }
                // A chain step runs only after its parent succeeded: it waits for a parent still
                // on its way, and stays put behind one that ended dead or cancelled.
                let parentState = try await tx.rows("SELECT p.state FROM jobs c JOIN jobs p ON p.id = c.parent_id WHERE c.id = \(id.rawValue)")
                    .first.flatMap { JobState(rawValue: Int(try $0[0].decode(Int16.self))) }
                if let parentState, parentState != .succeeded, parentState.isFinal { continue }
                let state: JobState = parentState == nil || parentState == .succeeded ? .ready : .waiting
                // A job whose unique key was taken by a newer job stays where it is.
                let rows = try await tx.rows("""
                    UPDATE jobs j SET state = \(Int16(state.rawValue)), attempt = 0, run_at = \(tx.now), finished_at = NULL
                    WHERE j.id = \(id.rawValue) AND j.state IN (5, 6)
                      AND (j.unique_key IS NULL OR NOT EXISTS (
                          SELECT 1 FROM jobs o WHERE o.unique_key = j.unique_key AND o.state NOT IN (5, 6) AND o.id <> j.id))
                    RETURNING batch_id, queue
                    """)
                if let row = rows.first {
                    moved.append(id)
                    cascade.move(try row[0].decode(String?.self), queue: try row[1].decode(String.self), from: old.state, to: state)
                    try await cascade.restoreDependents(of: id, batch: old.batch, tx)
                }
            }
            try await cascade.run(tx)
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

    static func stateAndBatch(of id: JobID, _ tx: PGTransaction) async throws -> (state: JobState, batch: String?)? {
        guard let row = try await tx.rows("SELECT state, batch_id FROM jobs WHERE id = \(id.rawValue) FOR NO KEY UPDATE").first,
              let state = PostgresSchema.state(try row[0].decode(Int16.self)) else { return nil }
        return (state, try row[1].decode(String?.self))
    }

    public func pause(queue: String) async throws {
        try await write { tx in
            try await tx.execute("INSERT INTO queues (name, paused) VALUES (\(queue), true) ON CONFLICT (name) DO UPDATE SET paused = true")
        }
    }

    public func resume(queue: String) async throws {
        try await write { tx in
            try await tx.execute("INSERT INTO queues (name, paused) VALUES (\(queue), false) ON CONFLICT (name) DO UPDATE SET paused = false")
        }
        announceWork()
    }

    /// Deletes at most `stepLimit` matching jobs, lowest ids first, walking ids from the cursor
    /// in windows of `stepLimit` × 20, so a step reads a bounded number of rows.
    public func purgeStep(_ request: PurgeRequest, from cursor: String?) async throws -> PurgeStep {
        // Never active jobs, whatever the request says.
        let states = PostgresSchema.storedValues(request.states.filter { $0 != .active })
        guard !states.isEmpty else { return PurgeStep(deleted: 0, cursor: nil) }
        let after = cursor.flatMap { Int64($0) } ?? 0
        let stepLimit = configuration.stepLimit
        let window = Int64(stepLimit) * 20
        let age = request.olderThan?.microseconds
        let queue = request.queue
        let (step, unfinishedLeft) = try await write { tx -> (PurgeStep, Bool) in
            let cutoff: Int64? = age.map { tx.now - $0 }
            let rows = try await tx.rows("""
                SELECT id, state, batch_id, queue FROM jobs
                WHERE id > \(after) AND id <= \(after + window) AND state = ANY(\(states)::int2[])
                  AND (\(queue)::text IS NULL OR queue = \(queue)) AND (\(cutoff)::int8 IS NULL OR coalesce(finished_at, created_at) < \(cutoff))
                ORDER BY id LIMIT \(stepLimit + 1) FOR UPDATE SKIP LOCKED
                """)
            let lastID = try await tx.rows("SELECT coalesce(max(id), 0) FROM jobs").first.map { try $0[0].decode(Int64.self) } ?? 0
            let doomed = Array(rows.prefix(stepLimit))
            // An unfinished job leaves as if cancelled: what waits on it is settled and its batch
            // counts it as cancelled. Finished jobs stay in their batch's counts (history).
            var cascade = PGCascade()
            var unfinished = false
            var doomedIDs: [Int64] = []
            for row in doomed {
                let id = try row[0].decode(Int64.self)
                doomedIDs.append(id)
                guard let state = PostgresSchema.state(try row[1].decode(Int16.self)), !state.isFinal else { continue }
                unfinished = true
                cascade.move(try row[2].decode(String?.self), queue: try row[3].decode(String.self), from: state, to: .cancelled)
                cascade.finished(JobID(id))
                try await tx.execute("UPDATE jobs SET state = 6, finished_at = \(tx.now), parked_on = NULL WHERE id = \(id)")
            }
            try await cascade.run(tx)
            var deleted = 0
            for gone in try await tx.rows("DELETE FROM jobs WHERE id = ANY(\(doomedIDs)) AND state <> 2 RETURNING queue, state") {
                deleted += 1
                cascade.deleted(queue: try gone[0].decode(String.self), state: JobState(rawValue: Int(try gone[1].decode(Int16.self))) ?? .cancelled)
            }
            try await cascade.run(tx)
            let next: Int64? = rows.count > stepLimit ? doomedIDs.last : (after + window < lastID ? after + window : nil)
            return (PurgeStep(deleted: deleted, cursor: next.map(String.init)), unfinished && cascade.madeWork)
        }
        if unfinishedLeft { announceWork() }
        if step.deleted > 0 { announceCompletions() }
        return step
    }

    public func timeUntilNextDue(queues: [String]) async throws -> Duration? {
        guard !queues.isEmpty else { return nil }
        let offset = self.offset
        let rows = try await read("""
            SELECT least((SELECT min(run_at) FROM jobs WHERE state IN (0, 4) AND queue = ANY(\(queues))
                              AND queue NOT IN (SELECT name FROM queues WHERE paused)),
                         -- Held jobs of a key that admits again (of any queue: a claim lets them go).
                         (SELECT min(wake_at) FROM limit_cells WHERE wake_at IS NOT NULL)),
                   (extract(epoch FROM clock_timestamp()) * 1000000)::int8 + \(offset)
            """)
        guard let row = rows.first, let due = try row[0].decode(Int64?.self) else { return nil }
        return .microseconds(max(0, due - (try row[1].decode(Int64.self))))
    }

    // MARK: Helpers

    /// When a new job is due (µs).
    static func runAt(of job: NewJob, now: Int64) -> Int64 {
        job.runAt.map(micros) ?? (now + max(0, job.delay?.microseconds ?? 0))
    }

    @inline(__always) static func micros(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
    }

    @inline(__always) static func date(_ micros: Int64) -> Date {
        Date(timeIntervalSince1970: Double(micros) / 1_000_000)
    }

    static func bindings(_ values: String...) -> PostgresBindings {
        var bindings = PostgresBindings()
        for value in values { bindings.append(value) }
        return bindings
    }
}
