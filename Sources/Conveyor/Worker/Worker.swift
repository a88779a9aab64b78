import DequeModule
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Claims jobs from a store and runs them.
///
/// A fetcher claims up to `prefetch` jobs per call when its buffer runs low; up to
/// `concurrency` runners execute them, each under its timeout; an acker writes completions
/// in batches every few milliseconds; a maintenance loop extends leases and recovers
/// other workers' expired ones. On graceful shutdown (SIGTERM/SIGINT through a
/// `ServiceGroup`, or ``stop()``) it stops claiming, lets running jobs finish within the
/// grace period, and hands unstarted jobs back.
///
/// ```swift
/// var registry = JobRegistry()
/// registry.register(ExportHSN.self)
/// let worker = Worker(backend: store, registry: registry, configuration: .init(concurrency: 8))
/// try await worker.run()
/// ```
public final class Worker: Service, Sendable {
    /// The store: any that implements the core. It is registered with if it keeps a
    /// ``WorkerRegistry``; discovering queues needs ``JobInspection``.
    public let backend: any JobQueueStore
    public let registry: JobRegistry
    public let configuration: Configuration

    enum Phase { case running, draining, finished }

    /// A job a runner has taken: its lease, and its attempt once it started.
    struct Running {
        var lease: JobLease
        var attempt: Attempt?
        /// The store said the lease is lost before the attempt started.
        var lost = false
    }

    struct State {
        var phase: Phase = .running
        var buffer: Deque<ClaimedJob> = []
        var idleRunners: Deque<CheckedContinuation<ClaimedJob?, Never>> = []
        var running: [JobID: Running] = [:]
        var outcomes: [JobOutcome] = []
        /// Attempts that ended (timed out, lease lost) while their handler, ignoring
        /// cancellation, still runs: each keeps its runner's slot until the handler returns.
        var overdue = 0
        var processed = 0
        /// The queues claimed from now: the configured ones, plus the store's when discovering.
        var queues: [String] = []
        /// Outcomes the store ignored because their lease was no longer held, and attempts
        /// stopped because their lease was lost.
        var fenced = 0
    }

    let state = Mutex(State())
    /// Moves when a slot frees up or the phase changes.
    let capacitySignal = AsyncSignal()
    /// Moves when an outcome is waiting to be written.
    let ackSignal = AsyncSignal()
    let metrics: WorkerMetrics
    /// The timeouts of running attempts.
    let deadlines = AttemptDeadlines()
    /// How long a handler cancelled at the end of the grace period gets to return before its
    /// attempt is abandoned (its lease left to expire).
    static let abandonAfter = Duration.seconds(1)

    public init(backend: any JobQueueStore, registry: JobRegistry, configuration: Configuration = .init()) {
        self.backend = backend
        self.registry = registry
        self.configuration = configuration
        metrics = WorkerMetrics(factory: configuration.metricsFactory)
        let queues = configuration.queues
        state.withLock { $0.queues = queues }
    }

    /// The queues this worker claims from now.
    public var queues: [String] { state.withLock { $0.queues } }

    var logger: Logger { configuration.logger }

    /// Jobs this worker has finished (any outcome) since it started.
    public var processedCount: Int { state.withLock { $0.processed } }

    /// Attempts whose outcome the store ignored, or that were stopped, because this worker no
    /// longer held their lease (another worker recovered the job).
    public var fencedCount: Int { state.withLock { $0.fenced } }

    /// Attempts that ended (timed out, or lost their lease) while their handler, ignoring
    /// cancellation, is still running. Each holds a runner slot until its handler returns.
    public var overdueCount: Int { state.withLock { $0.overdue } }

    /// Asks the worker to drain and return from ``run()``.
    public func stop() {
        let waiters = state.withLock { state -> [CheckedContinuation<ClaimedJob?, Never>] in
            guard state.phase == .running else { return [] }
            state.phase = .draining
            defer { state.idleRunners.removeAll() }
            return Array(state.idleRunners)
        }
        for waiter in waiters { waiter.resume(returning: nil) }
        capacitySignal.notify()
        // Wakes our fetcher if it waits for work; other waiters treat it as spurious.
        backend.workSignal.notify()
    }

