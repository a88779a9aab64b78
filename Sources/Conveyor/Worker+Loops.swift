import DequeModule
import Foundation
import Logging

extension Worker {
    // MARK: Fetcher

    /// Jobs held (buffered, running, or finished and not yet written).
    private var held: Int {
        state.withLock { $0.buffer.count + $0.running.count + $0.outcomes.count + $0.overdue }
    }

    /// What the fetcher counts against capacity: buffered and running jobs, and finished ones
    /// beyond one full acknowledgement batch. Finished jobs waiting for their write do not hold
    /// the next claim back, so claiming, running and acknowledging overlap instead of taking
    /// turns; a store slow to take completions still holds claims back.
    ///
    /// Overdue attempts (their handler ignored cancellation and still runs) hold their runner's
    /// slot; once they fill every runner the worker claims nothing more.
    private var occupied: Int {
        state.withLock { state in
            if state.overdue >= configuration.concurrency { return capacity }
            return state.buffer.count + state.running.count + state.overdue + max(0, state.outcomes.count - configuration.maximumAckBatch)
        }
    }

    private var capacity: Int { configuration.concurrency + configuration.prefetch }
    /// Claim only when this many slots are free, so claims come in useful sizes.
    private var claimThreshold: Int { max(1, min(configuration.concurrency, configuration.prefetch + 1) / 2) }

    func fetchLoop() async {
        var failures = 0
        // The claim that ended the last wait took fewer jobs than it could: nothing else was
        // ready then, and anything since leaves a wake-up token, so wait again at once.
        var nothingElseReady = false
        let clock = ContinuousClock()
        var nextDiscovery = clock.now
        while isRunning && !Task.isCancelled {
            if configuration.discoversQueues, clock.now >= nextDiscovery {
                nextDiscovery = clock.now + configuration.pollInterval
                await discoverQueues()
            }
            let capacityGeneration = capacitySignal.generation
            let free = capacity - occupied
            if free < claimThreshold {
                await capacitySignal.wait(after: capacityGeneration, timeout: configuration.pollInterval)
                continue
            }
            let workGeneration = backend.workSignal.generation
            do {
                let jobs = nothingElseReady ? [] : try await backend.claim(
                    queues: queues, limit: free, lease: configuration.lease, workerID: configuration.id)
                nothingElseReady = false
                failures = 0
                // A store that claims as its wait ends hands the jobs over here.
                let delivered = jobs.isEmpty ? try await waitForWork(after: workGeneration, free: free) : jobs
                nothingElseReady = jobs.isEmpty && !delivered.isEmpty && delivered.count < free
                if !delivered.isEmpty {
                    metrics.claimed.increment(by: delivered.count)
                    await deliver(delivered)
                    // Woken with work: let the runners start before this loop's next store call.
                    if jobs.isEmpty { await Task.yield() }
                }
            } catch {
                failures += 1
                let delay = Self.storeRetryDelay(failures: failures)
                logger.error("claim failed; retrying", metadata: ["error": "\(error)", "in": "\(delay.formatted)"])
                await capacitySignal.wait(after: capacitySignal.generation, timeout: delay)
            }
        }
    }

    var isRunning: Bool { state.withLock { $0.phase == .running } }

    /// Adds the store's queues that this worker does not claim from yet.
    private func discoverQueues() async {
        do {
            let known = try await backend.queueStats().map(\.queue)
            let added = state.withLock { state -> [String] in
                let new = known.filter { !state.queues.contains($0) }.sorted()
                state.queues += new
                return new
            }
            if !added.isEmpty { logger.info("claiming from new queues", metadata: ["queues": "\(added.joined(separator: ","))"]) }
        } catch {
            logger.error("cannot list the store's queues; claiming from the ones known", metadata: ["error": "\(error)"])
        }
    }

    /// Backoff while the store fails: 100 ms doubling to 5 s.
    static func storeRetryDelay(failures: Int) -> Duration {
        .milliseconds(min(5000, 50 << min(failures, 7)))
    }

