import Foundation
import Synchronization

/// A store that keeps everything in this process's memory.
///
/// For unit tests of the engine and in-process pipelines; it is not durable and never a
/// stand-in for a durable store's own tests.
public final class MemoryBackend: JobBackend, ScheduleStore, FlowControlStore {
    private struct StoredBatch {
        var batch: Batch
        var sequence: Int
    }

    /// Why a waiting job waits.
    private enum Hold {
        case parent(JobID)
        case batch(String, BatchCondition)
    }

    private struct Storage {
        var nextID: Int64 = 1
        var nextBatchSequence = 0
        var jobs: [JobID: JobRecord] = [:]
        var uniqueHolders: [String: JobID] = [:]
        var paused: Set<String> = []
        var knownQueues: Set<String> = []
        var workers: [String: WorkerInfo] = [:]
        var batches: [String: StoredBatch] = [:]
        var holds: [JobID: Hold] = [:]
        /// What each job waiting for a batch waits for, kept after it is released.
        var batchConditions: [JobID: BatchCondition] = [:]
        /// Each job's lease token: claims so far, never reset.
        var leaseTokens: [JobID: Int] = [:]
        /// Set when a transition made work ready, so the caller wakes workers.
        var madeWorkReady = false
        /// Coordination: leaderships by name, the last token given out per name, records, and
        /// each schedule's last fired slot.
        var leaderships: [String: Leadership] = [:]
        var leadershipTokens: [String: Int] = [:]
        var records: [String: VersionedRecord] = [:]
        var firedSlots: [String: Date] = [:]
        /// Stored schedules (their last slot is in `firedSlots`, their last fire the newest
        /// entry of `fireHistory`), the last version given out, and each one's history, oldest first.
        var schedules: [String: StoredSchedule] = [:]
        var scheduleVersion = 0
        var fireHistory: [String: [ScheduleFireRecord]] = [:]
        /// Flow control: rules by pattern, each key's cell (µs of the store's clock), the ready
        /// jobs set aside per key (and the key each waits on), and when each key with set-aside
        /// jobs admits again.
        var limitRules: [String: LimitRule] = [:]
        var cells: [String: LimiterCell] = [:]
        var parked: [String: Set<JobID>] = [:]
        var parkedOn: [JobID: String] = [:]
        var limitWakes: [String: Int64] = [:]
        /// Circuits: each key's counted outcomes, and its transitions, oldest first.
        var circuitStats: [String: CircuitStats] = [:]
        var circuitLog: [String: [CircuitTransition]] = [:]
        /// Sliding windows: when each of a key's recent starts leaves its window (µs), oldest first.
        var windows: [String: [Int64]] = [:]

        /// `key`'s cell now, with its sliding window's count filled in.
        func cell(_ key: String, now: Int64) -> LimiterCell {
            var cell = cells[key] ?? LimiterCell()
            if let starts = windows[key] {
                let live = starts.drop { $0 <= now }
                cell.windowCount = live.count
                cell.windowFrees = live.first ?? 0
            }
            return cell
        }

        func rule(for key: String) -> LimitRule? {
            for pattern in LimitKey.patterns(for: key) { if let rule = limitRules[pattern] { return rule } }
            return nil
        }

        /// The limits `key` goes by (none: only the upstream's wait holds it back).
        func settings(for key: String) -> LimitSettings { rule(for: key)?.settings ?? LimitSettings() }

        /// The first of `keys` that does not admit a start now, with when it may.
        func blocking(_ keys: [String], now: Int64) -> (key: String, until: Int64?)? {
            for key in keys {
                if case .wait(let until) = settings(for: key).admission(cell(key, now: now), now: now) { return (key, until) }
            }
            return nil
        }

        mutating func started(_ keys: [String], now: Int64, job id: JobID) {
            for key in keys {
                let settings = settings(for: key)
                let (cell, change) = settings.started(cell(key, now: now), now: now, job: id.rawValue)
                cells[key] = cell
                if let rate = settings.rate, rate.sliding {
                    windows[key] = (windows[key] ?? []).drop { $0 <= now } + [now + rate.period.microseconds]
                }
                if let change { log(change, key: key, now: now) }
            }
        }

        mutating func log(_ change: CircuitChange, key: String, now: Int64) {
            circuitStats[key, default: CircuitStats()].changedAt = now
            circuitLog[key, default: []].append(CircuitTransition(key: key, at: Date(storeMicroseconds: now), from: change.from,
                                                                   to: change.to, reason: change.reason))
            if circuitLog[key]!.count > CircuitTransition.historyLimit { circuitLog[key]!.removeFirst() }
        }

        mutating func park(_ id: JobID, on key: String, until: Int64?) {
            parkedOn[id] = key
            parked[key, default: []].insert(id)
            if let until { limitWakes[key] = min(limitWakes[key] ?? .max, until) }
        }

        mutating func unpark(_ id: JobID) {
            guard let key = parkedOn.removeValue(forKey: id) else { return }
            parked[key]?.remove(id)
            if parked[key]?.isEmpty == true { parked[key] = nil }
        }

