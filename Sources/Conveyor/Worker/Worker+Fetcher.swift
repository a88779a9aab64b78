import DequeModule
import Foundation
import Logging

/// The fetcher: claims jobs when slots free up, waits for work when there is none, and hands jobs to runners.
extension Worker {
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
            let inspection = try backend.require((any JobInspection).self, neededBy: "a worker that discovers queues")
            let known = try await inspection.queueStats().map(\.queue)
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
            // No margin: the store read its clock before the reply travelled here, so a wait
            // of `untilDue` from now already ends after the due time, and every millisecond
            // late is lost for good by a rate-limited key (GCRA keeps no lost time).
            timeout = min(timeout, untilDue)
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
}
