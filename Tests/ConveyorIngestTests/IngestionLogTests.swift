import ConveyorIngest
import ConveyorIngestPostgres
import ConveyorIngestSQLite
import ConveyorTesting
import Foundation
import Synchronization
import Testing

/// The same cases on each durable log.
enum LogKind: String, CaseIterable, Sendable {
    case sqlite, postgres
}

func withLog<T: Sendable>(_ kind: LogKind, _ body: (any IngestionLog) async throws -> T) async throws -> T {
    switch kind {
    case .sqlite:
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        return try await body(try SQLiteIngestionLog(path: directory.file("jobs.sqlite")))
    case .postgres:
        return try await withPostgresClient { client in
            try await body(try await PostgresIngestionLog(client: client, table: freshTableName("ingestion_log")))
        }
    }
}

@Suite("Ingestion log and change detection")
struct IngestionLogTests {
    @Test(arguments: LogKind.allCases)
    func recordsAndListsNewestFirstBySourcePageByPage(kind: LogKind) async throws {
        try await withLog(kind) { log in
            let now = try await log.now()
            for number in 0..<25 {
                try await log.record(IngestionEntry(
                    source: number % 2 == 0 ? "faostat" : "worldbank", startedAt: now.addingTimeInterval(Double(number)),
                    duration: .milliseconds(number * 10), status: number % 5 == 0 ? .failed : .succeeded,
                    added: number, updated: 1, skipped: 2, failed: 0, bytes: Int64(number * 1000),
                    checksum: "c\(number)", error: number % 5 == 0 ? "HTTP 503" : nil))
            }
            let first = try await log.entries(IngestionQuery(source: "faostat", limit: 5))
            #expect(first.map(\.added) == [24, 22, 20, 18, 16])
            #expect(first[2].status == .failed && first[2].error == "HTTP 503")
            #expect(first[0].duration == .milliseconds(240))
            #expect(first[0].bytes == 24_000)
            let second = try await log.entries(IngestionQuery(source: "faostat", before: first.last!.id, limit: 5))
            #expect(second.map(\.added) == [14, 12, 10, 8, 6])
            #expect(try await log.allEntries(IngestionQuery(source: "faostat", limit: 4)).count == 13)
            #expect(try await log.entries(IngestionQuery(status: .failed)).map(\.added) == [20, 15, 10, 5, 0])
            let window = try await log.entries(IngestionQuery(since: now.addingTimeInterval(10), until: now.addingTimeInterval(13)))
            #expect(window.map(\.added) == [12, 11, 10])
            #expect(try await log.lastSuccess(of: "worldbank")?.added == 23)
            #expect(try await log.lastSuccess(of: "nobody") == nil)
        }
    }

    @Test(arguments: LogKind.allCases)
    func retentionDeletesOldEntriesInBoundedSteps(kind: LogKind) async throws {
        try await withLog(kind) { log in
            let now = try await log.now()
            for day in 0..<30 {
                try await log.record(IngestionEntry(source: "s", startedAt: now.addingTimeInterval(-Double(day) * 86_400 * 5 - 3600),
                                                    status: .succeeded, checksum: "d\(day)"))
            }
            // Older than 90 days: 90 days and an hour, 95 days and an hour, … twelve entries; steps of 4.
            #expect(try await log.prune(olderThan: .seconds(90 * 86_400), limit: 4) == 4)
            #expect(try await log.pruneAll(olderThan: .seconds(90 * 86_400), step: 4) == 8)
            let left = try await log.allEntries(IngestionQuery(source: "s"))
            #expect(left.count == 18)
            #expect(left.allSatisfy { now.timeIntervalSince($0.startedAt) <= 90 * 86_400 })
        }
    }

    @Test(arguments: LogKind.allCases)
    func unchangedContentIsRecordedAsSuchAndItsLoadSkipped(kind: LogKind) async throws {
        try await withLog(kind) { log in
            let ingestion = Ingestion(log: log)
            let loads = Mutex(0)
            let load: @Sendable () async throws -> LoadCounts = {
                loads.withLock { $0 += 1 }
                return LoadCounts(added: 10, updated: 2, skipped: 1)
            }
            let first = try await ingestion.run(source: "faostat:prices", fetch: { .content(checksum: "abc", bytes: 42) }, load: load)
            #expect(first.hasChanges)
            #expect(first.entry.status == .succeeded)
            #expect(first.entry.added == 10 && first.entry.updated == 2 && first.entry.skipped == 1)

            let again = try await ingestion.run(source: "faostat:prices", fetch: { .content(checksum: "abc", bytes: 42) }, load: load)
            #expect(!again.hasChanges)
            #expect(again.entry.status == .unchanged)
            #expect(loads.withLock { $0 } == 1)

            // Another source with the same bytes is its own: loaded.
            #expect(try await ingestion.run(source: "worldbank", fetch: { .content(checksum: "abc", bytes: 42) }, load: load).hasChanges)

            let html = try await ingestion.run(source: "faostat:prices", fetch: { .htmlError(status: 200, snippet: "<!doctype html><title>Maintenance</title>") }, load: load)
            #expect(html.entry.status == .htmlError)
            #expect(html.entry.error?.contains("Maintenance") == true)

            struct Broken: Error, CustomStringConvertible { var description: String { "connection reset" } }
            await #expect(throws: Broken.self) {
                try await ingestion.run(source: "faostat:prices", fetch: { throw Broken() }, load: load)
            }
            let changed = try await ingestion.run(source: "faostat:prices", fetch: { .content(checksum: "def", bytes: 50) }, load: load)
            #expect(changed.hasChanges)
            #expect(loads.withLock { $0 } == 3)
            let statuses = try await log.entries(IngestionQuery(source: "faostat:prices")).map(\.status)
            #expect(statuses == [.succeeded, .failed, .htmlError, .unchanged, .succeeded])
            #expect(try await log.entries(IngestionQuery(source: "faostat:prices", status: .failed)).first?.error == "connection reset")
        }
    }
}
