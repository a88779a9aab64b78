// conveyor-ingest-bench: the batch sink's upsert throughput into SQLite and PostgreSQL.
//
//   swift run -c release conveyor-ingest-bench [--rows 200000] [--rounds 3] [--batch 1000]
//                                              [--postgres-url URL] [--only sqlite|postgres]
//
// Each round writes `rows` rows of ten columns (seed 003's scraped properties) through a
// BatchSink in flushes of `batch`: first into an empty table (every row added), then the same
// keys again with every other row changed (half updated, half unchanged). SQLite runs with
// GRDB's defaults (WAL); PostgreSQL is a server this program starts with fsync and synchronous
// commits on (durable), unless --postgres-url names one. Prints medians and spreads.
import ConveyorIngest
import ConveyorIngestPostgres
import ConveyorIngestSQLite
import ConveyorTesting
import Foundation
import GRDB
import Logging
import PostgresNIO

struct Row: SinkRecord {
    /// The natural key, as scraped data has it: a listing's URL.
    var url: String
    var source: String
    var title: String
    var price: Double
    var area: Double
    var rooms: Int64
    var city: String
    var listed: Bool
    var agent: String
    var version: Int64

    static let columns: [SinkColumn] = [
        .init("url", .text), .init("source", .text), .init("title", .text), .init("price", .real), .init("area", .real),
        .init("rooms", .integer), .init("city", .text), .init("listed", .bool), .init("agent", .text), .init("version", .integer),
    ]
    static let key = ["url"]

    func values() -> [SinkValue] {
        [.text(url), .text(source), .text(title), .real(price), .real(area), .integer(rooms), .text(city), .bool(listed),
         .text(agent), .integer(version)]
    }

    static func make(_ number: Int, version: Int64) -> Row {
        Row(url: "https://funda.example/koop/\(number)", source: "funda", title: "Apartment \(number % 10_000) in block \(number / 10_000)",
            price: Double(200_000 + number % 50_000), area: Double(40 + number % 80), rooms: Int64(1 + number % 6),
            city: ["Amsterdam", "Utrecht", "Rotterdam", "Den Haag"][number % 4], listed: number % 3 != 0,
            agent: "agent-\(number % 97)", version: version)
    }
}

struct Options {
    var rows = 200_000
    var rounds = 3
    var batch = 1_000
    var postgresURL: String?
    var only: String?

    static func parse() -> Options {
        var options = Options()
        var arguments = ArraySlice(CommandLine.arguments.dropFirst())
        while let argument = arguments.popFirst() {
            switch argument {
            case "--rows": options.rows = Int(arguments.popFirst() ?? "") ?? options.rows
            case "--rounds": options.rounds = Int(arguments.popFirst() ?? "") ?? options.rounds
            case "--batch": options.batch = Int(arguments.popFirst() ?? "") ?? options.batch
            case "--postgres-url": options.postgresURL = arguments.popFirst()
            case "--only": options.only = arguments.popFirst()
            default:
                FileHandle.standardError.write(Data("unknown argument \(argument)\n".utf8))
                exit(2)
            }
        }
        return options
    }
}
let options = Options.parse()
let rows = options.rows
let rounds = options.rounds
let batch = options.batch
let postgresURL = options.postgresURL
let only = options.only

LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardError(label: label)
    handler.logLevel = .error
    return handler
}

/// Sends every row through a sink and returns rows per second.
func pump<Target: SinkTarget>(_ target: Target, version: Int64, directory: TemporaryDirectory) async throws -> (Double, BatchSink<Target>.Statistics) where Target.Record == Row {
    let configuration = BatchSink<Target>.Configuration(maxCount: batch, maxBytes: 64 << 20, maxAge: .seconds(1), capacity: batch * 4)
    let started = ContinuousClock.now
    let stats = try await BatchSink.withSink(target, configuration: configuration, spill: SpillFile(path: directory.file("spill.jsonl"))) { sink in
        for number in 0..<rows {
            // The second pass changes every other row.
            try await sink.send(.make(number, version: version == 0 || number % 2 == 0 ? version : 0))
        }
        try await sink.flush()
        return await sink.stats
    }
    let elapsed = ContinuousClock.now - started
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    return (Double(rows) / seconds, stats)
}

func summary(_ values: [Double]) -> String {
    let sorted = values.sorted()
    let median = sorted[sorted.count / 2]
    let spread = sorted.count > 1 ? (sorted.last! - sorted.first!) / median * 100 : 0
    return "\(Int(median.rounded())) (runs \(sorted.map { String(Int($0.rounded())) }.joined(separator: ", ")); spread \(String(format: "%.0f", spread)) %)"
}

var results: [(String, [Double], [Double])] = []

if only == nil || only == "sqlite" {
    var inserts: [Double] = []
    var upserts: [Double] = []
    for _ in 0..<rounds {
        let directory = try TemporaryDirectory(prefix: "conveyor-ingest-bench")
        defer { directory.remove() }
        let database = try DatabasePool(path: directory.file("bench.sqlite"))
        let target = try await SQLiteUpsertTarget<Row>(database: database, table: "properties")
        let (insert, first) = try await pump(target, version: 0, directory: directory)
        let (upsert, second) = try await pump(target, version: 1, directory: directory)
        precondition(first.written.added == rows && second.written.updated == rows / 2 && second.written.unchanged == rows - rows / 2,
                     "unexpected counts: \(first.written) \(second.written)")
        inserts.append(insert)
        upserts.append(upsert)
    }
    results.append(("SQLite (GRDB, WAL)", inserts, upserts))
}

if only == nil || only == "postgres" {
    let own = postgresURL == nil ? try PostgresServer(durable: true) : nil
    defer { own?.stop() }
    let port = own?.port ?? Int(URLComponents(string: postgresURL!)?.port ?? 5432)
    let host = postgresURL.flatMap { URLComponents(string: $0)?.host } ?? "127.0.0.1"
    let user = postgresURL.flatMap { URLComponents(string: $0)?.user } ?? "postgres"
    let client = PostgresClient(configuration: .init(host: host, port: port, username: user, password: nil, database: "postgres", tls: .disable))
    var inserts: [Double] = []
    var upserts: [Double] = []
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await client.run() }
        for round in 0..<rounds {
            let directory = try TemporaryDirectory(prefix: "conveyor-ingest-bench")
            defer { directory.remove() }
            let table = "bench_properties_\(round)_\(UUID().uuidString.prefix(6).lowercased())"
            let target = try await PostgresUpsertTarget<Row>(client: client, table: table)
            let (insert, first) = try await pump(target, version: 0, directory: directory)
            let (upsert, second) = try await pump(target, version: 1, directory: directory)
            precondition(first.written.added == rows && second.written.updated == rows / 2 && second.written.unchanged == rows - rows / 2,
                         "unexpected counts: \(first.written) \(second.written)")
            inserts.append(insert)
            upserts.append(upsert)
            try await client.query(PostgresQuery(unsafeSQL: "DROP TABLE \(table)"))
        }
        group.cancelAll()
    }
    results.append(("PostgreSQL (durable)", inserts, upserts))
}

print("| target | into an empty table (rows/s) | upsert, half changed (rows/s) |")
print("|---|---:|---:|")
for (name, inserts, upserts) in results {
    print("| \(name) | \(summary(inserts)) | \(summary(upserts)) |")
}
print("\n\(rows) rows of 10 columns per pass, flushes of \(batch), \(rounds) rounds.")
