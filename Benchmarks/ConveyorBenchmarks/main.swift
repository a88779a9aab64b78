// conveyor-bench: throughput and latency of the SQLite store, measured end to end.
//
//   swift run -c release conveyor-bench                 # 100,000 jobs, prints a Markdown table
//   swift run -c release conveyor-bench --jobs 20000 --synchronous full
//
// Every scenario starts from a fresh store file in a temporary directory.
import Conveyor
import ConveyorSQLite
import Foundation
import Logging

struct Options {
    var jobs = 100_000
    var concurrency = 64
    var prefetch = 512
    var chunk = 1000
    var latencySamples = 1000
    var rounds = 3
    var synchronous = SQLiteBackend.Configuration.Synchronous.normal

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

func freshStore() throws -> (SQLiteBackend, String) {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("conveyor-bench-\(UUID().uuidString.prefix(8))").path
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let backend = try SQLiteBackend(configuration: .init(path: folder + "/bench.sqlite", synchronous: options.synchronous))
    return (backend, folder)
}

func noopJobs(_ count: Int, batch: String? = nil) -> [NewJob] {
    let payload = Data("{}".utf8)
    return (0..<count).map { _ in NewJob(name: "noop", payload: payload, maxAttempts: 3, batchID: batch) }
}

/// Bulk enqueue of `options.jobs` no-op jobs in chunks; returns jobs per second.
func enqueueThroughput(_ backend: SQLiteBackend, batch: String? = nil) async throws -> Double {
    if let batch { _ = try await backend.createBatch(NewBatch(id: batch, onComplete: NewJob(name: "noop", queue: "callbacks"))) }
    let chunks = stride(from: 0, to: options.jobs, by: options.chunk).map { min(options.chunk, options.jobs - $0) }.map { noopJobs($0, batch: batch) }
    let start = clock.now
    for chunk in chunks { _ = try await backend.enqueue(chunk) }
    return Double(options.jobs) / (clock.now - start).seconds
}

/// One worker drains the pre-enqueued jobs; returns jobs per second.
func drainThroughput(_ backend: SQLiteBackend) async throws -> Double {
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
func startLatency(_ backend: SQLiteBackend) async throws -> (Double, Double) {
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

final class LatencySamples: @unchecked Sendable {
    private let lock = NSLock()
    private var storage: [Double] = []
    func add(_ value: Double) { lock.lock(); storage.append(value); lock.unlock() }
    var values: [Double] { lock.lock(); defer { lock.unlock() }; return storage }
}

func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }
func format(_ value: Double) -> String { value >= 100 ? String(format: "%.0f", value) : String(format: "%.2f", value) }

var enqueueRates: [Double] = []
var drainRates: [Double] = []
var batchEnqueueRates: [Double] = []
var batchDrainRates: [Double] = []
var latencies: [(Double, Double)] = []
for round in 1...options.rounds {
    let (backend, folder) = try freshStore()
    enqueueRates.append(try await enqueueThroughput(backend))
    drainRates.append(try await drainThroughput(backend))
    latencies.append(try await startLatency(backend))
    try? FileManager.default.removeItem(atPath: folder)
    // The same jobs as members of one batch with a completion callback: counters move with every job.
    let (batched, batchFolder) = try freshStore()
    batchEnqueueRates.append(try await enqueueThroughput(batched, batch: "bench"))
    batchDrainRates.append(try await drainThroughput(batched))
    guard let batch = try await batched.batch("bench"), batch[.succeeded] == options.jobs, batch.isFinished else {
        throw ConveyorError.storeFailure("the benchmark batch did not finish with every job counted")
    }
    try? FileManager.default.removeItem(atPath: batchFolder)
    FileHandle.standardError.write(Data("round \(round): enqueue \(format(enqueueRates.last!)) jobs/s, drain \(format(drainRates.last!)) jobs/s, latency p50 \(format(latencies.last!.0)) ms p99 \(format(latencies.last!.1)) ms\n".utf8))
}

let p50s = latencies.map { $0.0 }
let p99s = latencies.map { $0.1 }
let cpus = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
    .split(separator: "\n").first { $0.hasPrefix("model name") }?.split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "unknown CPU"
print("""
| SQLite store (\(options.synchronous.rawValue.lowercased()) sync, WAL) | median | min | max |
|---|---:|---:|---:|
| bulk enqueue, \(options.jobs) no-op jobs in chunks of \(options.chunk) (jobs/s) | \(format(median(enqueueRates))) | \(format(enqueueRates.min()!)) | \(format(enqueueRates.max()!)) |
| drain \(options.jobs) no-op jobs, one worker process, concurrency \(options.concurrency), prefetch \(options.prefetch) (jobs/s) | \(format(median(drainRates))) | \(format(drainRates.min()!)) | \(format(drainRates.max()!)) |
| bulk enqueue, the same jobs as one batch (jobs/s) | \(format(median(batchEnqueueRates))) | \(format(batchEnqueueRates.min()!)) | \(format(batchEnqueueRates.max()!)) |
| drain, the same jobs as one batch with a completion callback (jobs/s) | \(format(median(batchDrainRates))) | \(format(batchDrainRates.min()!)) | \(format(batchDrainRates.max()!)) |
| enqueue-to-start latency, idle worker, p50 (ms) | \(format(median(p50s))) | \(format(p50s.min()!)) | \(format(p50s.max()!)) |
| enqueue-to-start latency, idle worker, p99 (ms) | \(format(median(p99s))) | \(format(p99s.min()!)) | \(format(p99s.max()!)) |

\(options.rounds) rounds, each on a fresh store · \(ProcessInfo.processInfo.activeProcessorCount) cores, \(cpus) · \(Date())
""")