        /// A new ready job beyond what its keys admit now (counting the jobs this call already put
        /// in line) is set aside at once, so a bulk enqueue for a saturated key costs its claims nothing.
        mutating func holdBeyondAdmissible(_ id: JobID, _ keys: [String], inLine: inout [String: Int], now: Int64) {
            for key in keys {
                guard let settings = rule(for: key)?.settings else { continue }
                let (count, next) = settings.admissible(cell(key, now: now), now: now, atMost: 1_000_000)
                if inLine[key, default: 0] >= count {
                    park(id, on: key, until: next ?? now + LimitSettings.recheckMicroseconds)
                    return
                }
            }
            for key in keys { inLine[key, default: 0] += 1 }
        }

        /// Lets set-aside jobs of keys that admit again go back in line, as many as each admits
        /// (a bounded number of keys and jobs per call).
        mutating func unparkDue(now: Int64, stepLimit: Int) {
            let due = limitWakes.filter { $0.value <= now }.sorted { ($0.value, $0.key) < ($1.value, $1.key) }.prefix(16)
            for (key, _) in due {
                limitWakes[key] = nil
                guard let waiting = parked[key], !waiting.isEmpty else { continue }
                let (count, next) = settings(for: key).admissible(cell(key, now: now), now: now, atMost: stepLimit)
                let order = waiting.compactMap { jobs[$0] }.sorted { ($0.priority, $1.id) > ($1.priority, $0.id) }
                for job in order.prefix(count) {
                    unpark(job.id)
                    madeWorkReady = true
                }
                if order.count > count {
                    limitWakes[key] = LimitSettings.recheck(after: count, of: stepLimit, next: next, now: now)
                }
            }
        }

        /// Keys with held jobs look again at once, by the rules as they are now.
        mutating func rulesChanged(now: Int64) {
            for (key, at) in limitWakes where at > now { limitWakes[key] = now }
        }

        /// A job left `active`: its slots free, its outcome moves its keys' circuits, and keys
        /// with set-aside jobs admit again.
        mutating func freeSlots(of record: JobRecord, verdict: CircuitVerdict, now: Int64) {
            for key in record.limitKeys {
                guard var cell = cells[key] else { continue }
                cell.active -= 1
                let settings = self.settings(for: key)
                if settings.circuitMoves(cell, on: verdict) {
                    var stats = circuitStats[key] ?? CircuitStats()
                    let change = settings.circuitEnded(&cell, &stats, job: record.id.rawValue, verdict, now: now)
                    if settings.countsOutcome(verdict) { circuitStats[key] = stats }
                    if let change { log(change, key: key, now: now) }
                }
                if cell.isIdle(now: now) { cells[key] = nil } else { cells[key] = cell }
                if parked[key] != nil { limitWakes[key] = min(limitWakes[key] ?? .max, now) }
            }
        }

        func circuitState(_ key: String, now: Int64) -> CircuitState {
            let rule = rule(for: key)
            return CircuitState(key: key, rule: rule?.settings.circuit == nil ? nil : rule?.pattern, breaker: rule?.settings.circuit,
                                cell: cells[key] ?? LimiterCell(), stats: circuitStats[key] ?? CircuitStats(), now: now)
        }

        func stored(_ name: String) -> StoredSchedule? {
            guard var schedule = schedules[name] else { return nil }
            schedule.lastSlot = firedSlots[name]
            schedule.lastFire = fireHistory[name]?.last
            return schedule
        }

        mutating func addHistory(_ record: ScheduleFireRecord, of name: String) {
            fireHistory[name, default: []].append(record)
            if fireHistory[name]!.count > ScheduleFireRecord.historyLimit { fireHistory[name]!.removeFirst() }
        }

        /// Stores the jobs of one enqueue call (dependencies checked already).
        mutating func enqueue(_ jobs: [NewJob], now: Date) -> Result<[EnqueueResult], ConveyorError> {
            for job in jobs {
                if case .job(let parent)? = job.dependsOn, self.jobs[parent] == nil { return .failure(.jobNotFound(parent)) }
            }
            var results: [EnqueueResult] = []
            var inLine: [String: Int] = [:]
            for job in jobs {
                if let key = job.uniqueKey, let holder = uniqueHolders[key] {
                    results.append(.duplicate(holder))
                    continue
                }
                switch job.dependsOn {
                case nil:
                    let runAt = job.dueAt(now: now)
                    let id = insert(job, state: runAt > now ? .scheduled : .ready, now: now)
                    results.append(.created(id))
                    if self.jobs[id]?.state == .ready, parkedOn[id] == nil, !job.limitKeys.isEmpty {
                        holdBeyondAdmissible(id, job.limitKeys, inLine: &inLine, now: now.storeMicroseconds)
                    }
                case .earlier(let index):
                    results.append(.created(insertDependent(job, on: .job(results[index].id), now: now)))
                case let dependency?:
                    results.append(.created(insertDependent(job, on: dependency, now: now)))
                }
            }
            return .success(results)
        }

        mutating func ensureBatch(_ id: String, name: String? = nil, now: Date) {
            guard batches[id] == nil else { return }
            nextBatchSequence += 1
            batches[id] = StoredBatch(batch: Batch(id: id, name: name, createdAt: now), sequence: nextBatchSequence)
        }

