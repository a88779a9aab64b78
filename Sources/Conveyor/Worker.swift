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
    public let backend: any JobBackend
    public let registry: JobRegistry
    public let configuration: Configuration

    enum Phase { case running, draining, finished }

    struct State {
        var phase: Phase = .running
        var buffer: Deque<ClaimedJob> = []
        var idleRunners: Deque<CheckedContinuation<ClaimedJob?, Never>> = []
        var running: [JobID: JobLease] = [:]
        var outcomes: [JobOutcome] = []
        /// Leases of jobs interrupted by shutdown, to hand back.
        var interrupted: [JobLease] = []
        var processed = 0
    }

    let state = Mutex(State())
    /// Moves when a slot frees up or the phase changes.
    let capacitySignal = AsyncSignal()
    /// Moves when an outcome is waiting to be written.
    let ackSignal = AsyncSignal()
    let metrics: WorkerMetrics
    /// The timeouts of running attempts.
    let deadlines = AttemptDeadlines()

    public init(backend: any JobBackend, registry: JobRegistry, configuration: Configuration = .init()) {
        self.backend = backend
        self.registry = registry
        self.configuration = configuration
        metrics = WorkerMetrics(factory: configuration.metricsFactory)
    }

    var logger: Logger { configuration.logger }

    /// Jobs this worker has finished (any outcome) since it started.
    public var processedCount: Int { state.withLock { $0.processed } }

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
        let started = Date()
        try await register(startedAt: started)
        logger.info("worker started", metadata: [
            "worker": "\(configuration.id)", "queues": "\(configuration.queues.joined(separator: ","))",
            "concurrency": "\(configuration.concurrency)",
        ])
        await withTaskGroup(of: Void.self) { services in
            services.addTask { await self.fetchLoop() }
            services.addTask { await self.ackLoop() }
            services.addTask { await self.maintenanceLoop(startedAt: started) }
            await self.runJobs()
            self.state.withLock { $0.phase = .finished }
            self.ackSignal.notify()
            self.capacitySignal.notify()
            self.backend.workSignal.notify()
            await services.waitForAll()
        }
        await handBack()
        try? await backend.unregisterWorker(id: configuration.id)
        logger.info("worker stopped", metadata: ["worker": "\(configuration.id)", "processed": "\(processedCount)"])
    }

    /// Registers the worker, retrying while the store is unreachable (a Redis that is not up
    /// yet), so a worker started before its store waits for it instead of exiting.
    private func register(startedAt: Date) async throws {
        var failures = 0
        while true {
            do {
                try await backend.registerWorker(workerInfo(startedAt: startedAt))
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
            queues: configuration.queues, concurrency: configuration.concurrency,
            startedAt: startedAt, lastSeenAt: Date(), running: state.withLock { $0.running.count }
        )
    }

    // MARK: Running jobs

    private enum RunnerEvent { case runnerDone, graceExpired, timerDone }

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
            runners.addTask {
                await self.deadlines.run()
                return .timerDone
            }
            var runnersLeft = configuration.concurrency
            while let event = await runners.next() {
                switch event {
                case .runnerDone:
                    runnersLeft -= 1
                    if runnersLeft == 0 { runners.cancelAll() }  // ends the grace timer and the deadlines
                case .timerDone:
                    break
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
                    state.running[job.id] = job.lease
                    return .some(job)
                }
                state.idleRunners.append(continuation)
                return .none
            }
            if let job { continuation.resume(returning: job) }
        }
    }

    private func execute(_ job: ClaimedJob) async {
        let context = JobContext(
            id: job.id, name: job.name, queue: job.queue, attempt: job.attempt, maxAttempts: job.maxAttempts,
            batchID: job.batchID, workerID: configuration.id, enqueuedAt: job.createdAt,
            logger: logger, parentID: job.parentID, waitedForBatch: job.waitedForBatch, backend: backend
        )
        let registry = self.registry
        let started = ContinuousClock.now
        let waited = job.attempt == 1 ? Duration.microseconds(Int64(max(0, Date().timeIntervalSince(job.createdAt)) * 1_000_000)) : nil
        metrics.running.increment()
        let result = await AttemptRace.run(
            timeout: job.timeout, timedOut: ConveyorError.jobTimedOut(job: job.name, after: job.timeout), deadlines: deadlines
        ) {
            try await registry.run(name: job.name, payload: job.payload, context: context)
        }
        let outcome = self.outcome(of: job, result: result, interrupted: Task.isCancelled)
        metrics.running.decrement()
        metrics.record(queue: job.queue, outcome: Self.metricOutcome(outcome), duration: ContinuousClock.now - started, waited: waited)
        state.withLock { state in
            state.running[job.id] = nil
            state.processed += 1
            if let outcome {
                state.outcomes.append(outcome)
            } else {
                state.interrupted.append(job.lease)
            }
        }
        ackSignal.notify()
    }

    /// The recorded outcome of an attempt; `nil` when shutdown interrupted it (handed back).
    func outcome(of job: ClaimedJob, result: Result<Data, any Error>, interrupted: Bool) -> JobOutcome? {
        let error: any Error
        switch result {
        case .success(let output):
            return .succeeded(job.lease, output: output)
        case .failure(let failure):
            error = failure
        }
        if interrupted, error is CancellationError { return nil }
        let failure = Self.classify(error)
        let canRetry = failure.kind == .retryable && job.attempt < job.maxAttempts
        var retryAt: Date?
        if canRetry {
            let delay: Duration
            if case JobError.retryAfter(let after, _) = error {
                delay = after
            } else {
                delay = registry.retryPolicy(for: job.name).delay(afterAttempt: job.attempt)
            }
            retryAt = Date().addingTimeInterval(delay.seconds)
        }
        logger.debug("job failed", metadata: [
            "job": "\(job.id)", "name": "\(job.name)", "attempt": "\(job.attempt)/\(job.maxAttempts)",
            "error": "\(failure)", "next": "\(retryAt.map { "\($0)" } ?? "dead")",
        ])
        return .failed(job.lease, failure, retryAt: retryAt)
    }

    static func metricOutcome(_ outcome: JobOutcome?) -> WorkerMetrics.Outcome {
        switch outcome?.result {
        case nil: .interrupted
        case .succeeded?: .succeeded
        case .failed(_, let retryAt)?: retryAt == nil ? .dead : .retried
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
