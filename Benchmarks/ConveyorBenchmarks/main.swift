// conveyor-bench: throughput and latency of a store, measured end to end.
//
//   swift run -c release conveyor-bench                 # SQLite, 100,000 jobs, prints a Markdown table
//   swift run -c release conveyor-bench --jobs 20000 --synchronous full
//   swift run -c release conveyor-bench --store redis   # starts its own redis-server (persistence off)
//   swift run -c release conveyor-bench --store redis --redis-url redis://host:6379/0
//   swift run -c release conveyor-bench --store postgres   # starts its own PostgreSQL (fsync on: durable commits)
//   swift run -c release conveyor-bench --store postgres --postgres-url postgres://user@host/db
//   swift run -c release conveyor-bench --schedules 100000 [--store redis] [--seconds 60]   # the scheduler
//   swift run -c release conveyor-bench --limits 1000 [--store redis] [--jobs 100000] [--rounds 3]   # flow control's cost
//
// Every scenario starts from a fresh store: a new SQLite file in a temporary directory, or an
// emptied Redis (FLUSHALL on the server the benchmark started; a new namespace on one given
// with --redis-url, which is never flushed), or a new schema on PostgreSQL (dropped after).
import Conveyor
import ConveyorPostgres
import ConveyorRedis
import ConveyorRedisClient
import ConveyorSQLite
import ConveyorTesting
import Foundation
import Logging
import PostgresNIO

struct Options {
    var jobs = 100_000
    var concurrency = 64
    var prefetch = 512
    var chunk = 1000
    var latencySamples = 1000
    var rounds = 3
    var synchronous = SQLiteBackend.Configuration.Synchronous.normal
    var store = "sqlite"
    var redisURL: String?
    var postgresURL: String?
    var appendfsync: String?
    /// `--compare WORKLOAD`: one measurement for `scripts/compare`, printed as one JSON line.
    var compare: String?
    var workers = 1
    var sqlitePath: String?
    /// `--retention SECONDS` (Redis): drain with that retention and follow Redis's memory.
    var retention: Int?
    /// `--schedules N`: the scheduler over N stored schedules (idle load, fire lag).
    var schedules: Int?
    /// `--seconds S`: how long the spread-schedule run lasts.
    var seconds: Double?
    /// `--limits KEYS`: flow control's cost, jobs spread over KEYS limit keys.
    var limits: Int?

    init(_ arguments: [String]) {
        var iterator = arguments.dropFirst().makeIterator()
        while let flag = iterator.next() {
            let value = iterator.next() ?? ""
            switch flag {
            case "--jobs": jobs = Int(value) ?? jobs
            case "--concurrency": concurrency = Int(value) ?? concurrency
            case "--prefetch": prefetch = Int(value) ?? prefetch
            case "--chunk": chunk = Int(value) ?? chunk
            case "--latency-samples": latencySamples = Int(value) ?? latencySamples
            case "--rounds": rounds = Int(value) ?? rounds
            case "--synchronous": synchronous = value.lowercased() == "full" ? .full : .normal
            case "--store": store = value
            case "--redis-url": redisURL = value
            case "--postgres-url": postgresURL = value
            case "--appendfsync": appendfsync = value
            case "--compare": compare = value
            case "--workers": workers = Int(value) ?? workers
            case "--sqlite-path": sqlitePath = value
            case "--retention": retention = Int(value)
            case "--schedules": schedules = Int(value)
            case "--seconds": seconds = Double(value)
            case "--limits": limits = Int(value)
            default:
                FileHandle.standardError.write(Data("unknown option \(flag)\n".utf8))
                exit(2)
            }
        }
    }
}

let options = Options(CommandLine.arguments)
let clock = ContinuousClock()
LoggingSystem.bootstrap { label in
    var handler = StreamLogHandler.standardError(label: label)
    handler.logLevel = .warning
    return handler
}

