import ConveyorTesting
import Foundation
import GRDB
import Testing

/// Seed 003's example (`Examples/PropertyBatches`) run for real: on SQLite, on Redis with
/// PostgreSQL, and SIGKILLed in the middle of its flushes.
@Suite("Example: seed 003's property batches")
struct PropertyBatchesExampleTests {
    static let program = ConveyorProcess.sibling("property-batches")

    func example(_ arguments: [String], in directory: TemporaryDirectory) async throws -> ConveyorProcess.Output {
        try await ConveyorProcess.run(arguments, in: directory.path, program: Self.program)
    }

    @Test func postsBatchesAsJobsAndTheSinkIsolatesTheBadRecordOnSQLite() async throws {
        let directory = try TemporaryDirectory(prefix: "property-batches")
        defer { directory.remove() }
        let run = try await example(["run", "--batches", "20", "--size", "100", "--bad", "1"], in: directory)
        #expect(run.status == 0, "\(run.all)")
        #expect(run.stdout.contains("20 batches of 100 properties: 1999 added, 0 updated, 0 unchanged, 1 spilled to properties.spill.jsonl"), "\(run.stdout)")
        let database = try DatabaseQueue(path: directory.file("properties.sqlite"))
        #expect(try await database.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM properties") } == 1999)
        let spill = try String(contentsOfFile: directory.file("properties.spill.jsonl"), encoding: .utf8)
        #expect(spill.split(separator: "\n").count == 1)
        #expect(spill.contains("CHECK constraint failed: price >= 0"), "\(spill)")
        #expect(spill.contains("\"price\":-1"))

        // The same posts again change nothing; the bad record, replayed, is refused again.
        let again = try await example(["run", "--batches", "20", "--size", "100", "--bad", "1", "--spill", "again.jsonl"], in: directory)
        #expect(again.stdout.contains("0 added, 0 updated, 1999 unchanged, 1 spilled"), "\(again.stdout)")
        let replay = try await example(["replay"], in: directory)
        #expect(replay.stdout.contains("replayed 1 records from properties.spill.jsonl: 0 written, 1 spilled again"), "\(replay.all)")
    }

    @Test func runsWithJobsOnRedisAndRowsInPostgreSQL() async throws {
        let directory = try TemporaryDirectory(prefix: "property-batches")
        defer { directory.remove() }
        let redis = try RedisServer()
        defer { redis.stop() }
        let target = try PostgresServer.freshStoreURL("props") + "&sslmode=disable"
        let run = try await example(["run", "--store", redis.url, "--target", target, "--batches", "30", "--size", "50", "--bad", "2"], in: directory)
        #expect(run.status == 0, "\(run.all)")
        #expect(run.stdout.contains("30 batches of 50 properties: 1498 added, 0 updated, 0 unchanged, 2 spilled"), "\(run.stdout)")
        let spill = try String(contentsOfFile: directory.file("properties.spill.jsonl"), encoding: .utf8)
        #expect(spill.contains("violates check constraint"), "\(spill)")
    }

    @Test(arguments: ["sqlite", "postgres"])
    func aKillDuringTheFlushesLeavesWholeFlushesOnlyAndARerunCompletes(store: String) async throws {
        let directory = try TemporaryDirectory(prefix: "property-batches")
        defer { directory.remove() }
        let target = store == "sqlite" ? "sqlite:\(directory.file("properties.sqlite"))"
            : try PostgresServer.freshStoreURL("kill") + "&sslmode=disable"
        let rows = 400_000
        let arguments = ["load", "--target", target, "--rows", String(rows), "--flush", "1000"]
        let log = directory.file("load.log")
        let child = try await ConveyorProcess.start(arguments, in: directory.path, log: log, program: Self.program)
        // Wait until some flushes are in, then kill it where it stands.
        var committed = 0
        while committed < 20_000 {
            #expect(child.isRunning, "the load ended before it could be killed: \(String(decoding: FileManager.default.contents(atPath: log) ?? Data(), as: UTF8.self))")
            guard child.isRunning else { return }
            committed = try await Self.count(target)
        }
        child.kill(SIGKILL)
        #expect(await child.waitForExit() == 128 + SIGKILL)

        // Whole flushes only: rows 0..<k×1000, each once, nothing else.
        let (count, below) = try await Self.countAndContiguous(target)
        #expect(count % 1000 == 0, "\(count) rows: a flush was cut")
        #expect(count < rows, "the load finished before the kill")
        #expect(below == count)

        let rerun = try await ConveyorProcess.run(arguments, in: directory.path, program: Self.program)
        #expect(rerun.status == 0, "\(rerun.all)")
        // A statement the server had already received may still commit after its client died
        // (PostgreSQL runs it to the end): the rerun finds at least the rows counted.
        let written = try #require(rerun.stdout.firstMatch(of: /loaded \d+ rows: (\d+) added, (\d+) updated, (\d+) unchanged/), "\(rerun.stdout)")
        let (added, updated, unchanged) = (Int(written.1)!, Int(written.2)!, Int(written.3)!)
        #expect(added + updated + unchanged == rows)
        #expect(added <= rows - count)
        #expect(try await Self.count(target) == rows)
    }

    /// Rows in the target's table.
    static func count(_ target: String) async throws -> Int {
        try await countAndContiguous(target).count
    }

    /// The rows, and how many of them have a number below that count (all, if the rows are
    /// exactly 0..<count).
    static func countAndContiguous(_ target: String) async throws -> (count: Int, below: Int) {
        if target.hasPrefix("sqlite:") {
            let path = String(target.dropFirst("sqlite:".count))
            guard FileManager.default.fileExists(atPath: path) else { return (0, 0) }
            var configuration = Configuration()
            configuration.busyMode = .timeout(10)
            let database = try DatabaseQueue(path: path, configuration: configuration)
            return try await database.read { db in
                guard try db.tableExists("properties") else { return (0, 0) }
                let count = try Int.fetchOne(db, sql: "SELECT count(*) FROM properties")!
                let below = try Int.fetchOne(db, sql: "SELECT count(*) FROM properties WHERE CAST(substr(url, 28) AS INTEGER) < ?", arguments: [count])!
                return (count, below)
            }
        }
        return try await PostgresCount.countAndContiguous(target)
    }
}

import ConveyorIngestPostgres
import PostgresNIO

enum PostgresCount {
    static func countAndContiguous(_ url: String) async throws -> (count: Int, below: Int) {
        let (configuration, schema) = try PostgresURL.clientConfiguration(url)
        let client = PostgresClient(configuration: configuration)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            let exists = try await client.query(PostgresQuery(unsafeSQL: "SELECT to_regclass('\(schema).properties') IS NOT NULL"))
            for try await present in exists.decode(Bool.self) where !present { return (0, 0) }
            let rows = try await client.query(PostgresQuery(unsafeSQL: """
                WITH n AS (SELECT count(*) AS c FROM \(schema).properties)
                SELECT (SELECT c FROM n), (SELECT count(*) FROM \(schema).properties WHERE substr(url, 28)::bigint < (SELECT c FROM n))
                """))
            for try await (count, below) in rows.decode((Int64, Int64).self) { return (Int(count), Int(below)) }
            return (0, 0)
        }
    }
}
