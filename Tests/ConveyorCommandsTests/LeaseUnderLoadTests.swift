import Conveyor
import ConveyorSQLite
import ConveyorTesting
import Foundation
import Testing

/// Live workers never lose a lease under load, and the lost-lease warning is true when printed
/// (issue 11, item 1: three workers × 8 draining 150,000 no-op jobs with a 3 s lease once logged
/// "lost the lease of running jobs" 68 times in 20 s).
@Suite("Leases under load")
struct LeaseUnderLoadTests {
    @Test func threeWorkersDrainingOneSQLiteFileLoseNoLease() async throws {
        let directory = try TemporaryDirectory(prefix: "conveyor-load")
        defer { directory.remove() }
        let store = directory.file("load.sqlite")
        let log = directory.file("workers.log")
        let backend = try SQLiteBackend(path: store)
        let total = 150_000
        for chunk in stride(from: 0, to: total, by: 10_000) {
            _ = try await backend.enqueue((chunk..<min(total, chunk + 10_000)).map { _ in
                NewJob(name: "conveyor.echo", payload: Data("{}".utf8), maxAttempts: 1, batchID: "load")
            })
        }
        let worker = ["worker", "--store", store, "--queues", "default", "--concurrency", "8", "--lease", "3s", "--burst", "--log-level", "notice"]
        var workers: [ConveyorProcess.Child] = []
        for _ in 0..<3 { workers.append(try await ConveyorProcess.start(worker, in: directory.path, log: log)) }
        for worker in workers { #expect(await worker.waitForExit() == 0) }
        let batch = try #require(try await backend.batch("load"))
        let output = try String(contentsOfFile: log, encoding: .utf8)
        #expect(batch[.succeeded] == total, "the batch ended at \(batch.counts); workers said: \(output.suffix(2000))")
        // With one attempt each, a lease lost to recovery would have ended its job dead.
        #expect(batch[.dead] == 0)
        let lostLines = output.split(separator: "\n").filter { $0.contains("lost the lease") || $0.contains("ignored outcomes") }
        #expect(lostLines.isEmpty, "\(lostLines.count) warnings: \(lostLines.prefix(3))")
    }
}
