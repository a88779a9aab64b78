import ConveyorIngest
import ConveyorIngestSQLite
import ConveyorTesting
import Foundation
import GRDB
import MetricsTestKit
import Testing

@Suite("Batch sink: flushing, splitting, retries, back-pressure")
struct BatchSinkTests {
    @Test func flushesByCountAndOnClose() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let target = ScriptedTarget()
        let configuration = BatchSink<ScriptedTarget>.Configuration(maxCount: 100, maxAge: .seconds(3600))
        let stats = try await BatchSink.withSink(target, configuration: configuration, spill: SpillFile(path: directory.file("spill"))) { sink in
            for number in 0..<250 { try await sink.send(.sample(number)) }
            return await sink.stats
        }
        #expect(stats.accepted == 250)
        #expect(target.writeSizes == [100, 100, 50])
        #expect(target.written.map(\.id) == (0..<250).map { "p\($0)" })
    }

    @Test func flushesByBytes() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let target = ScriptedTarget()
        let size = Property.sample(1).estimatedBytes
        let configuration = BatchSink<ScriptedTarget>.Configuration(maxCount: 1000, maxBytes: size * 10, maxAge: .seconds(3600))
        try await BatchSink.withSink(target, configuration: configuration, spill: SpillFile(path: directory.file("spill"))) { sink in
            for number in 1...9 { try await sink.send(.sample(number)) }   // the same size: digits 1-9
            try await sink.send(.sample(1))
        }
        #expect(target.writeSizes.first == 10)
    }

    @Test func aPartialBufferIsFlushedWhenItsOldestRecordIsMaxAgeOld() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let target = ScriptedTarget()
        let sink = try BatchSink(target: target, configuration: .init(maxCount: 1000, maxAge: .milliseconds(50)),
                                 spill: SpillFile(path: directory.file("spill")))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await sink.run() }
            try await sink.send(.sample(1))
            try await sink.send(.sample(2))
            // Nothing asks for a flush: the age does. Wait on the write itself.
            let deadline = ContinuousClock.now + .seconds(30)
            while target.writeSizes.isEmpty {
                try #require(ContinuousClock.now < deadline, "no flush came for the partial buffer")
                try await Task.sleep(for: .milliseconds(5))
            }
            #expect(target.writeSizes == [2])
            try await sink.close()
        }
    }

    @Test func oneBadRecordInTenThousandCostsItselfAndAboutTwiceLog2Statements() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let target = ScriptedTarget(refused: ["p4321"])
        let spill = SpillFile(path: directory.file("properties.spill.jsonl"))
        let configuration = BatchSink<ScriptedTarget>.Configuration(maxCount: 10_000, maxAge: .seconds(3600), capacity: 10_000)
        let stats = try await BatchSink.withSink(target, configuration: configuration, spill: spill) { sink in
            for number in 0..<10_000 { try await sink.send(.sample(number)) }
            try await sink.flush()
            return await sink.stats
        }
        #expect(target.written.count == 9_999)
        #expect(!target.written.contains { $0.id == "p4321" })
        #expect(stats.spilled == 1)
        #expect(stats.flushes == 1)
        // 1 failed write, then at each of 14 levels one half fails and one succeeds.
        #expect(stats.writes <= 1 + 2 * 14)
        let (spilled, issues) = try await spill.records(as: Property.self)
        #expect(issues.isEmpty)
        #expect(spilled.map(\.record) == [.sample(4321)])
        #expect(spilled[0].reason == "refused by the target")
        #expect(spilled[0].error.contains("DataFailure"))
        #expect(spilled[0].target == "scripted")
    }

    @Test func transientErrorsRetryTheWholeWriteWithoutSplitting() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let target = ScriptedTarget(transientFailures: 3)
        let pauses = PauseLog()
        let sink = try BatchSink(target: target, configuration: .init(maxCount: 100, maxAge: .seconds(3600), backoff: .milliseconds(100)),
                                 spill: SpillFile(path: directory.file("spill")), sleep: { await pauses.add($0) })
        for number in 0..<100 { try await sink.send(.sample(number)) }
        try await sink.close()
        #expect(target.writeSizes == [100, 100, 100, 100])
        #expect(target.written.count == 100)
        #expect(await pauses.all == [.milliseconds(100), .milliseconds(200), .milliseconds(400)])
        #expect(await sink.stats.spilled == 0)
    }

    @Test func recordsOfAWriteThatStaysTransientlyFailingAreSpilledNotLost() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let target = ScriptedTarget(transientFailures: 100)
        let spill = SpillFile(path: directory.file("spill"))
        let sink = try BatchSink(target: target, configuration: .init(maxCount: 10, maxAge: .seconds(3600), transientRetries: 2),
                                 spill: spill, sleep: { _ in })
        for number in 0..<10 { try await sink.send(.sample(number)) }
        try await sink.close()
        #expect(target.writeSizes == [10, 10, 10])
        let (spilled, _) = try await spill.records(as: Property.self)
        #expect(spilled.count == 10)
        #expect(spilled[0].reason == "transient failures: 3 attempts")
        await #expect(throws: SinkError.closed) { try await sink.send(.sample(11)) }
    }

    @Test func aSlowTargetHoldsProducersAtTheCapacity() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let target = ScriptedTarget(held: true)
        let sink = try BatchSink(target: target, configuration: .init(maxCount: 10, maxAge: .seconds(3600), capacity: 20),
                                 spill: SpillFile(path: directory.file("spill")))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await sink.run() }
            for number in 0..<10 { try await sink.send(.sample(number)) }
            await target.waitUntilAWriteIsHeld()      // the first 10 are being written
            for number in 10..<30 { try await sink.send(.sample(number)) }
            #expect(await sink.stats.buffered == 20)
            let blocked = Task { try await sink.send(.sample(30)) }
            // The 31st record waits for room; the gate opens, the writes go through, it gets in.
            try await Task.sleep(for: .milliseconds(20))
            #expect(await sink.stats.accepted == 30)
            target.release()
            try await blocked.value
            try await sink.close()
        }
        #expect(target.written.count == 31)
    }

    @Test func spilledRecordsReplayIntoTheSinkAndTheFileIsGone() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let spill = SpillFile(path: directory.file("spill.jsonl"))
        let refusing = ScriptedTarget(refused: ["p3", "p7"])
        try await BatchSink.withSink(refusing, configuration: .init(maxCount: 10), spill: spill) { sink in
            for number in 0..<10 { try await sink.send(.sample(number)) }
        }
        #expect(try await spill.records(as: Property.self).records.map(\.record.id) == ["p3", "p7"])

        let accepting = ScriptedTarget()
        let replayed = try await BatchSink.withSink(accepting, spill: spill) { sink in try await spill.replay(into: sink) }
        #expect(replayed == 2)
        #expect(accepting.written.map(\.id) == ["p3", "p7"])
        #expect(!FileManager.default.fileExists(atPath: spill.path))
        #expect(!FileManager.default.fileExists(atPath: spill.path + ".replaying"))
    }

    @Test func countsRowsFlushesAndErrorsInItsMetrics() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let metrics = TestMetrics()
        let target = ScriptedTarget(transientFailures: 1, refused: ["p3"])
        let configuration = BatchSink<ScriptedTarget>.Configuration(maxCount: 10, maxAge: .seconds(3600), label: "props", metricsFactory: metrics)
        let sink = try BatchSink(target: target, configuration: configuration, spill: SpillFile(path: directory.file("spill")), sleep: { _ in })
        for number in 0..<10 { try await sink.send(.sample(number)) }
        try await sink.close()
        func counter(_ label: String, _ dimensions: [(String, String)]) throws -> Int64 {
            try metrics.expectCounter(label, [("sink", "props")] + dimensions).totalValue
        }
        #expect(try counter("conveyor_sink_rows_total", [("outcome", "added")]) == 9)
        #expect(try counter("conveyor_sink_rows_total", [("outcome", "spilled")]) == 1)
        #expect(try counter("conveyor_sink_errors_total", [("kind", "transient")]) == 1)
        #expect(try counter("conveyor_sink_errors_total", [("kind", "data")]) >= 1)
        #expect(try metrics.expectRecorder("conveyor_sink_flush_records", [("sink", "props")]).lastValue == 10)
        #expect(try metrics.expectTimer("conveyor_sink_flush_duration", [("sink", "props")]).values.count == 1)
    }

    @Test func badConfigurationsAndRecordTypesAreRefusedByName() throws {
        let spill = SpillFile(path: "/tmp/unused")
        #expect(throws: SinkError.badConfiguration("maxCount is 0; it must be at least 1")) {
            _ = try BatchSink(target: ScriptedTarget(), configuration: .init(maxCount: 0), spill: spill)
        }
        #expect(throws: SinkError.badConfiguration("capacity is 5; it must be at least maxCount (10)")) {
            _ = try BatchSink(target: ScriptedTarget(), configuration: .init(maxCount: 10, capacity: 5), spill: spill)
        }
    }
}

