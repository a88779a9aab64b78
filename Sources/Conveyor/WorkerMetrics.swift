import CoreMetrics
import Foundation
import Synchronization

/// What a worker reports through swift-metrics; bootstrap any backend (Prometheus, StatsD…)
/// or pass a factory in ``Worker/Configuration/metricsFactory``.
///
/// | metric | kind | dimensions |
/// |---|---|---|
/// | `conveyor_jobs_total` | counter | `queue`, `outcome`: succeeded, retried, dead, interrupted |
/// | `conveyor_job_duration_seconds` | timer | `queue`: the handler's run time |
/// | `conveyor_job_wait_seconds` | timer | `queue`: enqueue to first start (first attempts) |
/// | `conveyor_jobs_running` | meter | running in this worker now |
/// | `conveyor_claimed_jobs_total` | counter | jobs handed to this worker by claims |
final class WorkerMetrics: Sendable {
    enum Outcome: String, CaseIterable {
        case succeeded, retried, dead, interrupted
    }

    private struct QueueMetrics {
        var outcomes: [Outcome: Counter]
        var duration: CoreMetrics.Timer
        var wait: CoreMetrics.Timer
    }

    private let factory: any MetricsFactory
    private let queues = Mutex<[String: QueueMetrics]>([:])
    let running: Meter
    let claimed: Counter

    init(factory: (any MetricsFactory)?) {
        let factory = factory ?? MetricsSystem.factory
        self.factory = factory
        running = Meter(label: "conveyor_jobs_running", factory: factory)
        claimed = Counter(label: "conveyor_claimed_jobs_total", factory: factory)
    }

    /// One finished attempt. Metric objects are made once per queue, not per job.
    func record(queue: String, outcome: Outcome, duration: Duration, waited: Duration?) {
        let metrics = queues.withLock { queues -> QueueMetrics in
            if let existing = queues[queue] { return existing }
            let made = QueueMetrics(
                outcomes: Dictionary(uniqueKeysWithValues: Outcome.allCases.map {
                    ($0, Counter(label: "conveyor_jobs_total", dimensions: [("queue", queue), ("outcome", $0.rawValue)], factory: factory))
                }),
                duration: CoreMetrics.Timer(label: "conveyor_job_duration_seconds", dimensions: [("queue", queue)], factory: factory),
                wait: CoreMetrics.Timer(label: "conveyor_job_wait_seconds", dimensions: [("queue", queue)], factory: factory))
            queues[queue] = made
            return made
        }
        metrics.outcomes[outcome]?.increment()
        metrics.duration.recordNanoseconds(duration.nanoseconds)
        if let waited { metrics.wait.recordNanoseconds(waited.nanoseconds) }
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
