import DequeModule
import Foundation
import Logging

/// Maintenance: heartbeats for held leases, recovery of other workers' expired ones, acting on lost leases, and handing unstarted jobs back at shutdown.
extension Worker {
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
            try await (backend as? any WorkerRegistry)?.registerWorker(workerInfo(startedAt: startedAt))
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
