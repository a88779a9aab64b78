import Conveyor
import ConveyorCommands
import ConveyorSQLite
import ConveyorTesting
import Foundation
import Testing

/// A program that embeds the commands runs its own job types with `worker`.
@Suite("Embedding the commands")
struct EmbeddingTests {
    struct Greet: Job {
        static let name = "app.greet"
        var key: String
        func run(_ context: JobContext) async throws -> String { "hello \(key)" }
    }

    @Test func userJobTypesRunThroughTheWorkerCommand() async throws {
        let directory = try TemporaryDirectory(prefix: "conveyor-embed")
        defer { directory.remove() }
        let store = directory.file("app.sqlite")
        let keys = directory.file("keys.txt")
        try "ada\ngrace\n".write(toFile: keys, atomically: true, encoding: .utf8)
        var registry = JobRegistry()
        registry.register(Greet.self)

        #expect(await ConveyorCommand.run(arguments: ["submit", "app.greet", "--file", keys, "--batch", "g", "--store", store], registry: registry) == 0)
        #expect(await ConveyorCommand.run(arguments: ["worker", "--burst", "--log-level", "error", "--store", store], registry: registry) == 0)

        let backend = try SQLiteBackend(path: store)
        let jobs = try await backend.jobs(JobQuery(batchID: "g"))
        #expect(jobs.map(\.state) == [.succeeded, .succeeded])
        #expect(jobs.map { String(decoding: $0.result ?? Data(), as: UTF8.self) } == [#""hello ada""#, #""hello grace""#])
        #expect(await ConveyorCommand.run(arguments: ["pause"], registry: registry) != 0, "a missing argument is a usage error")
    }
}