        mutating func insert(_ job: NewJob, state: JobState, now: Date) -> JobID {
            let id = JobID(nextID)
            nextID += 1
            let runAt = job.dueAt(now: now)
            jobs[id] = JobRecord(
                id: id, name: job.name, queue: job.queue, payload: job.payload, priority: job.priority,
                state: state, attempt: 0, maxAttempts: job.maxAttempts, timeout: job.timeout, runAt: runAt,
                createdAt: now, uniqueKey: job.uniqueKey, batchID: job.batchID, headers: job.headers)
            jobs[id]!.limitKeys = job.limitKeys
            if let key = job.uniqueKey { uniqueHolders[key] = id }
            // Behind the jobs already set aside for one of its keys, in line.
            if state == .ready, let key = job.limitKeys.first(where: { parked[$0] != nil }) { park(id, on: key, until: nil) }
            knownQueues.insert(job.queue)
            if let batch = job.batchID {
                ensureBatch(batch, now: now)
                batches[batch]!.batch.counts[state, default: 0] += 1
                batches[batch]!.batch.finishedAt = nil
            }
            if state == .ready { madeWorkReady = true }
            return id
        }

        /// Stores a job with a dependency: waiting, or decided at once if what it waits for
        /// has already finished.
        mutating func insertDependent(_ job: NewJob, on dependency: Dependency, now: Date) -> JobID {
            let id = insert(job, state: .waiting, now: now)
            switch dependency {
            case .job(let parent):
                jobs[id]!.parentID = parent
                holds[id] = .parent(parent)
                if let parentState = jobs[parent]?.state, parentState.isFinal {
                    settleChildren(of: parent, state: parentState, now: now)
                }
            case .batch(let batchID, let condition):
                ensureBatch(batchID, now: now)
                jobs[id]!.waitedForBatch = batchID
                holds[id] = .batch(batchID, condition)
                batchConditions[id] = condition
                if let batch = batches[batchID]?.batch, batch.isFinished { releaseCallbacks(of: batch, now: now) }
            case .earlier:
                preconditionFailure("resolved by enqueue")
            }
            return id
        }

        /// A job runs again (retry, recover): what its stop cancelled waits for it again, down the
        /// whole chain, and so do strict chord callbacks its batch had failed.
        mutating func restoreDependents(of job: JobID, batch: String?, now: Date) {
            var parents = [job]
            if let batch {
                let failedCallbacks = jobs.values.filter {
                    $0.waitedForBatch == batch && $0.state == .dead && $0.attempt == 0 && batchConditions[$0.id] == .allSucceededOrFail
                }
                for callback in failedCallbacks {
                    jobs[callback.id]!.lastError = nil
                    holds[callback.id] = .batch(batch, .allSucceededOrFail)
                    setState(callback.id, .waiting, now: now)
                    parents.append(callback.id)
                }
            }
            while let parent = parents.popLast() {
                let stopped = jobs.values.filter {
                    $0.parentID == parent && $0.state == .cancelled && $0.lastError?.message.hasPrefix(JobFailure.chainStoppedPrefix) == true
                }
                for child in stopped {
                    jobs[child.id]!.lastError = nil
                    holds[child.id] = .parent(parent)
                    setState(child.id, .waiting, now: now)
                    parents.append(child.id)
                }
            }
        }

        /// A parent finished: its waiting children start, or are cancelled with the reason.
        mutating func settleChildren(of parent: JobID, state: JobState, now: Date) {
            let children = holds.compactMap { id, hold -> JobID? in
                if case .parent(let waitedFor) = hold, waitedFor == parent { return id }
                return nil
            }.sorted()
            for child in children {
                holds[child] = nil
                if state == .succeeded {
                    jobs[child]?.runAt = now
                    setState(child, .ready, now: now)
                } else {
                    let reason = jobs[parent]?.lastError?.message
                    jobs[child]?.lastError = .chainStopped(parent: parent, state: state, reason: reason)
                    setState(child, .cancelled, now: now)
                }
            }
        }

        /// The one place a job changes state: batch counters, callbacks and chains follow it.
        mutating func setState(_ id: JobID, _ state: JobState, now: Date, verdict: CircuitVerdict = .neutral) {
            guard var record = jobs[id], record.state != state else { return }
            let old = record.state
            record.state = state
            if state.isFinal { record.finishedAt = now } else if old.isFinal { record.finishedAt = nil }
            if state == .dead || state == .cancelled, let key = record.uniqueKey, uniqueHolders[key] == id {
                uniqueHolders[key] = nil
            }
            jobs[id] = record
            if state == .ready { madeWorkReady = true }
            if old == .ready { unpark(id) }
            if old == .active && !record.limitKeys.isEmpty { freeSlots(of: record, verdict: verdict, now: now.storeMicroseconds) }
            if state == .active { for key in record.limitKeys { cells[key, default: LimiterCell()].active += 1 } }
            if state.isFinal { settleChildren(of: id, state: state, now: now) }
            guard let batchID = record.batchID, var stored = batches[batchID] else { return }
            let wasFinished = stored.batch.isFinished
            stored.batch.counts[old, default: 0] -= 1
            stored.batch.counts[state, default: 0] += 1
            if stored.batch.counts[old] == 0 { stored.batch.counts[old] = nil }
            let nowFinished = stored.batch.isFinished
            stored.batch.finishedAt = nowFinished ? (wasFinished ? stored.batch.finishedAt : now) : nil
            batches[batchID] = stored
            if nowFinished && !wasFinished { releaseCallbacks(of: stored.batch, now: now) }
        }

