import Conveyor
import Foundation
import Testing

/// Job types the conformance suite and engine tests run.
public struct EchoJob: Job {
    public static let name = "test.echo"
    public var value: Int
    public init(value: Int) { self.value = value }
    public func run(_ context: JobContext) async throws -> Int { value }
}

/// Fails every attempt before `succeedOnAttempt`, with a retryable error.
public struct FlakyJob: Job {
    public static let name = "test.flaky"
    public static let retryPolicy = RetryPolicy.fixed(maxAttempts: 3, delay: .milliseconds(20))
    public var succeedOnAttempt: Int
    public init(succeedOnAttempt: Int) { self.succeedOnAttempt = succeedOnAttempt }
    public func run(_ context: JobContext) async throws -> String {
        guard context.attempt >= succeedOnAttempt else { throw JobError.retryable("HTTP 503 on attempt \(context.attempt)") }
        return "ok on attempt \(context.attempt)"
    }
}

/// Always fails permanently.
public struct RejectJob: Job {
    public static let name = "test.reject"
    public init() {}
    public func run(_ context: JobContext) async throws -> NoOutput { throw JobError.permanent("rejected on purpose") }
}

extension BackendConformance {
    public static var testRegistry: JobRegistry {
        var registry = JobRegistry()
        registry.register(EchoJob.self)
        registry.register(FlakyJob.self)
        registry.register(RejectJob.self)
        return registry
    }

    static func workerRunsBatch(_ backend: any JobBackend) async throws {
        let client = JobClient(backend: backend)
        let batch = JobOptions(batchID: "mixed")
        let echoes = try await client.enqueue((0..<200).map { EchoJob(value: $0) }, options: batch)
        let flaky = try await client.enqueue(FlakyJob(succeedOnAttempt: 2), options: batch)
        let reject = try await client.enqueue(RejectJob(), options: batch)
        let unknown = try await client.enqueue([NewJob(name: "nobody.knows", batchID: "mixed")])[0].id
        let garbled = try await client.enqueue([NewJob(name: EchoJob.name, payload: Data(#"{"value":"x"}"#.utf8), batchID: "mixed")])[0].id

        let worker = Worker(backend: backend, registry: testRegistry, configuration: .init(concurrency: 8))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await worker.run() }
            let summary = try await backend.waitUntilBatchFinished("mixed", timeout: .seconds(60))
            worker.stop()
            try await group.waitForAll()
            #expect(summary.total == 204)
            #expect(summary[.succeeded] == 201)
            #expect(summary[.dead] == 3)
        }
        #expect(try await echoes[7].value() == 7)
        #expect(try await flaky.value() == "ok on attempt 2")
        await #expect(throws: ConveyorError.self) { try await reject.value() }
        let rejected = try await reject.record()
        #expect(rejected.attempt == 1)
        #expect(rejected.lastError == JobFailure(.permanent, "rejected on purpose"))
        let unknownRecord = try #require(try await backend.job(unknown))
        #expect(unknownRecord.state == .dead)
        #expect(unknownRecord.attempt == 1)
        #expect(unknownRecord.lastError?.kind == .permanent)
        #expect(unknownRecord.lastError?.message.contains("unknown job name 'nobody.knows'") == true)
        let garbledRecord = try #require(try await backend.job(garbled))
        #expect(garbledRecord.state == .dead)
        #expect(garbledRecord.lastError?.message.contains("missing field") == false)
        #expect(garbledRecord.lastError?.message.contains("expected Int at 'value'") == true)
        // The worker said goodbye.
        #expect(try await backend.workers(seenWithin: .seconds(86_400)).isEmpty)
    }
}