/// A redis-server the benchmark starts on a free loopback port, persistence off unless
/// --appendfsync is given.
final class BenchRedis: Sendable {
    let port: Int
    let process: Process
    var url: String { "redis://127.0.0.1:\(port)" }

    init(appendfsync: String?) async throws {
        let probe = try Socket.freePort()
        port = probe
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("conveyor-bench-redis-\(probe)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        process.arguments = ["redis-server", "--port", String(probe), "--bind", "127.0.0.1", "--save", "", "--dir", directory,
                             "--appendonly", appendfsync == nil ? "no" : "yes", "--appendfsync", appendfsync ?? "everysec",
                             "--logfile", directory + "/redis.log"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        for _ in 0..<200 {
            if let connection = try? await RedisConnection.connect(configuration: RedisConfiguration(url: "redis://127.0.0.1:\(probe)")) {
                await connection.close()
                return
            }
            try await Task.sleep(for: .milliseconds(25))
        }
        throw ConveyorError.storeFailure("redis-server did not start on port \(probe); is it installed?")
    }

    /// SIGKILL: a child of this process inherits its blocked signals, SIGTERM among them.
    func stop() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

enum Socket {
    /// A port the kernel just handed out for loopback, free again once closed.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw ConveyorError.storeFailure("no free loopback port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

let ownRedis: BenchRedis? = options.store == "redis" && options.redisURL == nil
    ? try await BenchRedis(appendfsync: options.appendfsync)
    : nil

/// A PostgreSQL server the benchmark starts (fsync and synchronous commits on), unless
/// --postgres-url names one.
let ownPostgres: PostgresServer? = options.store == "postgres" && options.postgresURL == nil ? try PostgresServer(durable: true) : nil

func freshStore() async throws -> (any JobBackend, @Sendable () async -> Void) {
    switch options.store {
    case "postgres":
        let base = options.postgresURL ?? ownPostgres!.url
        let schema = "bench_\(UUID().uuidString.prefix(8).lowercased())"
        let backend = try PostgresBackend(url: base + (base.contains("?") ? "&" : "?") + "schema=\(schema)")
        return (backend, {
            _ = try? await backend.transaction { connection in
                try await connection.query(PostgresQuery(unsafeSQL: "DROP SCHEMA \(schema) CASCADE"), logger: Logger(label: "bench"))
            }
            backend.shutdown()
        })
    case "sqlite":
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("conveyor-bench-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let backend = try SQLiteBackend(configuration: .init(path: folder + "/bench.sqlite", synchronous: options.synchronous))
        return (backend, { try? FileManager.default.removeItem(atPath: folder) })
    case "redis":
        var url = options.redisURL ?? ownRedis!.url
        if let ownRedis {
            let connection = try await RedisConnection.connect(configuration: RedisConfiguration(url: ownRedis.url))
            _ = try await connection.send("FLUSHALL")
            await connection.close()
        } else {
            url += (url.contains("?") ? "&" : "?") + "namespace=bench-\(UUID().uuidString.prefix(8))"
        }
        let backend = try RedisBackend(url: url)
        return (backend, { await backend.close() })
    default:
        FileHandle.standardError.write(Data("unknown store \(options.store); use sqlite, redis or postgres\n".utf8))
        exit(2)
    }
}

func noopJobs(_ count: Int, batch: String? = nil) -> [NewJob] {
    let payload = Data("{}".utf8)
    return (0..<count).map { _ in NewJob(name: "noop", payload: payload, maxAttempts: 3, batchID: batch) }
}

/// Bulk enqueue of `options.jobs` no-op jobs in chunks; returns jobs per second.
func enqueueThroughput(_ backend: any JobBackend, batch: String? = nil) async throws -> Double {
    if let batch { _ = try await backend.createBatch(NewBatch(id: batch, onComplete: NewJob(name: "noop", queue: "callbacks"))) }
    let chunks = stride(from: 0, to: options.jobs, by: options.chunk).map { min(options.chunk, options.jobs - $0) }.map { noopJobs($0, batch: batch) }
    let start = clock.now
    for chunk in chunks { _ = try await backend.enqueue(chunk) }
    return Double(options.jobs) / (clock.now - start).seconds
}

/// One worker drains the pre-enqueued jobs; returns jobs per second.
func drainThroughput(_ backend: any JobBackend) async throws -> Double {
    var registry = JobRegistry()
    registry.register(name: "noop") { _, _ in Data() }
    let worker = Worker(backend: backend, registry: registry, configuration: .init(
        queues: ["default"], concurrency: options.concurrency, prefetch: options.prefetch, stopWhenIdle: true))
    let start = clock.now
    try await worker.run()
    let elapsed = clock.now - start
    let done = try await backend.queueStats().first { $0.queue == "default" }?[.succeeded] ?? 0
    guard done == options.jobs else { throw ConveyorError.storeFailure("drain finished with \(done) of \(options.jobs) jobs succeeded") }
    return Double(options.jobs) / elapsed.seconds
}

/// Enqueue-to-start latency with an idle worker, one job at a time; returns (p50, p99) in ms.
func startLatency(_ backend: any JobBackend) async throws -> (Double, Double) {
    let started = AsyncSignal()
    let samples = LatencySamples()
    var registry = JobRegistry()
    registry.register(name: "stamp") { payload, _ in
        let sent = Double(String(decoding: payload, as: UTF8.self)) ?? 0
        samples.add(Date().timeIntervalSince1970 - sent)
        started.notify()
        return Data()
    }
    let worker = Worker(backend: backend, registry: registry, configuration: .init(queues: ["latency"], concurrency: 4, prefetch: 0))
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await worker.run() }
        for _ in 0..<options.latencySamples {
            let generation = started.generation
            let now = Date().timeIntervalSince1970
            _ = try await backend.enqueue(NewJob(name: "stamp", queue: "latency", payload: Data(String(now).utf8)))
            await started.wait(after: generation, timeout: .seconds(5))
        }
        worker.stop()
        try await group.waitForAll()
    }
    let sorted = samples.values.sorted()
    func percentile(_ p: Double) -> Double { sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] * 1000 }
    return (percentile(0.5), percentile(0.99))
}

/// PostgreSQL: the drain while a second connection holds one transaction (with a transaction
/// id, so the vacuum horizon stays put) open for the whole run, as a long report elsewhere in
/// the application's database would. Returns jobs per second.
func drainBesideOpenTransaction() async throws -> Double {
    let (backend, cleanUp) = try await freshStore()
    guard let postgres = backend as? PostgresBackend else { throw ConveyorError.storeFailure("not a PostgreSQL store") }
    _ = try await enqueueThroughput(backend)
    let (opened, open) = AsyncStream<Void>.makeStream()
    let (finished, finish) = AsyncStream<Void>.makeStream()
    async let holder: Void = postgres.transaction { connection in
        _ = try await connection.query("SELECT txid_current()", logger: Logger(label: "bench")).collect()
        open.yield()
        for await _ in finished { break }
    }
    for await _ in opened { break }
    let rate: Double
    do {
        rate = try await drainThroughput(backend)
    } catch {
        finish.finish()
        try? await holder
        throw error
    }
    finish.finish()
    try await holder
    await cleanUp()
    return rate
}

final class LatencySamples: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [Double] = []
    func add(_ value: Double) { lock.lock(); storage.append(value); lock.unlock() }
    var values: [Double] { lock.lock(); defer { lock.unlock() }; return storage }
}

