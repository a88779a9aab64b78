import ConveyorIngest
import ConveyorIngestPostgres
import ConveyorTesting
import Foundation
import Logging
import PostgresNIO
import Testing

/// Runs `body` with a client of the test process's PostgreSQL (started by the test support
/// code on an ephemeral port; a machine without PostgreSQL fails the test, it never skips).
func withPostgresClient<T: Sendable>(_ body: (PostgresClient) async throws -> T) async throws -> T {
    let server = try PostgresServer.shared()
    let client = PostgresClient(configuration: .init(host: "127.0.0.1", port: server.port, username: "postgres",
                                                     password: nil, database: "postgres", tls: .disable))
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await client.run() }
        defer { group.cancelAll() }
        return try await body(client)
    }
}

let testLogger = Logger(label: "conveyor.test")

func freshTableName(_ label: String) -> String {
    "\(label)_\(UUID().uuidString.prefix(8).lowercased())"
}

@Suite("Batch sink into PostgreSQL")
struct PostgresSinkTests {
    @Test func upsertsByNaturalKeyAndCountsAddedUpdatedAndUnchanged() async throws {
        try await withPostgresClient { client in
            let table = freshTableName("properties")
            let target = try await PostgresUpsertTarget<Property>(client: client, table: table)
            #expect(try await target.write((0..<500).map { .sample($0) }) == SinkWriteResult(added: 500))
            var changed = (0..<500).map { Property.sample($0) }
            for index in stride(from: 0, to: 500, by: 5) { changed[index].note = "changed" }
            changed.append(.sample(500))
            changed.append(.sample(500, price: 7))
            #expect(try await target.write(changed) == SinkWriteResult(added: 1, updated: 101, unchanged: 400))
            let rows = try await client.query(PostgresQuery(unsafeSQL: "SELECT count(*), sum(CASE WHEN note IS NULL THEN 1 ELSE 0 END) FROM \(table)"))
            for try await (count, nulls) in rows.decode((Int64, Int64).self) {
                #expect(count == 501)
                // Every third sample has no note, less those changed to "changed" (every 15th).
                let expected = (0...500).filter { number in number % 3 == 0 && number % 5 != 0 }.count
                #expect(nulls == Int64(expected))
            }
        }
    }

    @Test func oneBadRowInTenThousandCommitsTheRestAndSpillsItWithTheServersError() async throws {
        try await withPostgresClient { client in
            let table = freshTableName("properties")
            try await client.query(PostgresQuery(unsafeSQL: propertiesTableSQL(table, real: "float8", integer: "bigint", bool: "boolean")))
            let target = try await PostgresUpsertTarget<Property>(client: client, table: table, createTable: false)
            let directory = try TemporaryDirectory()
            defer { directory.remove() }
            let spill = SpillFile(path: directory.file("spill.jsonl"))
            let stats = try await BatchSink.withSink(target, configuration: .init(maxCount: 10_000, capacity: 10_000), spill: spill) { sink in
                for number in 0..<10_000 { try await sink.send(.sample(number, price: number == 17 ? -5 : nil)) }
                try await sink.flush()
                return await sink.stats
            }
            #expect(stats.written.added == 9_999)
            #expect(stats.writes <= 1 + 2 * 14)
            let rows = try await client.query(PostgresQuery(unsafeSQL: "SELECT count(*) FROM \(table)"))
            for try await count in rows.decode(Int64.self) { #expect(count == 9_999) }
            let (spilled, _) = try await spill.records(as: Property.self)
            #expect(spilled.map(\.record.id) == ["p17"])
            #expect(spilled[0].error.contains("check constraint") || spilled[0].error.contains("23514"))
        }
    }

    @Test func aValueOfTheWrongKindIsRefusedNotWrittenAsZero() async throws {
        struct Mistyped: SinkRecord {
            var id: Int
            static let columns: [SinkColumn] = [.init("id", .integer), .init("price", .real)]
            static let key = ["id"]
            func values() -> [SinkValue] { [.integer(Int64(id)), id == 2 ? .text("12.50") : .integer(Int64(id))] }
        }
        try await withPostgresClient { client in
            let target = try await PostgresUpsertTarget<Mistyped>(client: client, table: freshTableName("mistyped"))
            await #expect(throws: SinkError.wrongKind(record: 2, column: "price", expected: .real, got: .text("12.50"))) {
                _ = try await target.write([Mistyped(id: 1), Mistyped(id: 2)])
            }
            // An integer fits a real column.
            #expect(try await target.write([Mistyped(id: 1), Mistyped(id: 3)]) == SinkWriteResult(added: 2))
        }
    }

    @Test func aTerminatedConnectionIsTransientAndTheWriteIsRetried() async throws {
        try await withPostgresClient { client in
            let table = freshTableName("properties")
            let target = try await PostgresUpsertTarget<Property>(client: client, table: table)
            let directory = try TemporaryDirectory()
            defer { directory.remove() }
            // The write finds its table locked, waits, and the server ends its session.
            let blocker = PostgresClient(configuration: .init(host: "127.0.0.1", port: try PostgresServer.shared().port,
                                                               username: "postgres", password: nil, database: "postgres", tls: .disable))
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await blocker.run() }
                defer { group.cancelAll() }
                try await blocker.withConnection { locker in
                    try await locker.query("BEGIN", logger: testLogger)
                    try await locker.query(PostgresQuery(unsafeSQL: "LOCK TABLE \(table) IN ACCESS EXCLUSIVE MODE"), logger: testLogger)
                    let pauses = PauseLog()
                    let sink = try BatchSink(target: target, configuration: .init(maxCount: 10, maxAge: .seconds(3600)),
                                             spill: SpillFile(path: directory.file("spill")), sleep: { pause in
                        await pauses.add(pause)
                        try await locker.query("ROLLBACK", logger: testLogger)
                    })
                    for number in 0..<10 { try await sink.send(.sample(number)) }
                    async let closed: Void = sink.close()
                    // Wait for the sink's statement to queue behind the lock, then end its session.
                    // The poll runs outside the locker's transaction: inside it, PostgreSQL would
                    // show the same snapshot of pg_stat_activity every time.
                    var ended = false
                    let deadline = ContinuousClock.now + .seconds(30)
                    while !ended {
                        let rows = try await client.query(PostgresQuery(unsafeSQL: """
                            SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                            WHERE wait_event_type = 'Lock' AND query LIKE '%INSERT INTO%\(table)%'
                            """), logger: testLogger)
                        for try await done in rows.decode(Bool.self) where done { ended = true }
                        if !ended {
                            try #require(ContinuousClock.now < deadline, "the sink's write never waited on the lock")
                            try await Task.sleep(for: .milliseconds(5))
                        }
                    }
                    try await closed
                    let stats = await sink.stats
                    #expect(await pauses.all.count == stats.transientErrors)
                    #expect(stats.transientErrors >= 1)
                    // Retried whole, never split as if a record were bad, nothing spilled.
                    #expect(stats.dataErrors == 0 && stats.spilled == 0)
                    #expect(stats.written.added == 10)
                }
            }
        }
    }
}
