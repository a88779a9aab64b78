// pos-fetcher: seed 002's branch/POS file fetcher on Conveyor.
//
// A `branches_missing` map (branch → POS → dates) becomes one batch of fetch jobs. Each job
// asks the branch site for the day's file list, streams every file to disk (SHA-256 while
// streaming), records a file record per file in the ingestion log (an unchanged file is
// skipped), notes an HTML page where a list or CSV was expected as a monitor entry (an
// `html-error` entry), parses the CSV rows and bulk-inserts them in batches of 1,000.
//
//   pos-fetcher demo   [--store URL] [--target URL] [--files DIR]     (starts a stand-in site)
//   pos-fetcher site   [--port N]                                       (serves the stand-in site)
//   pos-fetcher submit --site URL --missing '{"SMNAG":{"1":["2025-08-15"]}}' [--store URL]
//   pos-fetcher work   [--store URL] [--target URL] [--files DIR]      (until the queue is empty)
//
// --store is the job store (SQLite by default, redis://… or postgres://…); --target the
// application database (sqlite:PATH, default pos.sqlite, or postgres://…), which holds the
// transactions and the ingestion log (file records and monitor entries).
import Conveyor
import ConveyorIngest
import ConveyorIngestHTTP
import ConveyorIngestPostgres
import ConveyorIngestSQLite
import ConveyorPostgres
import ConveyorRedis
import ConveyorSQLite
import ConveyorTestSite
import Foundation
import GRDB
import Logging
import PostgresNIO

/// One parsed POS transaction line: the rows bulk-inserted 1,000 at a time.
struct Transaction: SinkRecord {
    var branch: String
    var pos: Int
    var date: String
    var receipt: Int
    var line: Int
    var time: String
    var product: String
    var quantity: Int
    var amount: Double
    var payment: String

    static let columns: [SinkColumn] = [
        .init("branch", .text), .init("pos", .integer), .init("date", .text), .init("receipt", .integer), .init("line", .integer),
        .init("time", .text), .init("product", .text), .init("quantity", .integer), .init("amount", .real), .init("payment", .text),
    ]
    static let key = ["branch", "pos", "date", "receipt", "line"]

    func values() -> [SinkValue] {
        [.text(branch), .integer(Int64(pos)), .text(date), .integer(Int64(receipt)), .integer(Int64(line)), .text(time),
         .text(product), .integer(Int64(quantity)), .real(amount), .text(payment)]
    }
}

/// A row of a POS file as the site writes it.
struct POSRow: Codable, Sendable {
    var receipt: Int
    var line: Int
    var time: String
    var product: String
    var quantity: Int
    var amount: Double
    var payment: String
}

/// One branch, POS and day to fetch: a job.
struct FetchBranchPOSDate: Job {
    static let name = "pos.fetch-branch-pos-date"
    static let queue = "pos"
    static let timeout: Duration = .seconds(300)
    var site: String
    var branch: String
    var pos: Int
    var date: String

    struct Summary: Codable, Sendable { var files: Int; var rows: Int; var unchanged: Int; var monitorEntries: Int }

    func run(_ context: JobContext) async throws -> Summary {
        throw JobError.permanent("FetchBranchPOSDate runs through the registry handler that holds the downloader and the sink")
    }

    /// `host:` of the site: the limit key a rate limit for the site would name.
    var limitKeys: [String] { [(try? Downloader.limitKey(for: site)) ?? "host:unknown"] }
}

struct Options {
    var command = "demo"
    var store = "jobs.sqlite"
    var target = "sqlite:pos.sqlite"
    var files = "pos-files"
    var site: String?
    var missing: String?
    var port = 0