func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
func format(_ value: Double) -> String { value >= 100 ? String(format: "%.0f", value) : String(format: "%.2f", value) }

/// Runs one measurement that is the whole run (`--retention`, `--schedules`), then exits.
func runAlone(_ option: String, _ body: () async throws -> Void) async -> Never {
    do {
        try await body()
        ownRedis?.stop()
        exit(0)
    } catch {
        FileHandle.standardError.write(Data("conveyor-bench \(option): \(error)\n".utf8))
        ownRedis?.stop()
        exit(1)
    }
}

if let retention = options.retention { await runAlone("--retention") { try await retentionRun(retention) } }
if let count = options.schedules { await runAlone("--schedules") { try await schedulesRun(count) } }
if let keys = options.limits { await runAlone("--limits") { try await limitsRun(keys: keys) } }

if let workload = options.compare {
    do {
        try await Compare(options: options).run(workload)
        exit(0)
    } catch {
        FileHandle.standardError.write(Data("conveyor-bench --compare \(workload): \(error)\n".utf8))
        exit(1)
    }
}

var enqueueRates: [Double] = []
var drainRates: [Double] = []
var batchEnqueueRates: [Double] = []
var batchDrainRates: [Double] = []
var latencies: [(Double, Double)] = []
var heldDrainRates: [Double] = []
/// Redis server CPU time per job (µs), by phase: how much of Redis's one core each job costs.
var redisEnqueueCost: [Double] = []
var redisDrainCost: [Double] = []