    public func run() async throws {
        // Cancellation (a ServiceGroup giving up, a parent task ending) stops the worker the
        // same way a graceful shutdown does, only without waiting on the store.
        try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler {
                try await runUntilStopped()
            } onGracefulShutdown: {
                self.stop()
            }
        } onCancel: {
            self.stop()
        }
    }

    private func runUntilStopped() async throws {
        let started = configuration.clock.now()
        try await register(startedAt: started)
        logger.info("worker started", metadata: [
            "worker": "\(configuration.id)", "queues": "\(configuration.queues.joined(separator: ","))",
            "concurrency": "\(configuration.concurrency)",
        ])
        await withTaskGroup(of: Void.self) { services in
            services.addTask { await self.fetchLoop() }
            services.addTask { await self.ackLoop() }
            services.addTask { await self.maintenanceLoop(startedAt: started) }
            // Attempt deadlines outlive the runners' cancellation at the end of the grace period:
            // the abandon waits run on them.
            let timer = Task { await self.deadlines.run() }
            await self.runJobs()
            timer.cancel()
            self.state.withLock { $0.phase = .finished }
            self.ackSignal.notify()
            self.capacitySignal.notify()
            self.backend.workSignal.notify()
            await services.waitForAll()
        }
        await handBack()
        try? await (backend as? any WorkerRegistry)?.unregisterWorker(id: configuration.id)
        logger.info("worker stopped", metadata: ["worker": "\(configuration.id)", "processed": "\(processedCount)"])
    }

    /// Registers the worker, retrying while the store is unreachable (a Redis that is not up
    /// yet), so a worker started before its store waits for it instead of exiting.
    private func register(startedAt: Date) async throws {
        var failures = 0
        while true {
            do {
                guard let registry = backend as? any WorkerRegistry else { return }
                try await registry.registerWorker(workerInfo(startedAt: startedAt))
                if failures > 0 { logger.info("store reachable; worker registered", metadata: ["worker": "\(configuration.id)"]) }
                return
            } catch {
                failures += 1
                // Stopped while waiting: nothing was claimed, so there is nothing to hand back.
                guard isRunning, !Task.isCancelled else { return }
                let delay = Self.storeRetryDelay(failures: failures)
                logger.error("cannot register the worker with the store; retrying", metadata: ["error": "\(error)", "in": "\(delay.formatted)"])
                await capacitySignal.wait(after: capacitySignal.generation, timeout: delay)
            }
        }
    }

    func workerInfo(startedAt: Date) -> WorkerInfo {
        WorkerInfo(
            id: configuration.id, hostname: ProcessInfo.processInfo.hostName, pid: getpid(),
            queues: queues, concurrency: configuration.concurrency,
            startedAt: startedAt, lastSeenAt: configuration.clock.now(), running: state.withLock { $0.running.count + $0.overdue }
        )
    }

    // MARK: Running jobs

    private enum RunnerEvent { case runnerDone, graceExpired }

    /// Runs the runners until they drain; interrupts running jobs when the grace period ends.
    private func runJobs() async {
        await withTaskGroup(of: RunnerEvent.self) { runners in
            for _ in 0..<configuration.concurrency {
                runners.addTask {
                    while let job = await self.nextJob() {
                        await self.execute(job)
                    }
                    return .runnerDone
                }
            }
            runners.addTask { await self.graceTimer() }
            var runnersLeft = configuration.concurrency
            while let event = await runners.next() {
                switch event {
                case .runnerDone:
                    runnersLeft -= 1
                    if runnersLeft == 0 { runners.cancelAll() }  // ends the grace timer
                case .graceExpired:
                    logger.warning("shutdown grace period over; interrupting running jobs", metadata: [
                        "grace": "\(configuration.shutdownGracePeriod.formatted)",
                    ])
                    runners.cancelAll()
                }
            }
        }
    }

    /// Returns `.graceExpired` once the worker has been draining for the grace period.
    private func graceTimer() async -> RunnerEvent {
        while !Task.isCancelled {
            let generation = capacitySignal.generation
            if state.withLock({ $0.phase }) != .running { break }
            await capacitySignal.wait(after: generation)
        }
        if Task.isCancelled { return .runnerDone }
        do {
            try await Task.sleep(for: configuration.shutdownGracePeriod)
            return .graceExpired
        } catch {
            return .runnerDone
        }
    }

    /// The next buffered job, or `nil` once the worker drains.
    private func nextJob() async -> ClaimedJob? {
        await withCheckedContinuation { continuation in
            let job = state.withLock { state -> ClaimedJob?? in
                guard state.phase == .running else { return .some(nil) }
                if let job = state.buffer.popFirst() {
                    state.running[job.id] = Running(lease: job.lease)
                    return .some(job)
                }
                state.idleRunners.append(continuation)
                return .none
            }
            if let job { continuation.resume(returning: job) }
        }
    }

    private func execute(_ job: ClaimedJob) async {
        var context = JobContext(
            id: job.id, name: job.name, queue: job.queue, attempt: job.attempt, maxAttempts: job.maxAttempts,
            batchID: job.batchID, workerID: configuration.id, enqueuedAt: job.createdAt,
            logger: logger, parentID: job.parentID, waitedForBatch: job.waitedForBatch, backend: backend,
            lease: job.lease
        )
        context.headers = job.headers
        context.limitKeys = job.limitKeys
        let attemptContext = context
        let registry = self.registry
        let started = ContinuousClock.now
        // Both instants are the store's: the claim's is its lease's start.
        let waited = job.attempt == 1
            ? Duration.seconds(max(0, job.leaseExpiresAt.timeIntervalSince(job.createdAt) - configuration.lease.seconds)) : nil
        let attempt = Attempt(deadlines: deadlines)
        let lostAlready = state.withLock { state -> Bool in
            guard let running = state.running[job.id], !running.lost else { return true }
            state.running[job.id]?.attempt = attempt
            return false
        }
        let end: AttemptEnd
        if lostAlready {
            end = .leaseLost
            attempt.end(.returned(.failure(CancellationError())))  // never started
        } else {
            metrics.running.increment()
            end = await attempt.run(timeout: job.timeout, abandonAfter: Self.abandonAfter) {
                try await registry.run(name: job.name, payload: job.payload, context: attemptContext)
            }
            metrics.running.decrement()
        }
        let outcome: JobOutcome?
        switch end {
        case .returned(let result):
            outcome = self.outcome(of: job, result: result)
        case .timedOut:
            outcome = self.outcome(of: job, result: .failure(ConveyorError.jobTimedOut(job: job.name, after: job.timeout)))
        case .leaseLost, .abandoned:
            outcome = nil
        }
        metrics.record(queue: job.queue, outcome: Self.metricOutcome(outcome, end), duration: ContinuousClock.now - started, waited: waited)
        let overdue = !attempt.hasReturned && (outcome != nil || end.isLeaseLost)
        state.withLock { state in
            state.running[job.id] = nil
            state.processed += 1
            if let outcome { state.outcomes.append(outcome) }
            if end.isLeaseLost { state.fenced += 1 }
            if overdue { state.overdue += 1 }
        }
        if end.isLeaseLost { metrics.fenced.increment() }
        if case .abandoned = end {
            logger.warning("a job's handler ignored cancellation at shutdown; its lease is left to expire, so it runs again only after that", metadata: [
                "job": "\(job.id)", "name": "\(job.name)", "lease": "\(configuration.lease.formatted)",
            ])
        }
        ackSignal.notify()
        if overdue { await waitForOverdueHandler(of: job, attempt) }
    }

    /// Keeps this runner (one slot of `concurrency`) until an attempt's handler that ignored
    /// cancellation really returns, so overdue handlers never pile up beyond the worker's size.
    /// Stops waiting when the worker is cancelled (the end of the grace period).
    private func waitForOverdueHandler(of job: ClaimedJob, _ attempt: Attempt) async {
        metrics.overdue.increment()
        logger.warning("a job's attempt ended but its handler ignores cancellation and still runs; it keeps its slot until it returns", metadata: [
            "job": "\(job.id)", "name": "\(job.name)",
        ])
        while !attempt.hasReturned && !Task.isCancelled {
            let generation = attempt.handlerReturned.generation
            if attempt.hasReturned { break }
            await attempt.handlerReturned.wait(after: generation)
        }
        metrics.overdue.decrement()
        state.withLock { $0.overdue -= 1 }
        capacitySignal.notify()
    }

    /// The recorded outcome of an attempt that returned or timed out.
    ///
    /// An attempt cut short by shutdown (its handler returned `CancellationError` after the
    /// grace period) counts as a retryable failure due at once: a job that always outlives the
    /// grace period ends dead after its last attempt instead of coming back forever.
    func outcome(of job: ClaimedJob, result: Result<Data, any Error>) -> JobOutcome {
        let error: any Error
        switch result {
        case .success(let output):
            return .succeeded(job.lease, output: output)
        case .failure(let failure):
            error = failure
        }
        if case JobError.upstreamBusy(let after, let key, let message) = error {
            // The upstream's word holds for the whole key, and the attempt does not count.
            let keys = key.map { [$0] } ?? Array(job.limitKeys.prefix(1))
            logger.debug("upstream asked to wait", metadata: [
                "job": "\(job.id)", "name": "\(job.name)", "for": "\(after.formatted)", "keys": "\(keys)",
            ])
            return .deferred(job.lease, for: max(.zero, after), keys: keys, reason: message)
        }
        var failure = Self.classify(error)
        if error is CancellationError, !isRunning {
            failure = JobFailure(.retryable, "interrupted: the worker shut down before the job finished (grace period \(configuration.shutdownGracePeriod.formatted))")
        }
        let canRetry = failure.kind == .retryable && job.attempt < job.maxAttempts
        var retryAfter: Duration?
        if canRetry {
            if error is CancellationError, !isRunning {
                retryAfter = .zero
            } else if case JobError.retryAfter(let after, _) = error {
                retryAfter = after
            } else {
                retryAfter = registry.retryPolicy(for: job.name).delay(afterAttempt: job.attempt)
            }
        }
        logger.debug("job failed", metadata: [
            "job": "\(job.id)", "name": "\(job.name)", "attempt": "\(job.attempt)/\(job.maxAttempts)",
            "error": "\(failure)", "next": "\(retryAfter.map { "in \($0.formatted)" } ?? "dead")",
        ])
        let counts = error is CancellationError && !isRunning ? false : registry.countsAgainstCircuit(error, name: job.name)
        return .failed(job.lease, failure, retryAfter: retryAfter, countsAgainstCircuit: counts)
    }

    static func metricOutcome(_ outcome: JobOutcome?, _ end: AttemptEnd) -> WorkerMetrics.Outcome {
        switch outcome?.result {
        case nil: end.isLeaseLost ? .leaseLost : .interrupted
        case .succeeded?: .succeeded
        case .failed(_, let retryAfter)?: retryAfter == nil ? .dead : .retried
        case .deferred?: .retried
        }
    }

    /// Sorts an error into retryable or permanent.
    public static func classify(_ error: any Error) -> JobFailure {
        switch error {
        case let error as JobError:
            if case .permanent = error { return JobFailure(.permanent, error.description) }
            return JobFailure(.retryable, error.description)
        case let error as ConveyorError:
            switch error {
            case .unknownJobName, .undecodablePayload, .unencodableOutput, .payloadTooLarge:
                return JobFailure(.permanent, error.description)
            default:
                return JobFailure(.retryable, error.description)
            }
        case let failure as JobFailure:
            return failure
        case is PermanentJobError:
            return JobFailure(.permanent, String(describing: error))
        case is CancellationError:
            return JobFailure(.retryable, "cancelled")
        default:
            return JobFailure(.retryable, String(describing: error))
        }
    }
}
