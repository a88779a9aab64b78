import Foundation

/// What a worker needs from a store: enqueue, claim, complete, heartbeat, release, recover
/// and wait. SQLite, Redis, PostgreSQL and the in-memory store for tests implement it, and
/// opt into the capabilities below.
///
/// Every operation is atomic and takes arrays, so one round trip serves many jobs.
/// Delivery is at least once: a claimed job holds a lease that heartbeats extend; a lease
/// that expires puts the job back (``recoverExpiredLeases()``) with the attempt counted.
///
/// Time comes from the store: every instant it records or compares is read from its own
/// clock (``StoreClock``; Redis's `TIME`), inside the same atomic step. Callers pass
/// durations (a lease, a retry delay, an age), never an instant they read themselves, so
/// workers on machines whose clocks disagree still agree on every lease.
public protocol JobQueueStore: Sendable {
    /// Stores the jobs, in order, in one atomic step. Jobs with a `runAt` or `delay` in the
    /// future start `scheduled`; a unique key already held returns `.duplicate` with the
    /// holder's id.
    func enqueue(_ jobs: [NewJob]) async throws -> [EnqueueResult]

    /// Claims up to `limit` jobs from `queues` (in the order given; priority, then FIFO,
    /// within a queue), skipping paused queues and promoting due scheduled and retrying jobs.
    /// Each claimed job counts an attempt and holds a lease for `lease` from the moment the
    /// store grants it.
    func claim(queues: [String], limit: Int, lease: Duration, workerID: String) async throws -> [ClaimedJob]

    /// Records outcomes. An outcome whose lease is no longer held (it expired and the job
    /// was recovered, or a newer claim holds it) is ignored: the newer attempt decides.
    /// Returns the leases of the outcomes it ignored (fenced).
    @discardableResult
    func complete(_ outcomes: [JobOutcome]) async throws -> [JobLease]

    /// Extends, to `lease` from now, the leases still held; returns those that are not.
    ///
    /// A lease is held while its claim is the job's latest (its token is the job's) and the job
    /// has not been handed back or recovered since: an active job, or one whose outcome this
    /// very lease just wrote (a heartbeat racing its own completion has lost nothing). A lease
    /// whose job was recovered (back to ready, or dead after its last attempt), released, or
    /// claimed again is lost.
    @discardableResult
    func heartbeat(_ leases: [JobLease], lease: Duration) async throws -> [JobLease]

    /// Hands claimed, unstarted jobs back to `ready` without counting the attempt.
    func release(_ leases: [JobLease]) async throws

    /// Returns jobs whose lease expired (by the store's clock) to `ready`, or `dead` after
    /// their last attempt, at most a bounded number per call. Returns how many were recovered.
    @discardableResult
    func recoverExpiredLeases() async throws -> Int

    /// How long, by the store's clock, until the next scheduled or retrying job in `queues`
    /// is due (zero when one is due already); `nil` when none is waiting.
    func timeUntilNextDue(queues: [String]) async throws -> Duration?

    /// Notified when work may have arrived (an enqueue, a retry, a resume, a release) in
    /// this process. Spurious wake-ups are allowed; busy polling is not. Workers wait with
    /// ``waitForWork(queues:after:timeout:claimingUpTo:lease:workerID:)``, which also hears
    /// other processes.
    var workSignal: AsyncSignal { get }

    /// Waits until work may have arrived in `queues`, from this process or any other, until
    /// `workSignal` moves past `generation`, or for at most `timeout`. A store that can wait
    /// and claim in one round trip (Redis: a blocking pop pipelined with the claim) returns
    /// the jobs it claimed as the wait ended, as ``claim(queues:limit:lease:workerID:)``
    /// would, their leases starting when the claim ran; otherwise it returns none and the
    /// caller claims.
    func waitForWork(
        queues: [String], after generation: UInt64, timeout: Duration,
        claimingUpTo limit: Int, lease: Duration, workerID: String
    ) async throws -> [ClaimedJob]
}

/// Changing jobs and queues by hand: cancel, retry, pause, resume, purge.
public protocol JobAdministration: JobQueueStore {
    /// Cancels unfinished jobs that are not active. Returns the ids cancelled.
    @discardableResult
    func cancel(_ ids: [JobID]) async throws -> [JobID]

    /// Makes dead or cancelled jobs ready again with fresh attempts. Returns the ids moved.
    @discardableResult
    func retry(_ ids: [JobID]) async throws -> [JobID]

