import Foundation
import Synchronization

/// A store that keeps everything in this process's memory.
///
/// For unit tests of the engine and in-process pipelines; it is not durable and never a
/// stand-in for a durable store's own tests.
public final class MemoryBackend: JobBackend {
    private struct Storage {
        var nextID: Int64 = 1
        var jobs: [JobID: JobRecord] = [:]
        var uniqueHolders: [String: JobID] = [:]
        var paused: Set<String> = []
        var knownQueues: Set<String> = []
        var workers: [String: WorkerInfo] = [:]
        var batches: [String: Date] = [:]
    }

    private let storage = Mutex(Storage())
    public let workSignal = AsyncSignal()
    public let completionSignal = AsyncSignal()

    public init() {}

    public func enqueue(_ jobs: [NewJob]) async throws -> [EnqueueResult] {
        let now = Date()
        let results = storage.withLock { storage in
            jobs.map { job -> EnqueueResult in
                if let key = job.uniqueKey, let holder = storage.uniqueHolders[key] {
                    return .duplicate(holder)
                }
                let id = JobID(storage.nextID)
                storage.nextID += 1
                let runAt = job.runAt ?? now
                storage.jobs[id] = JobRecord(
                    id: id, name: job.name, queue: job.queue, payload: job.payload, priority: job.priority,
                    state: runAt > now ? .scheduled : .ready, attempt: 0, maxAttempts: job.maxAttempts,
                    timeout: job.timeout, runAt: runAt, createdAt: now, uniqueKey: job.uniqueKey, batchID: job.batchID)
                if let key = job.uniqueKey { storage.uniqueHolders[key] = id }
                storage.knownQueues.insert(job.queue)
                if let batch = job.batchID, storage.batches[batch] == nil { storage.batches[batch] = now }
                return .created(id)
            }
        }
        workSignal.notify()
        return results
    }

    public func claim(queues: [String], limit: Int, lease: Duration, workerID: String) async throws -> [ClaimedJob] {
        let now = Date()
        let expiry = now.addingTimeInterval(lease.seconds)
        return storage.withLock { storage in
            var claimed: [ClaimedJob] = []
            for queue in queues where !storage.paused.contains(queue) && claimed.count < limit {
                let candidates = storage.jobs.values
                    .filter { $0.queue == queue && ($0.state == .ready || (($0.state == .scheduled || $0.state == .retrying) && $0.runAt <= now)) }
                    .sorted { ($0.priority, $1.id) > ($1.priority, $0.id) }
                for candidate in candidates.prefix(limit - claimed.count) {
                    var record = candidate
                    record.state = .active
                    record.attempt += 1
                    record.startedAt = now
                    record.workerID = workerID
                    record.leaseExpiresAt = expiry
                    storage.jobs[record.id] = record
                    claimed.append(ClaimedJob(
                        id: record.id, name: record.name, queue: record.queue, payload: record.payload,
                        priority: record.priority, attempt: record.attempt, maxAttempts: record.maxAttempts,
                        timeout: record.timeout, batchID: record.batchID, createdAt: record.createdAt, leaseExpiresAt: expiry))
                }
            }
            return claimed
        }
    }

    private static func holds(_ record: JobRecord?, _ lease: JobLease) -> Bool {
        guard let record else { return false }
        return record.state == .active && record.attempt == lease.attempt
    }

    public func complete(_ outcomes: [JobOutcome]) async throws {
        let now = Date()
        var retried = false
        storage.withLock { storage in
            for outcome in outcomes where Self.holds(storage.jobs[outcome.lease.id], outcome.lease) {
                var record = storage.jobs[outcome.lease.id]!
                record.leaseExpiresAt = nil
                switch outcome.result {
                case .succeeded(let output):
                    record.state = .succeeded
                    record.result = output
                    record.finishedAt = now
                case .failed(let failure, let retryAt):
                    record.lastError = failure
                    if let retryAt {
                        record.state = .retrying
                        record.runAt = retryAt
                        retried = true
                    } else {
                        record.state = .dead
                        record.finishedAt = now
                        if let key = record.uniqueKey, storage.uniqueHolders[key] == record.id { storage.uniqueHolders[key] = nil }
                    }
                }
                storage.jobs[record.id] = record
            }
        }
        if retried { workSignal.notify() }
        completionSignal.notify()
    }

    public func heartbeat(_ leases: [JobLease], lease: Duration) async throws -> [JobLease] {
        let expiry = Date().addingTimeInterval(lease.seconds)
        return storage.withLock { storage in
            leases.filter { lease in
                guard Self.holds(storage.jobs[lease.id], lease) else { return true }
                storage.jobs[lease.id]!.leaseExpiresAt = expiry
                return false
            }
        }
    }

    public func release(_ leases: [JobLease]) async throws {
        storage.withLock { storage in
            for lease in leases where Self.holds(storage.jobs[lease.id], lease) {
                storage.jobs[lease.id]!.state = .ready
                storage.jobs[lease.id]!.attempt -= 1
                storage.jobs[lease.id]!.leaseExpiresAt = nil
                storage.jobs[lease.id]!.workerID = nil
            }
        }
        workSignal.notify()
    }

