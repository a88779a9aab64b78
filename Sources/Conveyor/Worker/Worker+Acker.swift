import DequeModule
import Foundation
import Logging

/// The acker: writes finished attempts' outcomes in batches, and counts those the store fenced.
extension Worker {
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
}