    func pause(queue: String) async throws
    func resume(queue: String) async throws

    /// Deletes finished (or any non-active) jobs, at most a bounded number per call, going on
    /// from `cursor` (a previous step's ``PurgeStep/cursor``; `nil` to start). Returns how many
    /// were deleted and where to go on (`nil` when done). Active jobs are never purged,
    /// whatever the request says.
    func purgeStep(_ request: PurgeRequest, from cursor: String?) async throws -> PurgeStep
}

/// Reading jobs, queues and their counts.
public protocol JobInspection: Sendable {
    func job(_ id: JobID) async throws -> JobRecord?
    func jobs(_ query: JobQuery) async throws -> [JobRecord]
    func queueStats() async throws -> [QueueStats]

    /// Notified when jobs may have finished.
    var completionSignal: AsyncSignal { get }
}

/// Batches (submissions) with their counters and callbacks.
public protocol BatchStore: JobQueueStore {
    /// Creates a batch with its callbacks (held as `waiting` jobs until the batch finishes).
    /// Creating a batch that exists returns it unchanged. Enqueueing a job with an unknown
    /// batch id creates a plain batch.
    @discardableResult
    func createBatch(_ batch: NewBatch) async throws -> Batch
    func batch(_ id: String) async throws -> Batch?
    /// Batches, newest first.
    func batches(limit: Int) async throws -> [Batch]
    /// Makes the batch's dead members ready again with fresh attempts; with
    /// `onlyRetryable`, only those whose last error was retryable. Returns the ids moved.
    @discardableResult
    func recoverBatch(_ id: String, onlyRetryable: Bool) async throws -> [JobID]
}

/// The workers a store has seen.
public protocol WorkerRegistry: Sendable {
    /// Records that a worker is alive (and what it runs), its last-seen time from the store's
    /// clock. Called at start and on every heartbeat.
    func registerWorker(_ worker: WorkerInfo) async throws
    /// Forgets a worker that stopped cleanly.
    func unregisterWorker(id: String) async throws
    /// Workers seen within `age` of now, by the store's clock.
    func workers(seenWithin age: Duration) async throws -> [WorkerInfo]
}

/// Everything the stores of this package implement: the core a worker needs plus every
/// capability. Code that needs only part of it names the part (`any JobQueueStore &
/// WorkerRegistry`), so a store that lacks a capability can still run workers.
public typealias JobBackend = JobQueueStore & JobAdministration & JobInspection & BatchStore & WorkerRegistry

/// What one ``JobAdministration/purgeStep(_:)`` did.
public struct PurgeStep: Sendable, Hashable {
    public var deleted: Int
    /// Where the next step goes on; `nil` when nothing is left.
    public var cursor: String?
    public init(deleted: Int, cursor: String?) {
        self.deleted = deleted
        self.cursor = cursor
    }
}

extension JobAdministration {
    /// Deletes every job the request matches, in bounded steps (each its own store call), so
    /// no single call holds the store for long. Returns how many were deleted.
    @discardableResult
    public func purge(_ request: PurgeRequest) async throws -> Int {
        var deleted = 0
        var cursor: String?
        while true {
            let step = try await purgeStep(request, from: cursor)
            deleted += step.deleted
            guard let next = step.cursor else { return deleted }
            cursor = next
            try Task.checkCancellation()
        }
    }
}

extension JobQueueStore {
    /// Waits on `workSignal` (which a store that hears other processes notifies for them)
    /// and claims nothing.
    public func waitForWork(
        queues: [String], after generation: UInt64, timeout: Duration,
        claimingUpTo limit: Int, lease: Duration, workerID: String
    ) async throws -> [ClaimedJob] {
        await workSignal.wait(after: generation, timeout: timeout)
        return []
    }

    public func enqueue(_ job: NewJob) async throws -> EnqueueResult {
        try await enqueue([job])[0]
    }

}

extension JobInspection {
    /// Waits until the job is finished (succeeded, dead or cancelled) and returns its record.
    public func waitUntilFinished(_ id: JobID, timeout: Duration? = nil) async throws -> JobRecord {
        let clock = ContinuousClock()
        let deadline = timeout.map { clock.now + $0 }
        while true {
            let generation = completionSignal.generation
            guard let record = try await job(id) else { throw ConveyorError.jobNotFound(id) }
            if record.state.isFinal { return record }
            if let deadline, clock.now >= deadline { throw ConveyorError.timedOut(waitingFor: "job \(id)") }
            try Task.checkCancellation()
            await completionSignal.wait(after: generation, timeout: .milliseconds(500))
        }
    }

