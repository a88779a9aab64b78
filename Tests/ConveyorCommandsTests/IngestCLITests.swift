import ConveyorIngest
import ConveyorIngestPostgres
import ConveyorIngestSQLite
import ConveyorTesting
import Foundation
import Testing

@Suite("conveyor ingest: the ingestion log from the command line")
struct IngestCLITests {
    static func record(_ log: any IngestionLog) async throws {
        let now = try await log.now()
        try await log.record(IngestionEntry(source: "faostat", startedAt: now.addingTimeInterval(-100 * 86_400), status: .succeeded,
                                            added: 1, checksum: "old"))
        try await log.record(IngestionEntry(source: "faostat", startedAt: now.addingTimeInterval(-60), duration: .milliseconds(1500),
                                            status: .succeeded, added: 120, updated: 3, skipped: 2, bytes: 4096,
                                            checksum: "9f86d081884c7d659a2feaa0c55ad015"))
        try await log.record(IngestionEntry(source: "faostat", startedAt: now, status: .failed, error: "HTTP 503 from faostat.fao.org"))
        try await log.record(IngestionEntry(source: "worldbank", startedAt: now, status: .unchanged, checksum: "abc"))
    }

    @Test func listsFiltersPagesAndPrunesTheLogInTheStoresSQLiteFile() async throws {
        let directory = try TemporaryDirectory(prefix: "conveyor-ingest-cli")
        defer { directory.remove() }
        let store = directory.file("jobs.sqlite")
        try await Self.record(try SQLiteIngestionLog(path: store))
        func conveyor(_ arguments: String...) async throws -> ConveyorProcess.Output {
            try await ConveyorProcess.run(["ingest"] + arguments + ["--store", store], in: directory.path)
        }

        let all = try await conveyor("log", "faostat")
        #expect(all.status == 0, "\(all.all)")
        let lines = all.stdout.split(separator: "\n")
        // The header, its rule, three entries.
        #expect(lines.count == 5, "\(all.stdout)")
        #expect(lines[0].contains("SOURCE") && lines[0].contains("CHECKSUM"))
        #expect(lines[2].contains("failed") && lines[2].contains("HTTP 503 from faostat.fao.org"))
        #expect(lines[3].contains("succeeded") && lines[3].contains("120") && lines[3].contains("1.50s") && lines[3].contains("9f86d081884c"))

        let failed = try await conveyor("log", "--status", "failed", "--json")
        #expect(failed.status == 0, "\(failed.all)")
        #expect(failed.stdout.contains("\"error\":\"HTTP 503 from faostat.fao.org\""), "\(failed.stdout)")
        #expect(!failed.stdout.contains("worldbank"))
        #expect(failed.stdout.contains("\"durationSeconds\":0"), "\(failed.stdout)")

        let page = try await conveyor("log", "--limit", "2")
        #expect(page.stdout.contains("More: conveyor ingest log --before 3"), "\(page.stdout)")
        let recent = try await conveyor("log", "faostat", "--since", "1h")
        #expect(recent.stdout.split(separator: "\n").count == 4, "\(recent.stdout)")

        let bogus = try await conveyor("log", "--status", "fine")
        #expect(bogus.status != 0)
        #expect(bogus.stderr.contains("--status fine: not a status; the statuses are succeeded, unchanged, not-modified, html-error, failed"), "\(bogus.stderr)")

        let pruned = try await conveyor("prune", "--older-than", "90d")
        #expect(pruned.stdout.contains("Deleted 1 ingestion log entry older than"), "\(pruned.all)")
        #expect(try await conveyor("log", "faostat").stdout.split(separator: "\n").count == 4)
    }

    @Test func aRedisStoreNeedsALogNamedAndAMissingDirectoryIsNamed() async throws {
        let directory = try TemporaryDirectory(prefix: "conveyor-ingest-cli")
        defer { directory.remove() }
        let redis = try await ConveyorProcess.run(["ingest", "log", "--store", "redis://127.0.0.1:1"], in: directory.path)
        #expect(redis.status != 0)
        #expect(redis.stderr.contains("this store keeps no ingestion log; name one with --log sqlite:PATH or --log postgres://"), "\(redis.stderr)")

        let beside = directory.file("ingest.sqlite")
        try await Self.record(try SQLiteIngestionLog(path: beside))
        let named = try await ConveyorProcess.run(["ingest", "log", "worldbank", "--store", "redis://127.0.0.1:1", "--log", "sqlite:\(beside)"], in: directory.path)
        #expect(named.status == 0, "\(named.all)")
        #expect(named.stdout.contains("unchanged"))

        let missing = try await ConveyorProcess.run(["ingest", "log", "--log", "/no/such/dir/log.sqlite"], in: directory.path)
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("bad ingestion log URL /no/such/dir/log.sqlite: the directory /no/such/dir does not exist"), "\(missing.stderr)")
    }

    @Test func readsTheLogBesideAPostgreSQLStore() async throws {
        let url = try PostgresServer.freshStoreURL("ingestcli") + "&sslmode=disable"
        try await PostgresIngestionLogProvider().withLog(url) { log in try await Self.record(log) }
        let directory = try TemporaryDirectory(prefix: "conveyor-ingest-cli")
        defer { directory.remove() }
        let listed = try await ConveyorProcess.run(["ingest", "log", "faostat", "--store", url], in: directory.path)
        #expect(listed.status == 0, "\(listed.all)")
        #expect(listed.stdout.contains("HTTP 503 from faostat.fao.org"))
        let pruned = try await ConveyorProcess.run(["ingest", "prune", "--store", url], in: directory.path)
        #expect(pruned.stdout.contains("Deleted 1 ingestion log entry"), "\(pruned.all)")
    }
}