    /// Waits for work (or the next due job) and returns what the store claimed as the wait
    /// ended, if it does that.
    private func waitForWork(after generation: UInt64, free: Int) async throws -> [ClaimedJob] {
        var timeout = configuration.pollInterval
        let untilDue = try? await backend.timeUntilNextDue(queues: queues)
        if let untilDue {
            timeout = min(timeout, untilDue + .milliseconds(1))
        }
        guard isRunning else { return [] }
        // Jobs due soon (short retry backoffs) hold a burst worker; far-off schedules do not.
        if configuration.stopWhenIdle, untilDue.map({ $0 > configuration.pollInterval }) ?? true {
            // Running jobs may still fail and come back as retries: wait for them first.
            if held == 0 {
                logger.info("no work left; stopping (stopWhenIdle)")
                stop()
                return []
            }
            await capacitySignal.wait(after: capacitySignal.generation, timeout: .milliseconds(50))
            return []
        }
        return try await backend.waitForWork(
            queues: queues, after: generation, timeout: timeout,
            claimingUpTo: free, lease: configuration.lease, workerID: configuration.id)
    }

    /// Hands claimed jobs to idle runners or the buffer; after a stop, hands them back.
    private func deliver(_ jobs: [ClaimedJob]) async {
        var handOff: [(CheckedContinuation<ClaimedJob?, Never>, ClaimedJob)] = []
        let refused = state.withLock { state -> [ClaimedJob] in
            guard state.phase == .running else { return jobs }
            for job in jobs {
                if let runner = state.idleRunners.popFirst() {
                    state.running[job.id] = Running(lease: job.lease)
                    handOff.append((runner, job))
                } else {
                    state.buffer.append(job)
                }
            }
            return []
        }
        for (runner, job) in handOff { runner.resume(returning: job) }
        if !refused.isEmpty {
            do {
                try await backend.release(refused.map(\.lease))
            } catch {
                logger.error("could not hand back claimed jobs; their leases will expire", metadata: ["error": "\(error)"])
            }
        }
    }

    // MARK: Acker

    func ackLoop() async {
        var failures = 0
        let clock = ContinuousClock()
        var finishedSince: ContinuousClock.Instant?
        while true {
            let generation = ackSignal.generation
            let (batch, finished) = state.withLock { state -> ([JobOutcome], Bool) in
                let count = min(state.outcomes.count, configuration.maximumAckBatch)
                let batch = Array(state.outcomes.prefix(count))
                return (batch, state.phase == .finished)
            }
            if finished, finishedSince == nil { finishedSince = clock.now }
            // Stopped for good: what cannot be written now is left to lease expiry, which
            // returns those jobs to ready (at least once, never lost).
            if Task.isCancelled || (failures > 0 && finishedSince.map { clock.now - $0 > configuration.shutdownGracePeriod } == true) {
                if !batch.isEmpty {
                    logger.error("giving up writing completions at shutdown; their jobs will run again when the leases expire", metadata: ["jobs": "\(batch.count)"])
                }
                return
            }
            if batch.isEmpty {
                if finished { return }
                await ackSignal.wait(after: generation, timeout: configuration.pollInterval)
                // Let completions that finish together share one write.
                if !state.withLock({ $0.phase == .finished }) {
                    try? await Task.sleep(for: configuration.ackInterval)
                }
                continue
            }
            do {
                let fenced = try await backend.complete(batch)
                failures = 0
                state.withLock { state in
                    state.outcomes.removeFirst(batch.count)
                    state.fenced += fenced.count
                }
                capacitySignal.notify()
                if !fenced.isEmpty {
                    metrics.fenced.increment(by: fenced.count)
                    logger.warning("the store ignored outcomes whose lease this worker had lost (another worker recovered the jobs)", metadata: [
                        "jobs": "\(fenced.map(\.id.description).joined(separator: ","))",
                    ])
                }
            } catch {
                failures += 1
                let delay = Self.storeRetryDelay(failures: failures)
                logger.error("writing completions failed; retrying", metadata: [
                    "error": "\(error)", "jobs": "\(batch.count)", "in": "\(delay.formatted)",
                ])
                try? await Task.sleep(for: delay)
            }
        }
    }

    // MARK: Maintenance

