// property-batches: seed 003's property batch processor on Conveyor.
//
// Spiders post batches of scraped properties; each batch becomes a job; workers hand every
// property to one BatchSink, which upserts them into the target database by their natural key
// in transactional flushes, isolates a bad record by splitting the failing flush, and spills
// it with the database's error to a JSON-lines file that `replay` sends again.
//
//   property-batches run [--store URL] [--target URL] [--batches 50] [--size 100] [--bad 1]
//                        [--spill FILE] [--concurrency 8]
//   property-batches replay [--target URL] [--spill FILE]
//   property-batches load [--target URL] [--rows N] [--flush 1000]     (one producer, in key order)
//
// --store is the job store (SQLite by default; redis://… or postgres://… for a fleet);
// --target the properties' database (sqlite:PATH, default properties.sqlite, or postgres://…).
import Conveyor
import ConveyorIngest
import ConveyorIngestPostgres
import ConveyorIngestSQLite
import ConveyorPostgres
import ConveyorRedis
import ConveyorSQLite
import Foundation
import GRDB
import Logging
import PostgresNIO

/// A scraped property (seed 003's `models.Property`). A negative price is refused by the
/// table's CHECK constraint: the "bad record" of the walkthrough.
struct Property: SinkRecord {
    var url: String
    var source: String
    var city: String
    var street: String
    var price: Double
    var area: Double
    var rooms: Int
    var year: Int
    var sold: Bool
    var agent: String?

    static let columns: [SinkColumn] = [
        .init("url", .text), .init("source", .text), .init("city", .text), .init("street", .text), .init("price", .real),
        .init("area", .real), .init("rooms", .integer), .init("year", .integer), .init("sold", .bool), .init("agent", .text, nullable: true),
    ]
    static let key = ["url"]

    func values() -> [SinkValue] {
        [.text(url), .text(source), .text(city), .text(street), .real(price), .real(area), .integer(Int64(rooms)),
         .integer(Int64(year)), .bool(sold), agent.map(SinkValue.text) ?? .null]
    }

    static func scraped(_ number: Int, bad: Bool = false) -> Property {
        Property(url: "https://funda.example/koop/\(number)", source: "funda", city: ["Amsterdam", "Utrecht", "Leiden"][number % 3],
                 street: "Straat \(number % 211)", price: bad ? -1 : Double(250_000 + number * 7 % 90_000), area: Double(35 + number % 120),
                 rooms: 1 + number % 6, year: 1900 + number % 125, sold: number % 4 == 0, agent: number % 5 == 0 ? nil : "makelaar-\(number % 17)")
    }
}

/// One posted batch (seed 003's `POST /api/properties/batch`): a job.
struct PropertyBatch: Job {
    static let name = "properties.ingest-batch"
    static let queue = "properties"
    static let timeout: Duration = .seconds(120)
    var properties: [Property]

    struct Summary: Codable, Sendable { var accepted: Int }

    /// Runs in `worker`, where the registry's handler gives it the sink.
    func run(_ context: JobContext) async throws -> Summary {
        throw JobError.permanent("PropertyBatch runs through the registry handler that holds the sink")
    }
}

struct Options {
    var command = "run"
    var store = "jobs.sqlite"
    var target = "sqlite:properties.sqlite"
    var batches = 50
    var size = 100
    var bad = 1
    var spill = "properties.spill.jsonl"
    var concurrency = 8
    var rows = 100_000
    var flush = 1_000

    static func parse() throws -> Options {
        var options = Options()
        var arguments = ArraySlice(CommandLine.arguments.dropFirst())
        if let first = arguments.first, !first.hasPrefix("-") { options.command = arguments.removeFirst() }
        func number(_ name: String) throws -> Int {
            guard let text = arguments.popFirst(), let value = Int(text), value >= 0 else {
                throw ExampleError("\(name) takes a whole number of zero or more")
            }
            return value
        }
        func text(_ name: String) throws -> String {
            guard let value = arguments.popFirst() else { throw ExampleError("\(name) takes a value") }
            return value
        }
        while let argument = arguments.popFirst() {
            switch argument {
            case "--store": options.store = try text(argument)
            case "--target": options.target = try text(argument)
            case "--batches": options.batches = try number(argument)
            case "--size": options.size = max(1, try number(argument))
            case "--bad": options.bad = try number(argument)
            case "--spill": options.spill = try text(argument)
            case "--concurrency": options.concurrency = max(1, try number(argument))
            case "--rows": options.rows = try number(argument)
            case "--flush": options.flush = max(1, try number(argument))
            default: throw ExampleError("unknown argument \(argument); see the comment at the top of Examples/PropertyBatches/main.swift")
            }
        }
        guard ["run", "replay", "load"].contains(options.command) else {
            throw ExampleError("unknown command \(options.command): use run, replay or load")
        }
        return options
    }
}

struct ExampleError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardError(label: label)
    handler.logLevel = .error
    return handler
}

/// Runs `body` with the sink's target: a SQLite file or a PostgreSQL database.
func withTarget<T: Sendable>(_ url: String, _ body: (any SinkTarget<Property>) async throws -> T) async throws -> T {
    let scheme = StoreURL(url).scheme
    if scheme == "postgres" || scheme == "postgresql" {
        let (configuration, schema) = try PostgresURL.clientConfiguration(url)
        let client = PostgresClient(configuration: configuration)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await client.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA IF NOT EXISTS \(schema)"))
            try await client.query(PostgresQuery(unsafeSQL: tableSQL("\(schema).properties", real: "double precision", integer: "bigint", bool: "boolean")))
            return try await body(try await PostgresUpsertTarget<Property>(client: client, table: "\(schema).properties", createTable: false))
        }
    }
    guard scheme == "sqlite" else { throw ExampleError("--target \(url): use sqlite:PATH, a file path, or postgres://…") }
    let path = try SQLiteURL.path(url)
    let database = try DatabasePool(path: path)
    try await database.write { db in try db.execute(sql: tableSQL("properties", real: "REAL", integer: "INTEGER", bool: "INTEGER")) }
    return try await body(try await SQLiteUpsertTarget<Property>(database: database, table: "properties", createTable: false))
}