actor PauseLog {
    var all: [Duration] = []
    func add(_ pause: Duration) { all.append(pause) }
}

@Suite("Batch sink into SQLite")
struct SQLiteSinkTests {
    @Test func upsertsByNaturalKeyAndCountsAddedUpdatedAndUnchanged() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let database = try DatabasePool(path: directory.file("app.sqlite"))
        let target = try await SQLiteUpsertTarget<Property>(database: database, table: "properties")
        let first = try await target.write((0..<500).map { .sample($0) })
        #expect(first == SinkWriteResult(added: 500))
        var changed = (0..<500).map { Property.sample($0) }
        for index in stride(from: 0, to: 500, by: 5) { changed[index].price += 1 }
        changed.append(.sample(500))
        changed.append(.sample(500, price: 7))   // the same key twice: the last wins
        let second = try await target.write(changed)
        #expect(second == SinkWriteResult(added: 1, updated: 101, unchanged: 400))
        let (count, price) = try await database.read { db in
            (try Int.fetchOne(db, sql: "SELECT count(*) FROM properties")!,
             try Double.fetchOne(db, sql: "SELECT price FROM properties WHERE id = 'p500'")!)
        }
        #expect(count == 501)
        #expect(price == 7)
    }

    @Test func oneBadRowInTenThousandCommitsTheRestAndSpillsItWithTheDatabasesError() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let database = try DatabasePool(path: directory.file("app.sqlite"))
        try await database.write { db in try db.execute(sql: propertiesTableSQL("properties")) }
        let target = try await SQLiteUpsertTarget<Property>(database: database, table: "properties", createTable: false)
        let spill = SpillFile(path: directory.file("properties.spill.jsonl"))
        let stats = try await BatchSink.withSink(target, configuration: .init(maxCount: 10_000, capacity: 10_000), spill: spill) { sink in
            for number in 0..<10_000 { try await sink.send(.sample(number, price: number == 6789 ? -1 : nil)) }
            try await sink.flush()
            return await sink.stats
        }
        let count = try await database.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM properties")! }
        #expect(count == 9_999)
        #expect(stats.written.added == 9_999)
        #expect(stats.writes <= 1 + 2 * 14)
        let (spilled, _) = try await spill.records(as: Property.self)
        #expect(spilled.map(\.record.id) == ["p6789"])
        #expect(spilled[0].error.contains("CHECK constraint failed"))
    }

    @Test func aRecordWithoutAValueForARequiredColumnIsRefusedAlone() async throws {
        struct Tagged: SinkRecord, Equatable {
            var id: Int
            var tag: String?
            static let columns: [SinkColumn] = [.init("id", .integer), .init("tag", .text)]
            static let key = ["id"]
            func values() -> [SinkValue] { [.integer(Int64(id)), tag.map(SinkValue.text) ?? .null] }
        }
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let database = try DatabaseQueue(path: directory.file("t.sqlite"))
        let target = try await SQLiteUpsertTarget<Tagged>(database: database, table: "tagged")
        await #expect(throws: SinkError.nullValue(record: 2, column: "tag")) {
            _ = try await target.write([Tagged(id: 1, tag: "a"), Tagged(id: 2, tag: nil)])
        }
        let spill = SpillFile(path: directory.file("spill"))
        try await BatchSink.withSink(target, spill: spill) { sink in
            for id in 1...4 { try await sink.send(Tagged(id: id, tag: id == 3 ? nil : "t\(id)")) }
        }
        #expect(try await database.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM tagged") } == 3)
        #expect(try await spill.records(as: Tagged.self).records.map(\.record.id) == [3])
    }

    @Test func aValueOfTheWrongKindIsRefusedByNameNotConverted() async throws {
        struct Mistyped: SinkRecord {
            var id: Int
            var count: String   // the column says integer: a typo in values()
            static let columns: [SinkColumn] = [.init("id", .integer), .init("count", .integer)]
            static let key = ["id"]
            func values() -> [SinkValue] { [.integer(Int64(id)), id == 2 ? .text(count) : .integer(Int64(count)!)] }
        }
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let target = try await SQLiteUpsertTarget<Mistyped>(database: DatabaseQueue(path: directory.file("m.sqlite")), table: "mistyped")
        await #expect(throws: SinkError.wrongKind(record: 2, column: "count", expected: .integer, got: .text("7"))) {
            _ = try await target.write([Mistyped(id: 1, count: "5"), Mistyped(id: 2, count: "7")])
        }
        let spill = SpillFile(path: directory.file("spill"))
        let stats = try await BatchSink.withSink(target, spill: spill) { sink in
            for id in 1...3 { try await sink.send(Mistyped(id: id, count: "\(id)")) }
            try await sink.flush()
            return await sink.stats
        }
        #expect(stats.written.added == 2)
        #expect(try await spill.records(as: Mistyped.self).records.map(\.record.id) == [2])
    }

    @Test func aTableWithoutRowidsCountsTheKeysAlreadyThere() async throws {
        struct Pair: SinkRecord {
            var key: String
            var value: Int
            static let columns: [SinkColumn] = [.init("key", .text), .init("value", .integer)]
            static let key = ["key"]
            func values() -> [SinkValue] { [.text(key), .integer(Int64(value))] }
        }
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let database = try DatabaseQueue(path: directory.file("w.sqlite"))
        try await database.write { try $0.execute(sql: "CREATE TABLE pairs (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID") }
        let target = try await SQLiteUpsertTarget<Pair>(database: database, table: "pairs", createTable: false)
        #expect(try await target.write((0..<700).map { Pair(key: "k\($0)", value: $0) }) == SinkWriteResult(added: 700))
        let second = try await target.write((0..<800).map { Pair(key: "k\($0)", value: $0 < 100 ? -$0 - 1 : $0) })
        #expect(second == SinkWriteResult(added: 100, updated: 100, unchanged: 600))
    }

    @Test func anIntegerPrimaryKeyIsTheRowidAndCountsStayRight() async throws {
        struct Numbered: SinkRecord {
            var id: Int
            var value: Int
            static let columns: [SinkColumn] = [.init("id", .integer), .init("value", .integer)]
            static let key = ["id"]
            func values() -> [SinkValue] { [.integer(Int64(id)), .integer(Int64(value))] }
        }
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let database = try DatabaseQueue(path: directory.file("n.sqlite"))
        let target = try await SQLiteUpsertTarget<Numbered>(database: database, table: "numbered")   // id INTEGER, PRIMARY KEY (id)
        #expect(try await target.write((0..<700).map { Numbered(id: $0, value: $0) }) == SinkWriteResult(added: 700))
        let second = try await target.write((0..<800).map { Numbered(id: $0, value: $0 < 100 ? -1 : $0) })
        #expect(second == SinkWriteResult(added: 100, updated: 100, unchanged: 600))
    }

    @Test func aLockedDatabaseIsTransientAndTheWriteGoesThroughOnceItIsFree() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("app.sqlite")
        var configuration = Configuration()
        configuration.busyMode = .immediateError
        let database = try DatabasePool(path: path, configuration: configuration)
        let target = try await SQLiteUpsertTarget<Property>(database: database, table: "properties")
        // Another connection holds the write lock for the first two attempts.
        let other = try DatabaseQueue(path: path)
        let release = DispatchSemaphore(value: 0)
        await withCheckedContinuation { (taken: CheckedContinuation<Void, Never>) in
            // A thread of its own holds the lock, so no test task blocks while it is held.
            Thread.detachNewThread {
                try? other.inDatabase { db in
                    try db.execute(sql: "BEGIN IMMEDIATE")
                    taken.resume()
                    release.wait()
                    try db.execute(sql: "COMMIT")
                }
            }
        }
        let pauses = PauseLog()
        let sink = try BatchSink(target: target, configuration: .init(maxCount: 50, maxAge: .seconds(3600)),
                                 spill: SpillFile(path: directory.file("spill")), sleep: { pause in
            await pauses.add(pause)
            if await pauses.all.count == 2 {
                release.signal()
                try await other.read { _ in }   // the COMMIT has run once the queue is free again
            }
        })
        for number in 0..<50 { try await sink.send(.sample(number)) }
        try await sink.close()
        #expect(await pauses.all.count == 2)
        #expect(await sink.stats.transientErrors == 2)
        #expect(try await database.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM properties") } == 50)
    }
}
