import CoreMetrics
import Foundation
import Synchronization

/// What a worker reports through swift-metrics; bootstrap any backend (Prometheus, StatsD…)
/// or pass a factory in ``Worker/Configuration/metricsFactory``.
///
/// | metric | kind | dimensions |
/// |---|---|---|
/// | `conveyor_jobs_total` | counter | `queue`, `outcome`: succeeded, retried, dead, interrupted, lease_lost |
/// | `conveyor_job_duration_seconds` | timer | `queue`: the handler's run time |
/// | `conveyor_job_wait_seconds` | timer | `queue`: enqueue to first start (first attempts) |
/// | `conveyor_jobs_running` | meter | running in this worker now |
/// | `conveyor_claimed_jobs_total` | counter | jobs handed to this worker by claims |
/// | `conveyor_fenced_total` | counter | attempts whose lease this worker lost: stopped, or their outcome ignored by the store |
/// | `conveyor_overdue_attempts` | meter | attempts that ended (timed out, lease lost) while their handler, ignoring cancellation, still runs |
final class WorkerMetrics: Sendable {
    enum Outcome: String, CaseIterable {
        case succeeded, retried, dead, interrupted
        case leaseLost = "lease_lost"
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
    let fenced: Counter
    let overdue: Meter

    init(factory: (any MetricsFactory)?) {
        let factory = factory ?? MetricsSystem.factory
        self.factory = factory
        running = Meter(label: "conveyor_jobs_running", factory: factory)
        claimed = Counter(label: "conveyor_claimed_jobs_total", factory: factory)
        fenced = Counter(label: "conveyor_fenced_total", factory: factory)
        overdue = Meter(label: "conveyor_overdue_attempts", factory: factory)
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
