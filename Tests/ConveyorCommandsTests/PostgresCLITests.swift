import Conveyor
import ConveyorPostgres
import ConveyorTesting
import Foundation
import Testing

/// The CLI against a real PostgreSQL (the test process's server, a schema per case): what a
/// team whose data lives in PostgreSQL runs, with workers on several machines.
@Suite("conveyor CLI on PostgreSQL")
struct PostgresCLITests {
    @Test func submitWorkStatusResultsAndRetryOnPostgres() async throws {
        let directory = try TemporaryDirectory(prefix: "conveyor-pg-cli")
        defer { directory.remove() }
        let store = try PostgresServer.freshStoreURL("cli")
        try "A1\nB2\nC3\n".write(toFile: directory.file("keys.txt"), atomically: true, encoding: .utf8)
        let submit = try await ConveyorProcess.run(
            ["submit", "conveyor.echo", "--file", directory.file("keys.txt"), "--batch", "p1", "--store", store], in: directory.path)
        #expect(submit.status == 0, "\(submit.all)")
        #expect(submit.stdout.contains("Batch p1: 3 submitted"), "\(submit.all)")
        // A job that fails for good (this worker has no --command template), to be retried from the CLI once dead.
        let failing = try await ConveyorProcess.run(
            ["submit", "conveyor.command", "--payload", #"{"key":"x"}"#, "--store", store], in: directory.path)
        #expect(failing.status == 0, "\(failing.all)")

        // A long-running worker shows in `status`, as a worker on another host would.
        let worker = try await ConveyorProcess.start(["worker", "--store", store, "--concurrency", "2"], in: directory.path,
                                                     log: directory.file("worker.log"))
        let backend = try PostgresBackend(url: store)
        defer { backend.shutdown() }
        _ = try await backend.waitUntilBatchFinished("p1", timeout: .seconds(60))
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(60)
        while try await backend.jobs(JobQuery(states: [.dead])).isEmpty {
            try #require(clock.now < deadline, "the failing job never died")
            await backend.completionSignal.wait(after: backend.completionSignal.generation, timeout: .milliseconds(200))
        }
        let status = try await ConveyorProcess.run(["status", "--store", store], in: directory.path)
        #expect(status.stdout.contains("Workers: 1"), "\(status.all)")
        #expect(status.stdout.contains("\(worker.pid)"), "\(status.all)")
        // The password-free URL is shown as given.
        #expect(status.stdout.contains("Store: postgres://"), "\(status.all)")

        let results = try await ConveyorProcess.run(["results", "p1", "--store", store], in: directory.path)
        #expect(results.stdout.contains("Total: 3   Succeeded: 3"), "\(results.all)")
        #expect(results.stdout.contains(#"{"key":"B2"}"#), "\(results.all)")

        let retry = try await ConveyorProcess.run(["retry", "--all-dead", "--store", store], in: directory.path)
        #expect(retry.status == 0, "\(retry.all)")
        #expect(retry.stdout.contains("1"), "\(retry.all)")
        worker.kill(SIGTERM)
        #expect(await worker.waitForExit() == 0)

        let purge = try await ConveyorProcess.run(["purge", "--store", store], in: directory.path)
        #expect(purge.status == 0, "\(purge.all)")
        #expect(try await backend.jobs(JobQuery(states: [.succeeded])).isEmpty, "purge deleted the succeeded jobs")
    }

    /// Schedules are stored and listed through the CLI, and a worker's scheduler fires them.
    @Test func schedulesFireOnPostgres() async throws {
        let directory = try TemporaryDirectory(prefix: "conveyor-pg-schedule")
        defer { directory.remove() }
        let store = try PostgresServer.freshStoreURL("clis")
        let add = try await ConveyorProcess.run(
            ["schedule", "add", "tick", "--every", "1s", "--job", "conveyor.echo", "--store", store], in: directory.path)
        #expect(add.status == 0, "\(add.all)")
        let worker = try await ConveyorProcess.start(["worker", "--store", store, "--scheduler-lease", "2s"], in: directory.path,
                                                     log: directory.file("worker.log"))
        let backend = try PostgresBackend(url: store)
        defer { backend.shutdown() }
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(60)
        while try await backend.jobs(JobQuery(states: [.succeeded], name: "conveyor.echo")).count < 2 {
            try #require(clock.now < deadline, "the schedule never fired twice")
            await backend.completionSignal.wait(after: backend.completionSignal.generation, timeout: .milliseconds(200))
        }
        let list = try await ConveyorProcess.run(["schedule", "list", "--store", store], in: directory.path)
        #expect(list.status == 0, "\(list.all)")
        #expect(list.stdout.contains("tick"), "\(list.all)")
        worker.kill(SIGTERM)
        #expect(await worker.waitForExit() == 0)
    }

    /// Bad store URLs and a server that is not there are clear errors naming what is wrong.
    @Test func badURLsAndADownServerAreClearErrors() async throws {
        let directory = try TemporaryDirectory(prefix: "conveyor-pg-bad")
        defer { directory.remove() }
        let sslmode = try await ConveyorProcess.run(["status", "--store", "postgres://127.0.0.1/x?sslmode=sometimes"], in: directory.path)
        #expect(sslmode.status != 0)
        #expect(sslmode.stderr.contains("sslmode must be disable, prefer or require, not 'sometimes'"), "\(sslmode.all)")
        let schema = try await ConveyorProcess.run(["status", "--store", "postgres://127.0.0.1/x?schema=Bad-Name"], in: directory.path)
        #expect(schema.status != 0)
        #expect(schema.stderr.contains("schema 'Bad-Name'"), "\(schema.all)")
        let down = try await ConveyorProcess.run(
            ["submit", "conveyor.echo", "--payload", "{}", "--store", "postgresql://postgres:secret@127.0.0.1:1/app"], in: directory.path)
        #expect(down.status != 0)
        #expect(down.stderr.contains("PostgreSQL store at 127.0.0.1:1/app"), "\(down.all)")
        #expect(!down.all.contains("secret"), "the password is never printed: \(down.all)")
    }
}
