import ConveyorIngest
import ConveyorIngestSQLite
import ConveyorTesting
import Foundation
import GRDB
import Testing

/// Seed 002's example (`Examples/POSFetcher`) run for real against its stand-in branch site:
/// on SQLite, and with the jobs on Redis and the rows in PostgreSQL.
@Suite("Example: seed 002's branch/POS file fetcher")
struct POSFetcherExampleTests {
    static let program = ConveyorProcess.sibling("pos-fetcher")

    @Test func fetchesStreamsParsesAndBulkInsertsAndSkipsUnchangedFilesOnSQLite() async throws {
        let directory = try TemporaryDirectory(prefix: "pos-fetcher")
        defer { directory.remove() }
        let first = try await ConveyorProcess.run(["demo"], in: directory.path, program: Self.program)
        #expect(first.status == 0, "\(first.all)")
        // 3 good branch-days of 2 files, HALF's second file an HTML page, CLOSED's list an HTML page.
        #expect(first.stdout.contains("enqueued 5 fetch jobs as one batch"), "\(first.stdout)")
        #expect(first.stdout.contains("transactions: 10500 added, 0 updated, 0 unchanged, 0 spilled"), "\(first.stdout)")
        #expect(first.stdout.contains("ingestion log: 2 monitor entries, 0 unchanged files"), "\(first.stdout)")

        let log = try SQLiteIngestionLog(path: directory.file("pos.sqlite"))
        let monitor = try await log.allEntries(IngestionQuery(status: .htmlError))
        #expect(Set(monitor.map(\.source)) == ["CLOSED/3/2025-08-15", "HALF/1/2025-08-15/HALF_1_2025-08-15_2.csv"])
        let loaded = try await log.allEntries(IngestionQuery(status: .succeeded))
        #expect(loaded.count == 7)
        #expect(loaded.allSatisfy { $0.added == 1500 && $0.bytes > 0 && $0.checksum?.count == 64 })
        let database = try DatabaseQueue(path: directory.file("pos.sqlite"))
        #expect(try await database.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM transactions") } == 10_500)

        // The same map again: every file is fetched, found unchanged by its checksum, and not loaded.
        let second = try await ConveyorProcess.run(["demo"], in: directory.path, program: Self.program)
        #expect(second.stdout.contains("transactions: 0 added, 0 updated, 0 unchanged, 0 spilled in 0 flushes"), "\(second.stdout)")
        #expect(second.stdout.contains("7 unchanged files"), "\(second.stdout)")

        let bad = try await ConveyorProcess.run(["submit", "--site", "http://127.0.0.1:1", "--missing", #"{"SMNAG":{"one":["2025-08-15"]}}"#],
                                                in: directory.path, program: Self.program)
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("--missing: POS \"one\" of branch SMNAG is not a number"), "\(bad.stderr)")
    }

    @Test func runsWithJobsOnRedisAndRowsAndTheLogInPostgreSQL() async throws {
        let directory = try TemporaryDirectory(prefix: "pos-fetcher")
        defer { directory.remove() }
        let redis = try RedisServer()
        defer { redis.stop() }
        let target = try PostgresServer.freshStoreURL("pos") + "&sslmode=disable"
        let run = try await ConveyorProcess.run(["demo", "--store", redis.url, "--target", target], in: directory.path, program: Self.program)
        #expect(run.status == 0, "\(run.all)")
        #expect(run.stdout.contains("transactions: 10500 added, 0 updated, 0 unchanged, 0 spilled"), "\(run.stdout)")
        let listed = try await ConveyorProcess.run(["ingest", "log", "--store", target, "--status", "html-error"], in: directory.path)
        #expect(listed.status == 0, "\(listed.all)")
        #expect(listed.stdout.contains("CLOSED/3/2025-08-15"), "\(listed.stdout)")
    }
}