    /// Every job matching `query` (its `limit` and `after` ignored), read page by page.
    ///
    /// It loads them all: for a listing that may be large, page with ``jobs(_:)`` instead.
    public func allJobs(_ query: JobQuery) async throws -> [JobRecord] {
        var all: [JobRecord] = []
        try await forEachPage(of: query) { all += $0 }
        return all
    }

    /// Reads the jobs matching `query` a page at a time (its `after` is where to start;
    /// its `limit`, the page size), handing each page to `body`.
    public func forEachPage(of query: JobQuery, _ body: ([JobRecord]) async throws -> Void) async throws {
        var query = query
        query.limit = max(1, min(query.limit, 1000))
        while true {
            let page = try await jobs(query)
            if !page.isEmpty { try await body(page) }
            guard page.count == query.limit, let last = page.last else { return }
            query.after = last.id
            try Task.checkCancellation()
        }
    }
}

extension JobInspection where Self: BatchStore {
    /// Waits until every job of `batchID` is finished and returns the batch.
    public func waitUntilBatchFinished(_ batchID: String, timeout: Duration? = nil) async throws -> Batch {
        let clock = ContinuousClock()
        let deadline = timeout.map { clock.now + $0 }
        while true {
            let generation = completionSignal.generation
            let batch = try await batch(batchID) ?? Batch(id: batchID)
            if batch.isFinished { return batch }
            if let deadline, clock.now >= deadline { throw ConveyorError.timedOut(waitingFor: "batch \(batchID)") }
            try Task.checkCancellation()
            await completionSignal.wait(after: generation, timeout: .milliseconds(500))
        }
    }

    /// The batch now and after every change, until it finishes.
    public func progress(ofBatch id: String) -> AsyncThrowingStream<Batch, any Error> {
        AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    var last: Batch?
                    while !Task.isCancelled {
                        let generation = completionSignal.generation
                        guard let batch = try await batch(id) else { throw ConveyorError.batchNotFound(id) }
                        if batch != last { continuation.yield(batch) }
                        last = batch
                        if batch.isFinished { break }
                        // Claims and retries move counters too; completions are what finish a batch.
                        await completionSignal.wait(after: generation, timeout: .milliseconds(500))
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }
}

extension JobAdministration where Self: JobInspection {
    /// Cancels every member of the batch that has not started (running ones finish), a page
    /// of at most 1,000 per store call. Returns how many were cancelled.
    @discardableResult
    public func cancelBatch(_ id: String) async throws -> Int {
        var cancelled = 0
        try await forEachPage(of: JobQuery(states: JobState.cancellable, batchID: id, limit: 1000)) { page in
            cancelled += try await cancel(page.map(\.id)).count
        }
        return cancelled
    }

    /// Makes every dead job (of `queue` and `batchID`, if given) ready again with fresh
    /// attempts, a page of at most 1,000 per store call. Returns how many were moved and how many stayed (their
    /// unique key was taken by a newer job, or their chain's parent did not succeed).
    public func retryAllDead(queue: String? = nil, batchID: String? = nil) async throws -> (moved: Int, stayed: Int) {
        var moved = 0, stayed = 0
        try await forEachPage(of: JobQuery(states: [.dead], queue: queue, batchID: batchID, limit: 1000)) { page in
            let count = try await retry(page.map(\.id)).count
            moved += count
            stayed += page.count - count
        }
        return (moved, stayed)
    }
}

/// SQL stores: enqueue inside the caller's own transaction, so a job exists exactly when the
/// rows it refers to were committed (no job for a row that was rolled back, no row without
/// its job). The jobs become visible, and workers hear of them, when the transaction commits;
/// a rollback drops them with the caller's rows.
///
/// `Transaction` is the store's handle of an open write transaction: GRDB's `Database` for
/// SQLite (a synchronous call inside `write`), a connection in a transaction for PostgreSQL.
public protocol TransactionalEnqueue<Transaction>: JobQueueStore {
    associatedtype Transaction
    /// Stores the jobs, as ``JobQueueStore/enqueue(_:)`` would, inside `transaction`.
    func enqueue(_ jobs: [NewJob], in transaction: Transaction) async throws -> [EnqueueResult]
}