        mutating func releaseCallbacks(of batch: Batch, now: Date) {
            let allSucceeded = batch[.succeeded] == batch.total
            let waiting = holds.compactMap { id, hold -> (JobID, BatchCondition)? in
                if case .batch(let waitedFor, let condition) = hold, waitedFor == batch.id { return (id, condition) }
                return nil
            }.sorted { $0.0 < $1.0 }
            for (id, condition) in waiting {
                switch condition {
                case .allSucceeded where !allSucceeded:
                    continue
                case .allSucceededOrFail where !allSucceeded:
                    holds[id] = nil
                    jobs[id]?.lastError = .chordFailed(batch: batch.id, total: batch.total, succeeded: batch[.succeeded],
                                                       dead: batch[.dead], cancelled: batch[.cancelled])
                    setState(id, .dead, now: now)
                default:
                    holds[id] = nil
                    jobs[id]?.runAt = now
                    setState(id, .ready, now: now)
                }
            }
        }

    }

    private let storage = Mutex(Storage())
    public let workSignal = AsyncSignal()
    public let completionSignal = AsyncSignal()
    /// Where every time this store records or compares comes from.
    public let clock: any StoreClock
    /// Most jobs one ``recoverExpiredLeases()`` or ``purgeStep(_:)`` handles.
    public let stepLimit: Int

    public init(clock: any StoreClock = SystemClock(), stepLimit: Int = 1000) {
        self.clock = clock
        self.stepLimit = max(1, stepLimit)
    }

    /// Runs `body` on the storage and wakes workers if it made work ready.
    private func mutate<T>(_ body: (inout Storage) throws -> T) rethrows -> T {
        let (result, wake) = try storage.withLock { storage -> (T, Bool) in
            storage.madeWorkReady = false
            let result = try body(&storage)
            return (result, storage.madeWorkReady)
        }
        if wake { workSignal.notify() }
        return result
    }

    public func enqueue(_ jobs: [NewJob]) async throws -> [EnqueueResult] {
        let now = clock.now()
        try NewJob.validateDependencies(jobs)
        let results = try mutate { storage in try storage.enqueue(jobs, now: now).get() }
        workSignal.notify()
        return results
    }

    public func claim(queues: [String], limit: Int, lease: Duration, workerID: String) async throws -> [ClaimedJob] {
        let now = clock.now()
        let expiry = now.addingTimeInterval(lease.seconds)
        let stepLimit = self.stepLimit
        return storage.withLock { storage in
            // Due scheduled and retrying jobs of the claimed queues become ready first, so they
            // take their place in line: the earliest due first, a bounded number per claim.
            for queue in queues where !storage.paused.contains(queue) {
                let due = storage.jobs.values
                    .filter { $0.queue == queue && ($0.state == .scheduled || $0.state == .retrying) && $0.runAt <= now }
                    .sorted { ($0.runAt, $0.id) < ($1.runAt, $1.id) }
                    .prefix(stepLimit)
                for job in due { storage.setState(job.id, .ready, now: now) }
            }
            let nowMicros = now.storeMicroseconds
            storage.unparkDue(now: nowMicros, stepLimit: stepLimit)
            var claimed: [ClaimedJob] = []
            for queue in queues where !storage.paused.contains(queue) && claimed.count < limit {
                let candidates = storage.jobs.values
                    .filter { $0.queue == queue && $0.state == .ready && storage.parkedOn[$0.id] == nil }
                    .sorted { ($0.priority, $1.id) > ($1.priority, $0.id) }
                // Jobs whose key is at its limit are set aside, at most `stepLimit` per queue per call.
                var setAside = 0
                for candidate in candidates where claimed.count < limit && setAside < stepLimit {
                    if !candidate.limitKeys.isEmpty {
                        if let (key, until) = storage.blocking(candidate.limitKeys, now: nowMicros) {
                            storage.park(candidate.id, on: key, until: until ?? nowMicros + LimitSettings.recheckMicroseconds)
                            setAside += 1
                            continue
                        }
                        storage.started(candidate.limitKeys, now: nowMicros, job: candidate.id)
                    }
                    storage.setState(candidate.id, .active, now: now)
                    var record = storage.jobs[candidate.id]!
                    record.attempt += 1
                    storage.leaseTokens[record.id, default: 0] += 1
                    record.startedAt = now
                    record.workerID = workerID
                    record.leaseExpiresAt = expiry
                    storage.jobs[record.id] = record
                    claimed.append(ClaimedJob(
                        id: record.id, name: record.name, queue: record.queue, payload: record.payload,
                        priority: record.priority, attempt: record.attempt, maxAttempts: record.maxAttempts,
                        timeout: record.timeout, batchID: record.batchID, createdAt: record.createdAt, leaseExpiresAt: expiry,
                        leaseToken: storage.leaseTokens[record.id]!, parentID: record.parentID, waitedForBatch: record.waitedForBatch,
                        headers: record.headers, limitKeys: record.limitKeys))
                }
            }
            return claimed
        }
    }

    private static func holds(_ storage: Storage, _ lease: JobLease) -> Bool {
        guard let record = storage.jobs[lease.id] else { return false }
        return record.state == .active && storage.leaseTokens[lease.id] == lease.token
    }

