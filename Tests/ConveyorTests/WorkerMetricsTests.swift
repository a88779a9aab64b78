import Conveyor
import ConveyorTesting
import Foundation
import MetricsTestKit
import Testing

@Suite("Worker metrics")
struct WorkerMetricsTests {
    @Test func outcomesDurationsAndClaimsAreCounted() async throws {
        let backend = MemoryBackend()
        let client = JobClient(backend: backend)
        let metrics = TestMetrics()
        let echoes = try await client.enqueue((1...3).map { EchoJob(value: $0) }, options: .init(queue: "q"))
        let flaky = try await client.enqueue(FlakyJob(succeedOnAttempt: 2), options: .init(queue: "q"))
        let reject = try await client.enqueue(RejectJob(), options: .init(queue: "q"))
        let worker = Worker(backend: backend, registry: BackendConformance.testRegistry,
                            configuration: .init(queues: ["q"], concurrency: 2, metricsFactory: metrics))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await worker.run() }
            for id in echoes.map(\.id) + [flaky.id, reject.id] { _ = try await backend.waitUntilFinished(id, timeout: .seconds(30)) }
            worker.stop()
            try await group.waitForAll()
        }
        func total(_ outcome: String) throws -> Int64 {
            try metrics.expectCounter("conveyor_jobs_total", [("queue", "q"), ("outcome", outcome)]).totalValue
        }
        #expect(try total("succeeded") == 4)
        #expect(try total("retried") == 1)
        #expect(try total("dead") == 1)
        #expect(try total("interrupted") == 0)
        #expect(try metrics.expectCounter("conveyor_claimed_jobs_total").totalValue == 6)
        #expect(try metrics.expectTimer("conveyor_job_duration_seconds", [("queue", "q")]).values.count == 6)
        #expect(try metrics.expectTimer("conveyor_job_wait_seconds", [("queue", "q")]).values.count == 5, "first attempts only")
    }
}