/// The Redis server's CPU seconds so far (user + system), or 0 for other stores.
func redisCPU() async throws -> Double {
    guard options.store == "redis" else { return 0 }
    let connection = try await RedisConnection.connect(configuration: RedisConfiguration(url: options.redisURL ?? ownRedis!.url))
    defer { Task { await connection.close() } }
    let info = try await connection.send("INFO", "cpu").string ?? ""
    return info.split(separator: "\r\n").reduce(0.0) { total, line in
        let parts = line.split(separator: ":")
        guard parts.count == 2, parts[0] == "used_cpu_user" || parts[0] == "used_cpu_sys" else { return total }
        return total + (Double(parts[1]) ?? 0)
    }
}

for round in 1...options.rounds {
    let (backend, cleanUp) = try await freshStore()
    let cpu0 = try await redisCPU()
    enqueueRates.append(try await enqueueThroughput(backend))
    let cpu1 = try await redisCPU()
    drainRates.append(try await drainThroughput(backend))
    let cpu2 = try await redisCPU()
    if options.store == "redis" {
        redisEnqueueCost.append((cpu1 - cpu0) * 1_000_000 / Double(options.jobs))
        redisDrainCost.append((cpu2 - cpu1) * 1_000_000 / Double(options.jobs))
    }
    latencies.append(try await startLatency(backend))
    await cleanUp()
    // The same jobs as members of one batch with a completion callback: counters move with every job.
    let (batched, cleanUpBatch) = try await freshStore()
    batchEnqueueRates.append(try await enqueueThroughput(batched, batch: "bench"))
    batchDrainRates.append(try await drainThroughput(batched))
    guard let batch = try await batched.batch("bench"), batch[.succeeded] == options.jobs, batch.isFinished else {
        throw ConveyorError.storeFailure("the benchmark batch did not finish with every job counted")
    }
    await cleanUpBatch()
    if options.store == "postgres" { heldDrainRates.append(try await drainBesideOpenTransaction()) }
    FileHandle.standardError.write(Data("round \(round): enqueue \(format(enqueueRates.last!)) jobs/s, drain \(format(drainRates.last!)) jobs/s, latency p50 \(format(latencies.last!.0)) ms p99 \(format(latencies.last!.1)) ms\n".utf8))
}

let p50s = latencies.map { $0.0 }
let p99s = latencies.map { $0.1 }
let cpus = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
    .split(separator: "\n").first { $0.hasPrefix("model name") }?.split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "unknown CPU"