    @discardableResult
    public func complete(_ outcomes: [JobOutcome]) async throws -> [JobLease] {
        let now = clock.now()
        var retried = false
        var fenced: [JobLease] = []
        mutate { storage in
            for outcome in outcomes {
                guard Self.holds(storage, outcome.lease) else {
                    fenced.append(outcome.lease)
                    continue
                }
                let id = outcome.lease.id
                storage.jobs[id]!.leaseExpiresAt = nil
                let verdict = outcome.circuitVerdict
                switch outcome.result {
                case .succeeded(let output):
                    storage.jobs[id]!.result = output
                    storage.setState(id, .succeeded, now: now, verdict: verdict)
                case .failed(let failure, let retryAfter):
                    storage.jobs[id]!.lastError = failure
                    if let retryAfter {
                        storage.jobs[id]!.runAt = now.addingTimeInterval(max(.zero, retryAfter).seconds)
                        storage.setState(id, .retrying, now: now, verdict: verdict)
                        retried = true
                    } else {
                        storage.setState(id, .dead, now: now, verdict: verdict)
                    }
                case .deferred(let delay, let keys, let reason):
                    let until = now.addingTimeInterval(max(.zero, delay).seconds)
                    for key in keys {
                        var cell = storage.cells[key] ?? LimiterCell()
                        cell.blockedUntil = max(cell.blockedUntil, until.storeMicroseconds)
                        storage.cells[key] = cell
                        if storage.parked[key] != nil { storage.limitWakes[key] = min(storage.limitWakes[key] ?? .max, until.storeMicroseconds) }
                    }
                    storage.jobs[id]!.attempt -= 1
                    storage.jobs[id]!.lastError = JobFailure.deferred(for: delay, keys: keys, reason: reason)
                    storage.jobs[id]!.runAt = until
                    storage.setState(id, .retrying, now: now)
                    retried = true
                }
            }
        }
        if retried { workSignal.notify() }
        completionSignal.notify()
        return fenced
    }

    @discardableResult
    public func heartbeat(_ leases: [JobLease], lease: Duration) async throws -> [JobLease] {
        let expiry = clock.now().addingTimeInterval(lease.seconds)
        return storage.withLock { storage in
            leases.filter { lease in
                guard let record = storage.jobs[lease.id], storage.leaseTokens[lease.id] == lease.token else { return true }
                switch record.state {
                case .active:
                    storage.jobs[lease.id]!.leaseExpiresAt = expiry
                    return false
                case .succeeded, .retrying, .dead:
                    // Its own outcome was written while this call was on its way: not lost.
                    // (Recovery moves the token on, so a job it declared dead is not this.)
                    return false
                default:
                    return true
                }
            }
        }
    }

    public func release(_ leases: [JobLease]) async throws {
        let now = clock.now()
        mutate { storage in
            for lease in leases where Self.holds(storage, lease) {
                storage.jobs[lease.id]!.attempt -= 1
                storage.jobs[lease.id]!.leaseExpiresAt = nil
                storage.jobs[lease.id]!.workerID = nil
                storage.setState(lease.id, .ready, now: now)
            }
        }
    }

    @discardableResult
    public func recoverExpiredLeases() async throws -> Int {
        let now = clock.now()
        let limit = stepLimit
        let count = mutate { storage in
            let expired = storage.jobs.values.filter { $0.state == .active && ($0.leaseExpiresAt ?? now) < now }
                .sorted { $0.id < $1.id }.prefix(limit)
            for record in expired {
                // The lease is over: its holder's heartbeats and outcomes no longer count.
                storage.leaseTokens[record.id, default: 0] += 1
                storage.jobs[record.id]!.lastError = JobFailure.leaseExpired(worker: record.workerID)
                storage.jobs[record.id]!.leaseExpiresAt = nil
                storage.jobs[record.id]!.runAt = now
                storage.setState(record.id, record.attempt >= record.maxAttempts ? .dead : .ready, now: now)
            }
            return expired.count
        }
        if count > 0 { completionSignal.notify() }
        return count
    }

    @discardableResult
    public func cancel(_ ids: [JobID]) async throws -> [JobID] {
        let now = clock.now()
        let cancelled = mutate { storage in
            ids.filter { id in
                guard let record = storage.jobs[id], JobState.cancellable.contains(record.state) else { return false }
                storage.holds[id] = nil
                storage.setState(id, .cancelled, now: now)
                return true
            }
        }
        completionSignal.notify()
        return cancelled
    }

    @discardableResult
    public func retry(_ ids: [JobID]) async throws -> [JobID] {
        let now = clock.now()
        return mutate { storage in
            ids.filter { id in
                guard let record = storage.jobs[id], record.state == .dead || record.state == .cancelled else { return false }
                // A chain step runs only after its parent succeeded: it waits for a parent still
                // on its way, and stays put behind one that ended dead or cancelled.
                let parentState = record.parentID.flatMap { storage.jobs[$0]?.state }
                if let parentState, parentState != .succeeded, parentState.isFinal { return false }
                if let key = record.uniqueKey {
                    if let holder = storage.uniqueHolders[key], holder != id { return false }
                    storage.uniqueHolders[key] = id
                }
                storage.jobs[id]!.attempt = 0
                storage.jobs[id]!.runAt = now
                if let parent = record.parentID, parentState != .succeeded, parentState != nil {
                    storage.holds[id] = .parent(parent)
                    storage.setState(id, .waiting, now: now)
                } else {
                    storage.setState(id, .ready, now: now)
                }
                storage.restoreDependents(of: id, batch: record.batchID, now: now)
                return true
            }
        }
    }

