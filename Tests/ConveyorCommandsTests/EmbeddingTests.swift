import Conveyor
import ConveyorCommands
import ConveyorSQLite
import ConveyorTesting
import Foundation
import Testing

/// A program that embeds the commands runs its own job types with `worker`, on the stores it
/// passes. (Serialized: the commands' job types and stores are the process's.)
@Suite("Embedding the commands", .serialized)
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

        #expect(await ConveyorCommand.run(arguments: ["submit", "app.greet", "--file", keys, "--batch", "g", "--store", store], registry: registry, stores: [SQLiteStoreProvider()]) == 0)
        #expect(await ConveyorCommand.run(arguments: ["worker", "--burst", "--log-level", "error", "--store", store], registry: registry, stores: [SQLiteStoreProvider()]) == 0)

        let backend = try SQLiteBackend(path: store)
        let jobs = try await backend.jobs(JobQuery(batchID: "g"))
        #expect(jobs.map(\.state) == [.succeeded, .succeeded])
        #expect(jobs.map { String(decoding: $0.result ?? Data(), as: UTF8.self) } == [#""hello ada""#, #""hello grace""#])
        #expect(await ConveyorCommand.run(arguments: ["pause"], registry: registry) != 0, "a missing argument is a usage error")
    }

    /// A store with the core only: enough to submit and run jobs, not to list them.
    final class CoreOnlyStore: JobQueueStore {
        let inner = MemoryBackend()
        var workSignal: AsyncSignal { inner.workSignal }
        func enqueue(_ jobs: [NewJob]) async throws -> [EnqueueResult] { try await inner.enqueue(jobs) }
        func claim(queues: [String], limit: Int, lease: Duration, workerID: String) async throws -> [ClaimedJob] {
            try await inner.claim(queues: queues, limit: limit, lease: lease, workerID: workerID)
        }
        func complete(_ outcomes: [JobOutcome]) async throws -> [JobLease] { try await inner.complete(outcomes) }
        func heartbeat(_ leases: [JobLease], lease: Duration) async throws -> [JobLease] { try await inner.heartbeat(leases, lease: lease) }
        func release(_ leases: [JobLease]) async throws { try await inner.release(leases) }
        func recoverExpiredLeases() async throws -> Int { try await inner.recoverExpiredLeases() }
        func timeUntilNextDue(queues: [String]) async throws -> Duration? { try await inner.timeUntilNextDue(queues: queues) }
    }

    struct CoreOnlyProvider: StoreProvider {
        let store: CoreOnlyStore
        var schemes: [String] { ["core"] }
        var example: String { "core://" }
        func open(_ url: StoreURL, patient: Bool) throws -> any JobQueueStore { store }
    }

    @Test func aStoreWithTheCoreOnlyRunsWorkersAndCommandsThatNeedMoreSayWhatIsMissing() async throws {
        let provider = CoreOnlyProvider(store: CoreOnlyStore())
        var registry = JobRegistry()
        registry.register(Greet.self)
        let stores: [any StoreProvider] = [provider]
        #expect(await ConveyorCommand.run(arguments: ["worker", "--burst", "--queues", "default", "--log-level", "error", "--store", "core://"], registry: registry, stores: stores) == 0)
        _ = try await provider.store.enqueue(NewJob(name: "app.greet", payload: Data(#"{"key":"ada"}"#.utf8)))
        #expect(await ConveyorCommand.run(arguments: ["worker", "--burst", "--queues", "default", "--log-level", "error", "--store", "core://"], registry: registry, stores: stores) == 0)
        #expect(try await provider.store.inner.jobs(JobQuery()).map(\.state) == [.succeeded])

        let providers = StoreProviders(stores)
        #expect(throws: ConveyorError.self) { try providers.open("core://", as: (any JobInspection & WorkerRegistry).self, neededBy: "`conveyor status`") }
        #expect(try providers.open("core://", as: (any JobQueueStore).self, neededBy: "`conveyor worker`") is CoreOnlyStore)
        do {
            _ = try providers.open("core://", as: (any JobAdministration & JobInspection).self, neededBy: "`conveyor retry`")
            Issue.record("a core-only store passed as an administrable one")
        } catch let error as ConveyorError {
            #expect(error.description == "`conveyor retry` needs a store with JobAdministration & JobInspection, and the store core:// (CoreOnlyStore) does not have it; use a store that does (SQLite, Redis)")
        }
        #expect(await ConveyorCommand.run(arguments: ["status", "--store", "core://"], stores: stores) != 0)
        #expect(await ConveyorCommand.run(arguments: ["worker", "--burst", "--store", "core://"], registry: registry, stores: stores) != 0,
                "discovering queues needs inspection")
    }

    /// A workflow is one enqueue: a store with the core only (no `createBatch`) takes a chord
    /// and runs it to its callback.
    @Test func aWorkflowIsOneEnqueueCall() async throws {
        let store = CoreOnlyStore()
        func job(_ key: String) throws -> NewJob { try JobClient(backend: store).makeNewJob(Greet(key: key)) }
        let ids = try await JobClient(backend: store).enqueue(.chord([.job(job("ada")), .job(job("grace"))], then: job("all")))
        var registry = JobRegistry()
        registry.register(Greet.self)
        try await Worker(backend: store, registry: registry, configuration: .init(concurrency: 2, stopWhenIdle: true)).run()
        let records = try await store.inner.jobs(JobQuery())
        #expect(records.map(\.id) == ids.map(\.id))
        #expect(records.map(\.state) == [.succeeded, .succeeded, .succeeded], "the callback ran after its group")
    }

    @Test func storeURLsNameTheirStoreAndAProgramOpensOnlyTheStoresItLinks() throws {
        #expect(StoreURL("conveyor.sqlite").scheme == "sqlite")
        #expect(StoreURL("conveyor.sqlite").location == "conveyor.sqlite")
        #expect(StoreURL("sqlite:///tmp/a.sqlite?retention=5").location == "/tmp/a.sqlite")
        #expect(StoreURL("sqlite:///tmp/a.sqlite?retention=5").options.map(\.key) == ["retention"])
        #expect(StoreURL("sqlite:rel.sqlite").location == "rel.sqlite")
        #expect(StoreURL("REDIS://h:1/0").scheme == "redis")
        #expect(StoreURL("memory:").scheme == "memory")
        #expect(StoreURL("odd:name.sqlite").scheme == "sqlite", "only sqlite: and memory: are short forms")

        let sqliteOnly = StoreProviders([SQLiteStoreProvider()])
        do {
            _ = try sqliteOnly.open("redis://:secret@127.0.0.1:1/0")
            Issue.record("a program without the Redis store opened one")
        } catch let error as ConveyorError {
            #expect(error.description.contains("no store for the scheme 'redis' in this program"), "\(error)")
            #expect(error.description.contains("sqlite:///path/to/file.sqlite"), "\(error)")
        }
        #expect(throws: ConveyorError.self) { try sqliteOnly.open("postgres://localhost/db") }
        #expect(sqliteOnly.provider(for: StoreURL("memory:")) != nil, "the memory store is always there")
        #expect(throws: ConveyorError.self) { try sqliteOnly.open("sqlite:///tmp/x.sqlite?colour=blue") }
    }
}
