import Conveyor
import ConveyorSQLite
import ConveyorTesting
import Foundation
import GRDB
import Testing

/// Jobs enqueued in the application's own transaction exist exactly when its rows do.
@Suite("SQLite: enqueue inside the caller's transaction")
struct SQLiteTransactionTests {
    struct Rollback: Error {}

    static func job(_ key: String) -> NewJob {
        NewJob(name: "source.check", payload: Data(#"{"key":"\#(key)"}"#.utf8), batchID: "checks")
    }

    @Test func jobsCommitAndRollBackWithTheCallersRows() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let store = try SQLiteBackend(path: directory.file("app.sqlite"))
        try await store.transaction { db in
            try db.execute(sql: "CREATE TABLE sources (key TEXT PRIMARY KEY)")
        }

        // Committed: the row and its job, and waiting workers hear of it.
        let before = store.workSignal.generation
        let created = try await store.transaction { db -> [EnqueueResult] in
            try db.execute(sql: "INSERT INTO sources (key) VALUES ('faostat')")
            return try store.enqueue([Self.job("faostat")], in: db)
        }
        #expect(store.workSignal.generation > before)
        #expect(try await store.job(created[0].id)?.state == .ready)
        #expect(try await store.batch("checks")?.total == 1)

        // Rolled back: neither the row nor the job, nor the batch's count, and no wake-up.
        let quiet = store.workSignal.generation
        await #expect(throws: Rollback.self) {
            try await store.transaction { db in
                try db.execute(sql: "INSERT INTO sources (key) VALUES ('worldbank')")
                try store.enqueue([Self.job("worldbank")], in: db)
                throw Rollback()
            }
        }
        #expect(store.workSignal.generation == quiet)
        #expect(try await store.jobs(JobQuery()).count == 1)
        #expect(try await store.batch("checks")?.total == 1)
        let keys = try await store.transaction { db in try String.fetchAll(db, sql: "SELECT key FROM sources") }
        #expect(keys == ["faostat"])

        // An invalid job fails the caller's transaction: its rows are not committed either.
        var invalid = Self.job("osm")
        invalid.dependsOn = .earlier(3)
        let bad = invalid
        await #expect(throws: ConveyorError.self) {
            try await store.transaction { db in
                try db.execute(sql: "INSERT INTO sources (key) VALUES ('osm')")
                try store.enqueue([bad], in: db)
            }
        }
        #expect(try await store.transaction { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM sources") } == 1)
    }

    @Test func theApplicationsOwnConnectionToTheFileWorksAndAWorkerRunsTheJob() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("app.sqlite")
        let store = try SQLiteBackend(path: path)
        let app = try DatabaseQueue(path: path)
        try await app.write { db in try db.execute(sql: "CREATE TABLE sources (key TEXT PRIMARY KEY)") }

        let id = try await app.write { db -> JobID in
            try db.execute(sql: "INSERT INTO sources (key) VALUES ('faostat')")
            return try store.enqueue([NewJob(name: "conveyor.echo", payload: Data(#"{"hello":1}"#.utf8))], in: db)[0].id
        }
        var registry = JobRegistry()
        registry.register(EchoJob.self)
        let worker = Worker(backend: store, registry: registry, configuration: .init(concurrency: 1, stopWhenIdle: true))
        try await worker.run()
        #expect(try await store.job(id)?.state == .succeeded)

        // Outside a transaction the jobs would commit on their own: refused.
        let outside = try await app.writeWithoutTransaction { db -> Bool in
            do {
                _ = try store.enqueue([NewJob(name: "conveyor.echo", payload: Data("{}".utf8))], in: db)
                return false
            } catch {
                return "\(error)".contains("needs an open write transaction")
            }
        }
        #expect(outside)
        try app.close()
    }

    struct EchoJob: Job {
        static let name = "conveyor.echo"
        var hello: Int
        func run(_ context: JobContext) async throws -> Int { hello }
    }
}
