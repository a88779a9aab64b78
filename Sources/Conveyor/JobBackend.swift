import Foundation

/// The one contract every store implements: SQLite, Redis, PostgreSQL and the in-memory
/// store for tests.
///
/// Every operation is atomic and takes arrays, so one round trip serves many jobs.
/// Delivery is at least once: a claimed job holds a lease that heartbeats extend; a lease
/// that expires puts the job back (``recoverExpiredLeases(now:)``) with the attempt counted.
public protocol JobBackend: Sendable {
    /// Stores the jobs, in order, in one atomic step. Jobs with a `runAt` in the future
    /// start `scheduled`; a unique key already held returns `.duplicate` with the holder's id.
    func enqueue(_ jobs: [NewJob]) async throws -> [EnqueueResult]

    /// Claims up to `limit` jobs from `queues` (in the order given; priority, then FIFO,
    /// within a queue), skipping paused queues and promoting due scheduled and retrying jobs.
    /// Each claimed job counts an attempt and holds a lease until `now + lease`.
    func claim(queues: [String], limit: Int, lease: Duration, workerID: String) async throws -> [ClaimedJob]

    /// Records outcomes. An outcome whose lease is no longer held (it expired and the job
    /// was recovered) is ignored: the newer attempt decides.
    func complete(_ outcomes: [JobOutcome]) async throws

    /// Extends the leases still held; returns those that are not (lost to recovery).
    @discardableResult
    func heartbeat(_ leases: [JobLease], lease: Duration) async throws -> [JobLease]

    /// Hands claimed, unstarted jobs back to `ready` without counting the attempt.
    func release(_ leases: [JobLease]) async throws

    /// Returns jobs whose lease expired to `ready` (or `dead` after their last attempt).
    /// Returns how many were recovered.
    @discardableResult
    func recoverExpiredLeases(now: Date) async throws -> Int

    /// Cancels unfinished jobs that are not active. Returns the ids cancelled.
    @discardableResult
    func cancel(_ ids: [JobID]) async throws -> [JobID]

    /// Makes dead or cancelled jobs ready again with fresh attempts. Returns the ids moved.
    @discardableResult
    func retry(_ ids: [JobID]) async throws -> [JobID]

    func pause(queue: String) async throws
    func resume(queue: String) async throws

    /// Deletes finished (or any non-active) jobs. Returns how many were deleted.
    @discardableResult
    func purge(_ request: PurgeRequest) async throws -> Int

    // MARK: Inspection

    func job(_ id: JobID) async throws -> JobRecord?
    func jobs(_ query: JobQuery) async throws -> [JobRecord]
    func queueStats() async throws -> [QueueStats]

    // MARK: Batches

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

    /// Records that a worker is alive (and what it runs). Called at start and on every heartbeat.
    func registerWorker(_ worker: WorkerInfo) async throws
    /// Forgets a worker that stopped cleanly.
    func unregisterWorker(id: String) async throws
    /// Workers seen since `since`.
    func workers(seenSince since: Date) async throws -> [WorkerInfo]

    // MARK: Waiting

    /// When the next scheduled or retrying job in `queues` becomes due, if any.
    func nextDueDate(queues: [String]) async throws -> Date?

    /// Notified when work may have arrived (an enqueue, a retry, a resume, a release) in
    /// this process. Spurious wake-ups are allowed; busy polling is not. Workers wait with
    /// ``waitForWork(queues:after:timeout:claimingUpTo:lease:workerID:)``, which also hears
    /// other processes.
    var workSignal: AsyncSignal { get }

    /// Waits until work may have arrived in `queues`, from this process or any other, until
    /// `workSignal` moves past `generation`, or for at most `timeout`. A store that can wait
    /// and claim in one round trip (Redis: a blocking pop pipelined with the claim) returns
    /// the jobs it claimed as the wait ended, as ``claim(queues:limit:lease:workerID:)``
    /// would; otherwise it returns none and the caller claims.
    func waitForWork(
        queues: [String], after generation: UInt64, timeout: Duration,
        claimingUpTo limit: Int, lease: Duration, workerID: String
    ) async throws -> [ClaimedJob]

    /// Notified when jobs may have finished.
    var completionSignal: AsyncSignal { get }
}

extension JobBackend {
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

    /// Every job matching `query` (its `limit` and `after` ignored), read page by page.
    public func allJobs(_ query: JobQuery) async throws -> [JobRecord] {
        var query = query
        query.after = nil
        query.limit = 1000
        var all: [JobRecord] = []
        while true {
            let page = try await jobs(query)
            all += page
            guard page.count == query.limit, let last = page.last else { return all }
            query.after = last.id
        }
    }

    /// Cancels every member of the batch that has not started; running ones finish.
    @discardableResult
    public func cancelBatch(_ id: String) async throws -> [JobID] {
        try await cancel(allJobs(JobQuery(states: JobState.cancellable, batchID: id)).map(\.id))
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