    public func pause(queue: String) async throws {
        _ = storage.withLock { $0.paused.insert(queue) }
    }

    public func resume(queue: String) async throws {
        _ = storage.withLock { $0.paused.remove(queue) }
        workSignal.notify()
    }

    public func purgeStep(_ request: PurgeRequest, from cursor: String?) async throws -> PurgeStep {
        let after = cursor.flatMap { Int64($0) }.map { JobID($0) } ?? JobID(0)
        let now = clock.now()
        let cutoff = request.olderThan.map { now.addingTimeInterval(-$0.seconds) }
        let limit = stepLimit
        let step = mutate { storage in
            let matching = storage.jobs.values.filter { record in
                record.id > after && request.states.contains(record.state) && record.state != .active
                    && (request.queue == nil || record.queue == request.queue)
                    && (cutoff.map { (record.finishedAt ?? record.createdAt) < $0 } ?? true)
            }.sorted { $0.id < $1.id }
            let doomed = matching.prefix(limit)
            for record in doomed {
                // An unfinished job leaves as if cancelled: what waits on it is settled and its
                // batch counts it as cancelled. Finished jobs stay in their batch's counts (history).
                if !record.state.isFinal { storage.setState(record.id, .cancelled, now: now) }
            }
            for record in doomed {
                storage.jobs[record.id] = nil
                storage.holds[record.id] = nil
                if let key = record.uniqueKey, storage.uniqueHolders[key] == record.id { storage.uniqueHolders[key] = nil }
            }
            return PurgeStep(deleted: doomed.count, cursor: matching.count > doomed.count ? doomed.last.map { String($0.id.rawValue) } : nil)
        }
        if step.deleted > 0 { completionSignal.notify() }
        return step
    }

    public func job(_ id: JobID) async throws -> JobRecord? {
        storage.withLock { $0.jobs[id] }
    }

    public func jobs(_ query: JobQuery) async throws -> [JobRecord] {
        storage.withLock { storage in
            storage.jobs.values
                .filter { record in
                    query.matches(record) && (query.after.map { query.newestFirst ? record.id < $0 : record.id > $0 } ?? true)
                }
                .sorted { query.newestFirst ? $0.id > $1.id : $0.id < $1.id }
                .prefix(query.limit)
                .map { record in
                    guard !query.includePayloads else { return record }
                    var bare = record
                    bare.payload = Data()
                    bare.result = nil
                    return bare
                }
        }
    }

    public func queueStats() async throws -> [QueueStats] {
        storage.withLock { storage in
            var stats: [String: QueueStats] = [:]
            for queue in storage.knownQueues.union(storage.paused) {
                stats[queue] = QueueStats(queue: queue, paused: storage.paused.contains(queue))
            }
            for record in storage.jobs.values {
                stats[record.queue, default: QueueStats(queue: record.queue)].counts[record.state, default: 0] += 1
            }
            return stats.values.sorted { $0.queue < $1.queue }
        }
    }

    @discardableResult
    public func createBatch(_ new: NewBatch) async throws -> Batch {
        try new.validate()
        let now = clock.now()
        return mutate { storage in
            if let existing = storage.batches[new.id] { return existing.batch }
            storage.ensureBatch(new.id, name: new.name, now: now)
            // Callbacks are not members of the batch they wait for; one may be a member of an
            // outer batch (a batch of chords).
            if let job = new.onSuccess {
                storage.batches[new.id]!.batch.onSuccessJob = storage.insertDependent(job, on: .batch(new.id, .allSucceeded), now: now)
            }
            if let job = new.onComplete {
                storage.batches[new.id]!.batch.onCompleteJob = storage.insertDependent(job, on: .batch(new.id, .allFinished), now: now)
            }
            return storage.batches[new.id]!.batch
        }
    }

    public func batch(_ id: String) async throws -> Batch? {
        storage.withLock { $0.batches[id]?.batch }
    }

    public func batches(limit: Int) async throws -> [Batch] {
        storage.withLock { storage in
            storage.batches.values.sorted { $0.sequence > $1.sequence }.prefix(limit).map(\.batch)
        }
    }

    @discardableResult
    public func recoverBatch(_ id: String, onlyRetryable: Bool) async throws -> [JobID] {
        let dead = try await allJobs(JobQuery(states: [.dead], batchID: id))
            .filter { !onlyRetryable || $0.lastError?.kind != .permanent }
        return try await retry(dead.map(\.id))
    }

    public func registerWorker(_ worker: WorkerInfo) async throws {
        var worker = worker
        worker.lastSeenAt = clock.now()
        storage.withLock { $0.workers[worker.id] = worker }
    }

    public func unregisterWorker(id: String) async throws {
        _ = storage.withLock { $0.workers.removeValue(forKey: id) }
    }

    public func workers(seenWithin age: Duration) async throws -> [WorkerInfo] {
        let since = clock.now().addingTimeInterval(-age.seconds)
        return storage.withLock { storage in
            storage.workers.values.filter { $0.lastSeenAt >= since }.sorted { $0.id < $1.id }
        }
    }