func tableSQL(_ table: String, real: String, integer: String, bool: String) -> String {
    """
    CREATE TABLE IF NOT EXISTS \(table) (url TEXT PRIMARY KEY, source TEXT NOT NULL, city TEXT NOT NULL, street TEXT NOT NULL,
        price \(real) NOT NULL CHECK (price >= 0), area \(real) NOT NULL, rooms \(integer) NOT NULL, year \(integer) NOT NULL,
        sold \(bool) NOT NULL, agent TEXT)
    """
}

/// The whole seed-003 flow: post batches as jobs, work them into the sink, report.
func run(_ options: Options) async throws {
    let store = try StoreProviders([SQLiteStoreProvider(), RedisStoreProvider(), PostgresStoreProvider()]).open(options.store)
    let client = JobClient(backend: store)
    try await withTarget(options.target) { target in
        try await runWithSink(target, store: store, client: client, options: options)
    }
}

func runWithSink<Target: SinkTarget>(_ target: Target, store: any JobQueueStore, client: JobClient, options: Options) async throws where Target.Record == Property {
    let started = ContinuousClock.now
    let configuration = BatchSink<Target>.Configuration(maxCount: 500, maxAge: .milliseconds(250), capacity: 5_000, label: "properties")
    let stats = try await BatchSink.withSink(target, configuration: configuration, spill: SpillFile(path: options.spill)) { sink in
        // The spiders: every batch a job; `--bad` of the properties have a negative price.
        let badEvery = options.bad > 0 ? max(1, options.batches * options.size / options.bad) : Int.max
        let batches = (0..<options.batches).map { batch in
            PropertyBatch(properties: (0..<options.size).map { index in
                let number = batch * options.size + index
                return Property.scraped(number, bad: options.bad > 0 && number % badEvery == badEvery / 2 && number / badEvery < options.bad)
            })
        }
        let handles = try await client.enqueue(batches)

        // The workers: a job completes only once its properties are written (or spilled), so
        // a crash never loses a batch whose job is done.
        var registry = JobRegistry()
        registry.register(name: PropertyBatch.name) { payload, _ in
            let batch = try JSONDecoder().decode(PropertyBatch.self, from: payload)
            try await sink.send(contentsOf: batch.properties)
            try await sink.flush()
            return try JSONEncoder().encode(PropertyBatch.Summary(accepted: batch.properties.count))
        }
        let worker = Worker(backend: store, registry: registry,
                            configuration: .init(queues: [PropertyBatch.queue], concurrency: options.concurrency))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await worker.run() }
            for handle in handles { _ = try await handle.value() }
            group.cancelAll()
        }
        return await sink.stats
    }
    let elapsed = ContinuousClock.now - started
    print("\(options.batches) batches of \(options.size) properties: \(stats.written.added) added, \(stats.written.updated) updated, "
          + "\(stats.written.unchanged) unchanged, \(stats.spilled) spilled to \(options.spill), in \(stats.flushes) flushes and "
          + "\(stats.writes) statements, \(elapsed.formatted(.units(allowed: [.seconds, .milliseconds], width: .abbreviated)))")
}

/// Sends the spill file's records to the target again.
func replay(_ options: Options) async throws {
    try await withTarget(options.target) { target in try await replayInto(target, options: options) }
}

func replayInto<Target: SinkTarget>(_ target: Target, options: Options) async throws where Target.Record == Property {
    let spill = SpillFile(path: options.spill)
    let (sent, stats) = try await BatchSink.withSink(target, spill: spill) { sink in
        (try await spill.replay(into: sink), await sink.stats)
    }
    print("replayed \(sent) records from \(options.spill): \(stats.written.added + stats.written.updated + stats.written.unchanged) written, \(stats.spilled) spilled again")
}

/// One producer, rows in key order, flushes of exactly `--flush`: what the crash test kills.
/// Every flush is one transaction, so whatever the moment of a SIGKILL the table holds rows
/// 0..<k×flush and nothing else; a second run completes it.
func load(_ options: Options) async throws {
    try await withTarget(options.target) { target in try await loadInto(target, options: options) }
}

func loadInto<Target: SinkTarget>(_ target: Target, options: Options) async throws where Target.Record == Property {
    let configuration = BatchSink<Target>.Configuration(maxCount: options.flush, maxBytes: 1 << 30, maxAge: .seconds(3600),
                                                        capacity: options.flush * 2, label: "load")
    let stats = try await BatchSink.withSink(target, configuration: configuration, spill: SpillFile(path: options.spill)) { sink in
        for number in 0..<options.rows {
            try await sink.send(.scraped(number))
            if number == options.flush * 2 { FileHandle.standardOutput.write(Data("loading\n".utf8)) }
        }
        try await sink.flush()
        return await sink.stats
    }
    print("loaded \(options.rows) rows: \(stats.written.added) added, \(stats.written.updated) updated, \(stats.written.unchanged) unchanged, in \(stats.flushes) flushes")
}

do {
    let options = try Options.parse()
    switch options.command {
    case "replay": try await replay(options)
    case "load": try await load(options)
    default: try await run(options)
    }
} catch {
    FileHandle.standardError.write(Data("property-batches: \(error)\n".utf8))
    exit(1)
}
