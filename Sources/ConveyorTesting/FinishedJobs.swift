import Conveyor
import Foundation

/// Fills `store`'s `default` queue with `total` finished no-op jobs, the first `dead` of them
/// dead and the rest succeeded, through the store's own calls in rounds of 10,000 (large on
/// purpose: this is set-up for the bounded-work tests, not one of them).
public func fillWithFinishedJobs(_ store: any JobQueueStore, total: Int, dead: Int) async throws {
    for start in stride(from: 0, to: total, by: 10_000) {
        let count = min(10_000, total - start)
        _ = try await store.enqueue((0..<count).map { _ in NewJob(name: "x", payload: Data("{}".utf8), maxAttempts: 1) })
        let claimed = try await store.claim(queues: ["default"], limit: count, lease: .seconds(600), workerID: "setup")
        guard claimed.count == count else {
            throw ConveyorError.storeFailure("set-up claimed \(claimed.count) of \(count) jobs")
        }
        try await store.complete(claimed.enumerated().map { offset, job in
            start + offset < dead ? .failed(job.lease, JobFailure(.permanent, "no"), retryAfter: nil) : .succeeded(job.lease, output: Data())
        })
    }
}