    public func timeUntilNextDue(queues: [String]) async throws -> Duration? {
        let now = clock.now()
        let due = storage.withLock { storage in
            storage.jobs.values
                .filter { ($0.state == .scheduled || $0.state == .retrying) && queues.contains($0.queue) && !storage.paused.contains($0.queue) }
                .map(\.runAt)
                .min()
                .map { min($0, storage.limitWakes.values.min().map(Date.init(storeMicroseconds:)) ?? $0) }
                ?? storage.limitWakes.values.min().map(Date.init(storeMicroseconds:))
        }
        return due.map { Duration.seconds(max(0, $0.timeIntervalSince(now))) }
    }

    // MARK: Flow control

    public func setLimit(_ pattern: String, _ settings: LimitSettings) async throws {
        try Self.validateRule(pattern, settings)
        let now = clock.now()
        storage.withLock { storage in
            storage.limitRules[pattern] = LimitRule(pattern: pattern, settings: settings, updatedAt: now)
            storage.rulesChanged(now: now.storeMicroseconds)
        }
        workSignal.notify()
    }

    @discardableResult
    public func removeLimit(_ pattern: String) async throws -> Bool {
        let now = clock.now().storeMicroseconds
        let removed = storage.withLock { storage in
            guard storage.limitRules.removeValue(forKey: pattern) != nil else { return false }
            storage.rulesChanged(now: now)
            return true
        }
        if removed { workSignal.notify() }
        return removed
    }

    public func limitRules() async throws -> [LimitRule] {
        storage.withLock { $0.limitRules.values.sorted { $0.pattern < $1.pattern } }
    }

    public func limitStates(_ keys: [String]) async throws -> [LimitKeyState] {
        let now = clock.now().storeMicroseconds
        return storage.withLock { storage in
            keys.map { key in
                let cell = storage.cell(key, now: now)
                let rule = storage.rule(for: key)
                return LimitKeyState(key: key, rule: rule?.pattern, cell: cell, settings: rule?.settings,
                                     waiting: storage.parked[key]?.count ?? 0, now: now)
            }
        }
    }

    public func circuitStates(_ keys: [String]) async throws -> [CircuitState] {
        let now = clock.now().storeMicroseconds
        return storage.withLock { storage in keys.map { storage.circuitState($0, now: now) } }
    }

    public func circuits(after key: String?, limit: Int) async throws -> [CircuitState] {
        let now = clock.now().storeMicroseconds
        return storage.withLock { storage in
            storage.circuitStats.keys.filter { key == nil || $0 > key! }.sorted().prefix(max(0, limit)).map { storage.circuitState($0, now: now) }
        }
    }

    public func circuitHistory(_ key: String, limit: Int) async throws -> [CircuitTransition] {
        storage.withLock { Array(($0.circuitLog[key] ?? []).reversed().prefix(max(0, limit))) }
    }

    @discardableResult
    public func changeCircuit(_ key: String, _ action: CircuitAction, reason: String) async throws -> CircuitState {
        if let problem = LimitKey.problem(with: key) { throw ConveyorError.invalidLimit(problem) }
        let now = clock.now().storeMicroseconds
        let state = try storage.withLock { storage -> CircuitState in
            let settings = storage.settings(for: key)
            var cell = storage.cells[key] ?? LimiterCell()
            if action != .open && !settings.knowsCircuit(cell, hasOutcomes: storage.circuitStats[key] != nil) {
                throw Self.unknownCircuit(key, known: storage.circuitStats.keys.sorted())
            }
            var stats = storage.circuitStats[key] ?? CircuitStats()
            let change = settings.circuitChanged(&cell, &stats, by: action, reason: reason)
            storage.cells[key] = cell.isIdle(now: now) ? nil : cell
            storage.circuitStats[key] = stats
            storage.log(change, key: key, now: now)
            if storage.parked[key] != nil { storage.limitWakes[key] = now }
            return storage.circuitState(key, now: now)
        }
        workSignal.notify()
        return state
    }

    // MARK: Coordination

    public func acquireLeadership(_ name: String, holder: String, ttl: Duration) async throws -> Leadership? {
        let now = clock.now()
        return storage.withLock { storage in
            if let current = storage.leaderships[name], current.expiresAt > now, current.holder != holder { return nil }
            var token = storage.leaderships[name].flatMap { $0.holder == holder && $0.expiresAt > now ? $0.token : nil } ?? 0
            if token == 0 {
                token = storage.leadershipTokens[name, default: 0] + 1
                storage.leadershipTokens[name] = token
            }
            let granted = Leadership(name: name, holder: holder, token: token, expiresAt: now.addingTimeInterval(ttl.seconds))
            storage.leaderships[name] = granted
            return granted
        }
    }

    public func releaseLeadership(_ leadership: Leadership) async throws {
        storage.withLock { storage in
            if storage.leaderships[leadership.name]?.token == leadership.token { storage.leaderships[leadership.name] = nil }
        }
    }

    public func record(_ key: String) async throws -> VersionedRecord? {
        storage.withLock { $0.records[key] }
    }

    public func compareAndSet(_ key: String, expectedVersion: Int?, value: Data) async throws -> VersionedRecord? {
        storage.withLock { storage in
            guard storage.records[key]?.version == expectedVersion else { return nil }
            let written = VersionedRecord(key: key, value: value, version: (expectedVersion ?? 0) + 1)
            storage.records[key] = written
            return written
        }
    }