    func maintenanceLoop(startedAt: Date) async {
        let clock = ContinuousClock()
        var nextHeartbeat = clock.now + configuration.heartbeatInterval
        var nextRecovery = clock.now
        // Runs until the last completion is written: jobs waiting for their ack keep their leases.
        while !Task.isCancelled && state.withLock({ $0.phase != .finished || !$0.outcomes.isEmpty }) {
            let generation = ackSignal.generation
            let now = clock.now
            if now >= nextRecovery {
                nextRecovery = now + configuration.recoveryInterval
                do {
                    // Each call handles a bounded number of jobs: go on while calls find some.
                    var recovered = 0
                    for _ in 0..<100 {
                        let found = try await backend.recoverExpiredLeases()
                        recovered += found
                        if found == 0 || Task.isCancelled { break }
                    }
                    if recovered > 0 {
                        logger.notice("recovered jobs whose worker stopped heartbeating", metadata: ["jobs": "\(recovered)"])
                    }
                } catch {
                    logger.error("lease recovery failed", metadata: ["error": "\(error)"])
                }
            }
            if now >= nextHeartbeat {
                nextHeartbeat = now + configuration.heartbeatInterval
                await heartbeat(startedAt: startedAt)
            }
            let wake = min(nextHeartbeat, nextRecovery)
            // The ack signal moves at the end of the run; otherwise this waits out the interval.
            await ackSignal.wait(after: generation, timeout: max(.milliseconds(1), wake - clock.now))
        }
    }

    private func heartbeat(startedAt: Date) async {
        let leases = state.withLock { state in
            state.running.values.map(\.lease) + state.buffer.map(\.lease) + state.outcomes.map(\.lease)
        }
        do {
            if !leases.isEmpty {
                let lost = try await backend.heartbeat(leases, lease: configuration.lease)
                if !lost.isEmpty { loseLeases(lost) }
            }
            try await backend.registerWorker(workerInfo(startedAt: startedAt))
        } catch {
            logger.error("heartbeat failed", metadata: ["error": "\(error)"])
        }
    }

    /// Acts on leases the store says this worker lost: their running attempts are stopped
    /// (their outcomes would be ignored) and their unstarted jobs dropped, and only those are
    /// reported. Leases whose outcome is waiting to be written, or was written meanwhile, are
    /// not acted on here: the store decides those, and ``complete`` reports the ones it ignored.
    private func loseLeases(_ lost: [JobLease]) {
        let lostSet = Set(lost)
        let (attempts, dropped) = state.withLock { state -> ([(JobLease, Attempt?)], [JobLease]) in
            var attempts: [(JobLease, Attempt?)] = []
            for (id, running) in state.running where lostSet.contains(running.lease) {
                // A runner that took the job but has not started it yet does not start it.
                attempts.append((running.lease, running.attempt))
                state.running[id]?.lost = true
            }
            let dropped = state.buffer.filter { lostSet.contains($0.lease) }.map(\.lease)
            state.buffer.removeAll { lostSet.contains($0.lease) }
            state.fenced += dropped.count
            return (attempts, dropped)
        }
        for case (_, let attempt?) in attempts { attempt.loseLease() }
        guard !attempts.isEmpty || !dropped.isEmpty else { return }
        if !dropped.isEmpty { metrics.fenced.increment(by: dropped.count) }
        logger.warning("lost the lease of jobs (another worker recovered them): their attempts are stopped and their outcomes will not be written", metadata: [
            "jobs": "\((attempts.map(\.0) + dropped).map(\.id.description).joined(separator: ","))",
            "running": "\(attempts.count)", "unstarted": "\(dropped.count)",
        ])
    }

    // MARK: Shutdown

    /// Hands back jobs that were claimed but not started.
    func handBack() async {
        let leases = state.withLock { state -> [JobLease] in
            defer { state.buffer.removeAll() }
            return state.buffer.map(\.lease)
        }
        guard !leases.isEmpty else { return }
        do {
            try await backend.release(leases)
            logger.info("handed back unstarted jobs", metadata: ["jobs": "\(leases.count)"])
        } catch {
            logger.error("could not hand back jobs; their leases will expire", metadata: ["error": "\(error)"])
        }
    }
}
