import Conveyor
import ConveyorRedis
import ConveyorTesting
import Foundation
import Testing

/// The CLI against a real redis-server: what workers on several machines would do.
@Suite("conveyor CLI on Redis")
struct RedisCLITests {
    /// Polls the worker log, which is the only thing that says what a worker process is doing.
    func waitForLog(_ log: String, containing text: String, timeout: Duration = .seconds(60)) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while true {
            let contents = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            if contents.contains(text) { return }
            try #require(clock.now < deadline, "the log never said '\(text)'; it holds:\n\(contents.suffix(2000))")
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    @Test func submitWorkStatusAndResultsOnRedis() async throws {
        let directory = try TemporaryDirectory(prefix: "conveyor-redis-cli")
        defer { directory.remove() }
        let server = try RedisServer()
        defer { server.stop() }
        let store = server.url + "/0"
        try "A1\nB2\nC3\n".write(toFile: directory.file("keys.txt"), atomically: true, encoding: .utf8)
        let submit = try await ConveyorProcess.run(
            ["submit", "conveyor.echo", "--file", directory.file("keys.txt"), "--batch", "r1", "--store", store], in: directory.path)
        #expect(submit.status == 0, "\(submit.all)")
        #expect(submit.stdout.contains("Batch r1: 3 submitted"), "\(submit.all)")

        // A long-running worker shows in `status`, as a worker on another host would.
        let log = directory.file("worker.log")
        let worker = try await ConveyorProcess.start(["worker", "--store", store, "--concurrency", "2"], in: directory.path, log: log)
        let backend = try RedisBackend(url: store)
        _ = try await backend.waitUntilBatchFinished("r1", timeout: .seconds(60))
        let status = try await ConveyorProcess.run(["status", "--store", store], in: directory.path)
        #expect(status.stdout.contains("Workers: 1"), "\(status.all)")
        #expect(status.stdout.contains("\(worker.pid)"), "\(status.all)")
        worker.kill(SIGTERM)
        #expect(await worker.waitForExit() == 0)

        let results = try await ConveyorProcess.run(["results", "r1", "--store", store], in: directory.path)
        #expect(results.stdout.contains("Total: 3   Succeeded: 3"), "\(results.all)")
        #expect(results.stdout.contains(#"{"key":"B2"}"#), "\(results.all)")
        await backend.close()
    }

    /// A worker started while Redis is down says so and keeps trying; once Redis is up it works.
    @Test func workerStartedBeforeRedisWaitsForIt() async throws {
        let directory = try TemporaryDirectory(prefix: "conveyor-redis-down")
        defer { directory.remove() }
        let server = try RedisServer()
        defer { server.stop() }
        server.stop(cleanUp: false)
        let log = directory.file("worker.log")
        let worker = try await ConveyorProcess.start(["worker", "--store", server.url, "--concurrency", "2"], in: directory.path, log: log)
        // The pool reconnects with backoff and logs each try; commands wait for a connection.
        try await waitForLog(log, containing: "Redis at 127.0.0.1:\(server.port) unreachable, retrying in 200ms")
        #expect(worker.isRunning)

        try server.restart()
        let backend = try RedisBackend(url: server.url)
        let id = try await backend.enqueue(NewJob(name: "conveyor.echo", payload: Data(#"{"up":1}"#.utf8))).id
        let record = try await backend.waitUntilFinished(id, timeout: .seconds(60))
        #expect(record.state == .succeeded)
        #expect(record.result == Data(#"{"up":1}"#.utf8))
        worker.kill(SIGTERM)
        #expect(await worker.waitForExit() == 0)
        await backend.close()
    }

    @Test func wrongPasswordIsAClearError() async throws {
        let directory = try TemporaryDirectory(prefix: "conveyor-redis-auth")
        defer { directory.remove() }
        let server = try RedisServer(password: "right")
        defer { server.stop() }
        let wrong = try await ConveyorProcess.run(
            ["submit", "conveyor.echo", "--payload", "{}", "--store", "redis://:wrong@127.0.0.1:\(server.port)"], in: directory.path)
        #expect(wrong.status != 0)
        #expect(wrong.stderr.contains("WRONGPASS"), "\(wrong.all)")
        let missing = try await ConveyorProcess.run(["submit", "conveyor.echo", "--payload", "{}", "--store", "redis://127.0.0.1:\(server.port)"], in: directory.path)
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("requires a password"), "\(missing.all)")
        let right = try await ConveyorProcess.run(["submit", "conveyor.echo", "--payload", "{}", "--store", server.url], in: directory.path)
        #expect(right.status == 0, "\(right.all)")
        // `status` names the store without its password.
        let status = try await ConveyorProcess.run(["status", "--store", server.url], in: directory.path)
        #expect(status.stdout.contains("Store: redis://:***@127.0.0.1:\(server.port)"), "\(status.all)")
        #expect(!status.all.contains("right"), "\(status.all)")
    }
}
