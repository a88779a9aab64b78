import Conveyor
import ConveyorSQLite
import ConveyorTesting
import Foundation
import Testing

/// An idle worker in another process starts new work as soon as it is enqueued, with no
/// polling: its poll interval is an hour, so only the store's wake-up can start the job.
@Suite("Cross-process wake-ups")
struct WakeUpTests {
    @Test func idleWorkerInAnotherProcessWakesOnEnqueue() async throws {
        let directory = try TemporaryDirectory(prefix: "conveyor-wake")
        defer { directory.remove() }
        let store = directory.file("wake.sqlite")
        let backend = try SQLiteBackend(path: store)
        // The worker registers itself once it is up; wait for that.
        let worker = try await ConveyorProcess.start(
            ["worker", "--store", store, "--queues", "default", "--poll-interval", "3600s", "--log-level", "notice"],
            in: directory.path, log: directory.file("worker.log"))
        defer { worker.kill(SIGKILL) }
        while try await backend.workers(seenWithin: .seconds(86_400)).isEmpty {
            try await Task.sleep(for: .milliseconds(20))
        }
        // The worker has claimed once, found nothing and is waiting. Each job below can only
        // start through a wake-up.
        for round in 0..<3 {
            let id = try await backend.enqueue(NewJob(name: "conveyor.echo", payload: Data("\(round)".utf8))).id
            let record = try await backend.waitUntilFinished(id, timeout: .seconds(60))
            #expect(record.state == .succeeded)
            #expect(record.result == Data("\(round)".utf8))
        }
        worker.kill(SIGTERM)
        #expect(await worker.waitForExit() == 0)
    }

    @Test func twoStoresOnOneFileWakeEachOther() async throws {
        let directory = try TemporaryDirectory(prefix: "conveyor-wake")
        defer { directory.remove() }
        let writer = try SQLiteBackend(path: directory.file("s.sqlite"))
        let watcher = try SQLiteBackend(path: directory.file("s.sqlite"))
        let work = watcher.workSignal.generation
        let done = watcher.completionSignal.generation
        let id = try await writer.enqueue(NewJob(name: "x")).id
        await watcher.workSignal.wait(after: work)
        let claimed = try await writer.claim(queues: ["default"], limit: 1, lease: .seconds(30), workerID: "w")
        #expect(claimed.map(\.id) == [id])
        try await writer.complete([.succeeded(claimed[0].lease, output: Data())])
        await watcher.completionSignal.wait(after: done)
        #expect(try await watcher.job(id)?.state == .succeeded)
    }

    @Test func aFileThatIsNotAStoreIsAClearError() throws {
        let directory = try TemporaryDirectory(prefix: "conveyor-wake")
        defer { directory.remove() }
        let path = directory.file("notes.sqlite")
        try String(repeating: "not a database\n", count: 100).write(toFile: path, atomically: true, encoding: .utf8)
        #expect {
            _ = try SQLiteBackend(path: path)
        } throws: { error in
            "\(error)".contains("cannot open the SQLite store at \(path)") && "\(error)".contains("not a database")
        }
    }
}