    static func parse() throws -> Options {
        var options = Options()
        var arguments = ArraySlice(CommandLine.arguments.dropFirst())
        if let first = arguments.first, !first.hasPrefix("-") { options.command = arguments.removeFirst() }
        func value(_ name: String) throws -> String {
            guard let value = arguments.popFirst() else { throw ExampleError("\(name) takes a value") }
            return value
        }
        while let argument = arguments.popFirst() {
            switch argument {
            case "--store": options.store = try value(argument)
            case "--target": options.target = try value(argument)
            case "--files": options.files = try value(argument)
            case "--site": options.site = try value(argument)
            case "--missing": options.missing = try value(argument)
            case "--port":
                guard let port = Int(try value(argument)), (0...65535).contains(port) else { throw ExampleError("--port takes 0-65535") }
                options.port = port
            default: throw ExampleError("unknown argument \(argument); see the comment at the top of Examples/POSFetcher/main.swift")
            }
        }
        guard ["demo", "site", "submit", "work"].contains(options.command) else {
            throw ExampleError("unknown command \(options.command): use demo, site, submit or work")
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

// MARK: The stand-in site

/// The branch site: `fetch_list2.php?branch=&pos=&date=` lists the day's files, `file.php?name=`
/// serves them. Branch `CLOSED` answers its list with an HTML page (seed 002's `<!doctype`),
/// and branch `HALF`'s second file of every day is an HTML error page served as 200 `text/csv`.
enum StandInSite {
    static let filesPerDay = 2
    static let rowsPerFile = 1_500

    static func fileNames(branch: String, pos: Int, date: String) -> [String] {
        (1...filesPerDay).map { "\(branch)_\(pos)_\(date)_\($0).csv" }
    }

    static func csv(branch: String, pos: Int, date: String, file: Int) -> String {
        var text = "receipt,line,time,product,quantity,amount,payment\n"
        for row in 0..<rowsPerFile {
            let receipt = file * 100_000 + row / 3
            text += "\(receipt),\(row % 3 + 1),\(String(format: "%02d:%02d", 8 + row % 12, row % 60)),item-\(row % 41),\(1 + row % 4),\(Double(50 + row % 200) / 4),\(["cash", "card", "gcash"][row % 3])\n"
        }
        return text
    }

    static func start(port: Int = 0) async throws -> TestSite {
        let site = try await TestSite.start(port: port)
        site.route("/fetch_list2.php", .handler { request in
            let (branch, pos, date) = (query(request, "branch"), Int(query(request, "pos")) ?? 0, query(request, "date"))
            if branch == "CLOSED" { return .htmlErrorPage() }
            return .fileList(fileNames(branch: branch, pos: pos, date: date))
        })
        // `file.php?name=BRANCH_POS_DATE_N.csv`
        site.route("/file.php", .handler { request in
            let parts = query(request, "name").replacingOccurrences(of: ".csv", with: "").split(separator: "_").map(String.init)
            guard parts.count == 4, let pos = Int(parts[1]), let file = Int(parts[3]) else { return .status(404, "no such file") }
            if parts[0] == "HALF", file == 2 { return .htmlErrorPage(contentType: "text/csv") }
            return .text(csv(branch: parts[0], pos: pos, date: parts[2], file: file), contentType: "text/csv")
        })
        return site
    }

    static func query(_ request: SiteRequest, _ name: String) -> String {
        URLComponents(string: request.uri)?.queryItems?.first { $0.name == name }?.value ?? ""
    }
}

// MARK: The application database

/// The sink's target and the ingestion log, in the SQLite file or PostgreSQL database --target names.
func withTarget<T: Sendable>(_ url: String, _ body: (any SinkTarget<Transaction>, any IngestionLog) async throws -> T) async throws -> T {
    let scheme = StoreURL(url).scheme
    if scheme == "postgres" || scheme == "postgresql" {
        let (configuration, schema) = try PostgresURL.clientConfiguration(url)
        let client = PostgresClient(configuration: configuration)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await client.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA IF NOT EXISTS \(schema)"))
            let target = try await PostgresUpsertTarget<Transaction>(client: client, table: "\(schema).transactions")
            let log = try await PostgresIngestionLog(client: client, table: "\(schema).conveyor_ingestion_log")
            return try await body(target, log)
        }
    }
    guard scheme == "sqlite" else { throw ExampleError("--target \(url): use sqlite:PATH, a file path, or postgres://…") }
    let path = try SQLiteURL.path(url)
    let database = try DatabasePool(path: path)
    return try await body(try await SQLiteUpsertTarget<Transaction>(database: database, table: "transactions"),
                          try SQLiteIngestionLog(database: database))
}

func openStore(_ url: String) throws -> any JobQueueStore {
    try StoreProviders([SQLiteStoreProvider(), RedisStoreProvider(), PostgresStoreProvider()]).open(url)
}

// MARK: Submit and work

/// Seed 002's `POST /fetch/missing`: the map becomes one batch of jobs in one call.
func submit(missing json: String, site: String, store: any JobQueueStore) async throws -> [JobHandle<FetchBranchPOSDate.Summary>] {
    guard let data = json.data(using: .utf8),
          let map = try? JSONDecoder().decode([String: [String: [String]]].self, from: data) else {
        throw ExampleError("--missing: expected a JSON map of branch → POS → dates, like {\"SMNAG\":{\"1\":[\"2025-08-15\"]}}")
    }
    let site = site.hasSuffix("/") ? String(site.dropLast()) : site
    var jobs: [FetchBranchPOSDate] = []
    for (branch, posMap) in map.sorted(by: { $0.key < $1.key }) {
        for (posText, dates) in posMap.sorted(by: { $0.key < $1.key }) {
            guard let pos = Int(posText) else { throw ExampleError("--missing: POS \"\(posText)\" of branch \(branch) is not a number") }
            for date in dates { jobs.append(FetchBranchPOSDate(site: site, branch: branch, pos: pos, date: date)) }
        }
    }
    let client = JobClient(backend: store)
    return try await client.enqueue(jobs, options: .init(batchID: "missing-\(UUID().uuidString.prefix(8))"))
}

/// Works the queue until nothing is left.
func work(store: any JobQueueStore, options: Options) async throws -> String {
    try FileManager.default.createDirectory(atPath: options.files, withIntermediateDirectories: true)
    return try await withTarget(options.target) { target, log in
        try await workWith(target, log: log, store: store, options: options)
    }
}

func workWith<Target: SinkTarget>(_ target: Target, log: any IngestionLog, store: any JobQueueStore, options: Options) async throws -> String
where Target.Record == Transaction {
    let files = try DirectoryFileStore(options.files)
    let configuration = BatchSink<Target>.Configuration(maxCount: 1_000, maxAge: .milliseconds(500), capacity: 4_000, label: "transactions")
    return try await Downloader.withDownloader(store: files) { downloader in
        try await BatchSink.withSink(target, configuration: configuration, spill: SpillFile(path: "\(options.files)/transactions.spill.jsonl")) { sink in
            var registry = JobRegistry()
            registry.register(name: FetchBranchPOSDate.name) { payload, _ in
                let job = try JSONDecoder().decode(FetchBranchPOSDate.self, from: payload)
                let summary = try await fetch(job, downloader: downloader, sink: sink, log: log)
                return try JSONEncoder().encode(summary)
            }
            let worker = Worker(backend: store, registry: registry, configuration: .init(
                queues: [FetchBranchPOSDate.queue], concurrency: 4, pollInterval: .milliseconds(200), stopWhenIdle: true))
            try await worker.run()
            try await sink.flush()
            let stats = await sink.stats
            let monitor = try await log.allEntries(IngestionQuery(status: .htmlError)).count
            let unchanged = try await log.allEntries(IngestionQuery(status: .unchanged, limit: 1000)).count
            return "transactions: \(stats.written.added) added, \(stats.written.updated) updated, \(stats.written.unchanged) unchanged, "
                + "\(stats.spilled) spilled in \(stats.flushes) flushes; ingestion log: \(monitor) monitor entries, \(unchanged) unchanged files"
        }
    }
}

/// One job: the list, then every file through the ingestion log (skipped when unchanged).
func fetch<Target: SinkTarget>(_ job: FetchBranchPOSDate, downloader: Downloader, sink: BatchSink<Target>, log: any IngestionLog) async throws
-> FetchBranchPOSDate.Summary where Target.Record == Transaction {
    let day = "\(job.branch)/\(job.pos)/\(job.date)"
    var components = URLComponents(string: job.site + "/fetch_list2.php")!
    components.queryItems = [.init(name: "branch", value: job.branch), .init(name: "pos", value: String(job.pos)), .init(name: "date", value: job.date)]
    let listName = "lists/\(job.branch)_\(job.pos)_\(job.date).txt"
    let list = try await downloader.download(components.string!, to: listName)
    if case .htmlError(let status, let snippet) = list.outcome {
        try await log.record(IngestionEntry(source: day, startedAt: try await log.now(), duration: list.duration, status: .htmlError,
                                            error: "HTTP \(status): an HTML page where the file list was expected: \(snippet.prefix(120))",
                                            detail: components.string))
        return .init(files: 0, rows: 0, unchanged: 0, monitorEntries: 1)
    }
    let listPath = "\(downloader.store.location)/\(listName)"
    let names = try String(contentsOfFile: listPath, encoding: .utf8)
        .split(whereSeparator: { $0 == "," || $0 == "\n" }).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }

    var summary = FetchBranchPOSDate.Summary(files: 0, rows: 0, unchanged: 0, monitorEntries: 0)
    let ingestion = Ingestion(log: log)
    for name in names {
        let destination = "raw/\(job.branch)/\(job.pos)/\(job.date)/\(name)"
        let path = "\(downloader.store.location)/\(destination)"
        let result = try await ingestion.run(source: "\(day)/\(name)", detail: path) {
            let download = try await downloader.download(job.site + "/file.php?name=" + name, to: destination)
            switch download.outcome {
            case .downloaded: return .content(checksum: download.sha256 ?? "", bytes: download.bytes)
            case .notModified: return .notModified
            case .htmlError(let status, let snippet): return .htmlError(status: status, snippet: snippet)
            }
        } load: {
            var counts = LoadCounts()
            for try await event in RowReader<POSRow>(.csv, source: path).rows(ofFile: path) {
                switch event {
                case .row(let row, _):
                    try await sink.send(Transaction(branch: job.branch, pos: job.pos, date: job.date, receipt: row.receipt, line: row.line,
                                                    time: row.time, product: row.product, quantity: row.quantity, amount: row.amount,
                                                    payment: row.payment))
                    counts.added += 1
                case .issue:
                    counts.failed += 1
                }
            }
            try await sink.flush()   // the file record says "succeeded" only once its rows are in
            return counts
        }
        summary.files += 1
        summary.rows += result.entry.added
        if result.entry.status == .unchanged { summary.unchanged += 1 }
        if result.entry.status == .htmlError { summary.monitorEntries += 1 }
    }
    return summary
}

// MARK: Main

do {
    let options = try Options.parse()
    switch options.command {
    case "site":
        let site = try await StandInSite.start(port: options.port)
        print("stand-in branch site at \(site.url("")) (Ctrl-C to stop)")
        while true { try await Task.sleep(for: .seconds(3600)) }
    case "submit":
        guard let site = options.site, let missing = options.missing else { throw ExampleError("submit needs --site URL and --missing JSON") }
        let handles = try await submit(missing: missing, site: site, store: try openStore(options.store))
        print("enqueued \(handles.count) fetch jobs as one batch")
    case "work":
        print(try await work(store: try openStore(options.store), options: options))
    default:
        let site = try await StandInSite.start()
        let store = try openStore(options.store)
        let missing = options.missing ?? #"{"SMNAG":{"1":["2025-08-15","2025-08-16"],"2":["2025-08-15"]},"HALF":{"1":["2025-08-15"]},"CLOSED":{"3":["2025-08-15"]}}"#
        let handles = try await submit(missing: missing, site: site.url(""), store: store)
        print("enqueued \(handles.count) fetch jobs as one batch")
        print(try await work(store: store, options: options))
        await site.stop()
    }
} catch {
    FileHandle.standardError.write(Data("pos-fetcher: \(error)\n".utf8))
    exit(1)
}