    public func recoverExpiredLeases(now: Date) async throws -> Int {
        let count = storage.withLock { storage in
            var count = 0
            for (id, record) in storage.jobs where record.state == .active && (record.leaseExpiresAt ?? now) < now {
                var record = record
                record.lastError = JobFailure(.retryable, "lease expired: worker \(record.workerID ?? "?") stopped heartbeating")
                record.leaseExpiresAt = nil
                if record.attempt >= record.maxAttempts {
                    record.state = .dead
                    record.finishedAt = now
                    if let key = record.uniqueKey, storage.uniqueHolders[key] == id { storage.uniqueHolders[key] = nil }
                } else {
                    record.state = .ready
                    record.runAt = now
                }
                storage.jobs[id] = record
                count += 1
            }
            return count
        }
        if count > 0 {
            workSignal.notify()
            completionSignal.notify()
        }
        return count
    }

    public func cancel(_ ids: [JobID]) async throws -> [JobID] {
        let now = Date()
        let cancelled = storage.withLock { storage in
            ids.filter { id in
                guard var record = storage.jobs[id], [.scheduled, .ready, .retrying].contains(record.state) else { return false }
                record.state = .cancelled
                record.finishedAt = now
                if let key = record.uniqueKey, storage.uniqueHolders[key] == id { storage.uniqueHolders[key] = nil }
                storage.jobs[id] = record
                return true
            }
        }
        completionSignal.notify()
        return cancelled
    }

    public func retry(_ ids: [JobID]) async throws -> [JobID] {
        let now = Date()
        let moved = storage.withLock { storage in
            ids.filter { id in
                guard var record = storage.jobs[id], record.state == .dead || record.state == .cancelled else { return false }
                if let key = record.uniqueKey {
                    if let holder = storage.uniqueHolders[key], holder != id { return false }
                    storage.uniqueHolders[key] = id
                }
                record.state = .ready
                record.attempt = 0
                record.runAt = now
                record.finishedAt = nil
                storage.jobs[id] = record
                return true
            }
        }
        workSignal.notify()
        return moved
    }

    public func pause(queue: String) async throws {
        _ = storage.withLock { $0.paused.insert(queue) }
    }

    public func resume(queue: String) async throws {
        _ = storage.withLock { $0.paused.remove(queue) }
        workSignal.notify()
    }

    public func purge(_ request: PurgeRequest) async throws -> Int {
        storage.withLock { storage in
            let doomed = storage.jobs.values.filter { record in
                request.states.contains(record.state) && record.state != .active
                    && (request.queue == nil || record.queue == request.queue)
                    && (request.olderThan.map { (record.finishedAt ?? record.createdAt) < $0 } ?? true)
            }
            for record in doomed {
                storage.jobs[record.id] = nil
                if let key = record.uniqueKey, storage.uniqueHolders[key] == record.id { storage.uniqueHolders[key] = nil }
            }
            return doomed.count
        }
    }

    public func job(_ id: JobID) async throws -> JobRecord? {
        storage.withLock { $0.jobs[id] }
    }

    public func jobs(_ query: JobQuery) async throws -> [JobRecord] {
        storage.withLock { storage in
            storage.jobs.values
                .filter { record in
                    (query.states.map { $0.contains(record.state) } ?? true)
                        && (query.queue.map { $0 == record.queue } ?? true)
                        && (query.batchID.map { $0 == record.batchID } ?? true)
                        && (query.after.map { record.id > $0 } ?? true)
                }
                .sorted { $0.id < $1.id }
                .prefix(query.limit)
                .map { $0 }
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

    public func batchSummary(_ batchID: String) async throws -> BatchSummary {
        storage.withLock { storage in
            var counts: [JobState: Int] = [:]
            for record in storage.jobs.values where record.batchID == batchID {
                counts[record.state, default: 0] += 1
            }
            return BatchSummary(id: batchID, counts: counts)
        }
    }

    public func batchIDs(limit: Int) async throws -> [String] {
        storage.withLock { storage in
            storage.batches.sorted { $0.value > $1.value }.prefix(limit).map(\.key)
        }
    }

    public func registerWorker(_ worker: WorkerInfo) async throws {
        storage.withLock { $0.workers[worker.id] = worker }
    }

    public func unregisterWorker(id: String) async throws {
        _ = storage.withLock { $0.workers.removeValue(forKey: id) }
    }

    public func workers(seenSince since: Date) async throws -> [WorkerInfo] {
        storage.withLock { storage in
            storage.workers.values.filter { $0.lastSeenAt >= since }.sorted { $0.id < $1.id }
        }
    }

    public func nextDueDate(queues: [String]) async throws -> Date? {
        storage.withLock { storage in
            storage.jobs.values
                .filter { ($0.state == .scheduled || $0.state == .retrying) && queues.contains($0.queue) }
                .map(\.runAt)
                .min()
        }
    }
}