    public func fire(_ fires: [ScheduleFire], as leadership: Leadership) async throws -> [FireResult] {
        for fire in fires { try NewJob.validateDependencies(fire.jobs) }
        let now = clock.now()
        let results = try mutate { storage -> [FireResult] in
            guard let current = storage.leaderships[leadership.name], current.token == leadership.token, current.expiresAt > now else {
                throw ConveyorError.notLeader(leadership.name)
            }
            try Self.checkParents(fires, storage)
            var results: [FireResult] = []
            for fire in fires {
                if let version = fire.version, storage.schedules[fire.schedule]?.version != version {
                    results.append(.outdated(version: storage.schedules[fire.schedule]?.version))
                    continue
                }
                if let last = storage.firedSlots[fire.schedule], last >= fire.slot {
                    results.append(.alreadyFired(lastSlot: last))
                    continue
                }
                storage.firedSlots[fire.schedule] = fire.slot
                let made = try storage.enqueue(fire.jobs, now: now).get()
                if fire.version != nil { storage.schedules[fire.schedule]?.nextFire = fire.nextFire }
                storage.addHistory(.of(fire, slot: fire.slot, firedAt: now, results: made), of: fire.schedule)
                results.append(.fired(made))
            }
            return results
        }
        if results.contains(where: { if case .fired(let made) = $0 { !made.isEmpty } else { false } }) { workSignal.notify() }
        return results
    }

    /// Nothing is written unless every fire can be: a missing parent fails the call.
    private static func checkParents(_ fires: [ScheduleFire], _ storage: Storage) throws {
        for fire in fires {
            for job in fire.jobs {
                if case .job(let parent)? = job.dependsOn, storage.jobs[parent] == nil { throw ConveyorError.jobNotFound(parent) }
            }
        }
    }

    public func fireNow(_ fire: ScheduleFire) async throws -> FireResult {
        try NewJob.validateDependencies(fire.jobs)
        let now = clock.now()
        let result = try mutate { storage -> FireResult in
            try Self.checkParents([fire], storage)
            if let version = fire.version, storage.schedules[fire.schedule]?.version != version {
                return .outdated(version: storage.schedules[fire.schedule]?.version)
            }
            let made = try storage.enqueue(fire.jobs, now: now).get()
            var entry = ScheduleFireRecord.of(fire, slot: now, firedAt: now, results: made)
            entry.outcome = .ranNow
            storage.addHistory(entry, of: fire.schedule)
            return .fired(made)
        }
        if case .fired(let made) = result, !made.isEmpty { workSignal.notify() }
        return result
    }

    public func lastFiredSlot(_ schedule: String) async throws -> Date? {
        storage.withLock { $0.firedSlots[schedule] }
    }

    public func saveSchedule(_ schedule: Schedule, if condition: WriteCondition) async throws -> StoredSchedule? {
        try schedule.validate()
        let now = clock.now()
        return storage.withLock { storage -> StoredSchedule? in
            guard condition.admits(storage.schedules[schedule.name]?.version) else { return nil }
            storage.scheduleVersion += 1
            let created = storage.schedules[schedule.name]?.createdAt ?? now
            storage.schedules[schedule.name] = StoredSchedule(
                schedule: schedule, version: storage.scheduleVersion, createdAt: created, updatedAt: now,
                nextFire: schedule.isIndexed ? now : nil)
            return storage.stored(schedule.name)
        }
    }

    public func schedule(named name: String) async throws -> StoredSchedule? {
        storage.withLock { $0.stored(name) }
    }

    public func schedules(after name: String?, limit: Int) async throws -> [StoredSchedule] {
        storage.withLock { storage in
            storage.schedules.keys.filter { name == nil || $0 > name! }.sorted().prefix(max(0, limit)).compactMap { storage.stored($0) }
        }
    }

    public func removeSchedule(named name: String, if condition: WriteCondition) async throws -> Bool {
        storage.withLock { storage in
            guard let current = storage.schedules[name]?.version, condition.admits(current) else { return false }
            storage.schedules[name] = nil
            storage.fireHistory[name] = nil
            return true
        }
    }

    public func dueSchedules(limit: Int) async throws -> DueSchedules {
        let now = clock.now()
        return storage.withLock { storage in
            let indexed = storage.schedules.values.compactMap { stored in stored.nextFire.map { (stored.schedule.name, $0) } }
                .sorted { ($0.1, $0.0) < ($1.1, $1.0) }
            let due = indexed.prefix { $0.1 <= now }.prefix(max(0, limit))
            return DueSchedules(now: now, schedules: due.compactMap { storage.stored($0.0) },
                                nextFire: indexed.dropFirst(due.count).first?.1)
        }
    }

    public func reschedule(_ changes: [ScheduleReschedule], as leadership: Leadership) async throws -> [Bool] {
        let now = clock.now()
        return try storage.withLock { storage in
            guard let current = storage.leaderships[leadership.name], current.token == leadership.token, current.expiresAt > now else {
                throw ConveyorError.notLeader(leadership.name)
            }
            return changes.map { change in
                guard storage.schedules[change.schedule]?.version == change.version else { return false }
                storage.schedules[change.schedule]?.nextFire = change.nextFire
                return true
            }
        }
    }

    public func fireHistory(of schedule: String, limit: Int) async throws -> [ScheduleFireRecord] {
        storage.withLock { Array(($0.fireHistory[schedule] ?? []).reversed().prefix(max(0, limit))) }
    }
}