let storeTitle = switch options.store {
case "redis": "Redis store (\(options.redisURL == nil ? "own redis-server, \(options.appendfsync.map { "AOF appendfsync \($0)" } ?? "persistence off")" : "given server"), loopback)"
case "postgres": "PostgreSQL store (\(options.postgresURL == nil ? "own server, fsync and synchronous commit on" : "given server"), loopback)"
default: "SQLite store (\(options.synchronous.rawValue.lowercased()) sync, WAL)"
}
defer {
    ownRedis?.stop()
    ownPostgres?.stop()
}
let heldRow = heldDrainRates.isEmpty ? "" : "\n| drain, while another connection holds a transaction open the whole run (jobs/s) | \(format(median(heldDrainRates))) | \(format(heldDrainRates.min()!)) | \(format(heldDrainRates.max()!)) |"
print("""
| \(storeTitle) | median | min | max |
|---|---:|---:|---:|
| bulk enqueue, \(options.jobs) no-op jobs in chunks of \(options.chunk) (jobs/s) | \(format(median(enqueueRates))) | \(format(enqueueRates.min()!)) | \(format(enqueueRates.max()!)) |
| drain \(options.jobs) no-op jobs, one worker process, concurrency \(options.concurrency), prefetch \(options.prefetch) (jobs/s) | \(format(median(drainRates))) | \(format(drainRates.min()!)) | \(format(drainRates.max()!)) |
| bulk enqueue, the same jobs as one batch (jobs/s) | \(format(median(batchEnqueueRates))) | \(format(batchEnqueueRates.min()!)) | \(format(batchEnqueueRates.max()!)) |
| drain, the same jobs as one batch with a completion callback (jobs/s) | \(format(median(batchDrainRates))) | \(format(batchDrainRates.min()!)) | \(format(batchDrainRates.max()!)) |\(heldRow)
| enqueue-to-start latency, idle worker, p50 (ms) | \(format(median(p50s))) | \(format(p50s.min()!)) | \(format(p50s.max()!)) |
| enqueue-to-start latency, idle worker, p99 (ms) | \(format(median(p99s))) | \(format(p99s.min()!)) | \(format(p99s.max()!)) |

\(redisEnqueueCost.isEmpty ? "" : "Redis server CPU per job (median): \(format(median(redisEnqueueCost))) µs to enqueue, \(format(median(redisDrainCost))) µs to claim and complete; one Redis core allows about \(format(1_000_000 / median(redisEnqueueCost))) enqueues/s and \(format(1_000_000 / median(redisDrainCost))) jobs/s drained.\n\n")\(options.rounds) rounds, each on a fresh store · \(ProcessInfo.processInfo.activeProcessorCount) cores, \(cpus) · \(Date())
""")

/// Redis's own limit on this machine, measured with redis-benchmark against the same server.
if options.store == "redis", let ownRedis {
    func redisBenchmark(_ arguments: [String]) -> [(String, Double)] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["redis-benchmark", "-h", "127.0.0.1", "-p", String(ownRedis.port), "-q"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return [] }
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        // Lines look like "SET: 21834.06 requests per second, p50=0.039 msec" (with \r progress before).
        return output.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).compactMap { line in
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, line.contains("requests per second"),
                  let rate = Double(parts[1].trimmingCharacters(in: .whitespaces).split(separator: " ").first ?? "") else { return nil }
            return (String(parts[0]), rate)
        }
    }
    let single = redisBenchmark(["-n", "50000", "-c", "1", "-t", "ping,set,lpush,lpop"])
    let concurrent = redisBenchmark(["-n", "200000", "-c", "50", "-t", "ping,set,lpush,lpop"])
    let pipelined = redisBenchmark(["-n", "2000000", "-c", "50", "-P", "64", "-t", "set,lpush,lpop"])
    if single.isEmpty {
        print("\nredis-benchmark did not run (is it installed?); no comparison with Redis's own limit.")
    } else {
        print("""

        | redis-benchmark on the same server | requests/s |
        |---|---:|
        """)
        for (label, rows) in [("1 client, one command at a time", single), ("50 clients", concurrent), ("50 clients, pipelines of 64", pipelined)] {
            for (command, rate) in rows { print("| \(command), \(label) | \(format(rate)) |") }
        }
    }
}
