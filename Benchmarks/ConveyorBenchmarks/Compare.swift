import Conveyor
import ConveyorPostgres
import ConveyorRedis
import ConveyorSQLite
import Foundation

/// One measurement for `scripts/compare` (the side-by-side run against Celery, RQ and
/// Sidekiq), printed as one JSON line on stdout:
///
/// - `enqueue-single`: `--jobs` no-op jobs, one `enqueue` call each → `{"rate": jobs/s}`
/// - `enqueue-bulk`: the same in calls of 1,000 → `{"rate": jobs/s}`
/// - `drain`: `--jobs` pre-enqueued jobs drained by `--workers` worker processes (this
///   binary again, `--compare worker`), timed from their start to the last one's exit, which
///   each does once nothing is left → `{"rate": jobs/s}`
/// - `latency`: `--jobs` jobs sent one at a time to an idle worker in another process; the
///   job carries its enqueue time and the handler records start minus that → `{"p50_ms", "p99_ms"}`
/// - `rss`: one worker process drains `--jobs` jobs and reports its peak RSS (VmHWM) → `{"rss_kb"}`
///
/// The store is `--redis-url URL` (never flushed here: the harness empties Redis between
/// runs), `--postgres-url URL` (the harness gives each run a schema of its own) or `--store
/// sqlite` (a fresh file, or `--sqlite-path` shared with child processes).
struct Compare {
    let options: Options

    func run(_ workload: String) async throws {
        switch workload {
        case "enqueue-single":
            let backend = try open()
            let start = ContinuousClock.now
            for _ in 0..<options.jobs { _ = try await backend.enqueue(noop()) }
            emit(["rate": Double(options.jobs) / (ContinuousClock.now - start).seconds])
        case "enqueue-bulk":
            let backend = try open()
            let start = ContinuousClock.now
            var left = options.jobs
            while left > 0 {
                let count = min(1000, left)
                _ = try await backend.enqueue((0..<count).map { _ in noop() })
                left -= count
            }
            emit(["rate": Double(options.jobs) / (ContinuousClock.now - start).seconds])
        case "drain":
            let (backend, path) = try openShared()
            try await fill(backend)
            let start = ContinuousClock.now
            let children = try (0..<options.workers).map { _ in try spawn("worker", path: path) }
            for child in children { try await wait(child) }
            let elapsed = ContinuousClock.now - start
            let done = try await backend.queueStats().first { $0.queue == "default" }?[.succeeded] ?? 0
            guard done == options.jobs else { throw ConveyorError.storeFailure("drain ended with \(done) of \(options.jobs) jobs succeeded") }
            emit(["rate": Double(options.jobs) / elapsed.seconds])
        case "rss":
            let (backend, path) = try openShared()
            try await fill(backend)
            let child = try spawn("worker-rss", path: path)
            try await wait(child)
        case "worker", "worker-rss":
            let backend = try open()
            var registry = JobRegistry()
            registry.register(name: "noop") { payload, _ in payload }
            let worker = Worker(backend: backend, registry: registry, configuration: .init(
                queues: ["default"], concurrency: options.concurrency, prefetch: options.prefetch, stopWhenIdle: true))
            try await worker.run()
            if workload == "worker-rss" { emit(["rss_kb": Double(peakRSSKilobytes())]) }
        case "latency":
            try await latency()
        case "latency-worker":
            // Runs until killed: stamps the delay of every job into the store as its result.
            let backend = try open()
            var registry = JobRegistry()
            registry.register(name: "stamp") { payload, _ in
                let sent = Double(String(decoding: payload, as: UTF8.self)) ?? 0
                return Data(String(Date().timeIntervalSince1970 - sent).utf8)
            }
            let worker = Worker(backend: backend, registry: registry, configuration: .init(
                queues: ["latency"], concurrency: 4, prefetch: 0))
            FileHandle.standardOutput.write(Data("ready\n".utf8))
            try await worker.run()
        default:
            throw ConveyorError.storeFailure("unknown workload '\(workload)'; use enqueue-single, enqueue-bulk, drain, latency or rss")
        }
    }

    /// Jobs sent one at a time to an idle worker in another process, each waited for.
    private func latency() async throws {
        let (backend, path) = try openShared()
        let worker = try spawn("latency-worker", path: path, captureOutput: true)
        defer { kill(worker.process.processIdentifier, SIGKILL) }
        // The worker says "ready" once it runs; then it registers, then idles on the store.
        _ = (worker.process.standardOutput as? Pipe)?.fileHandleForReading.availableData
        while try await backend.workers(seenWithin: .seconds(86_400)).isEmpty {
            try await Task.sleep(for: .milliseconds(10))
        }
        try await Task.sleep(for: .milliseconds(200))
        var delays: [Double] = []
        for _ in 0..<options.jobs {
            let sent = Date().timeIntervalSince1970
            let id = try await backend.enqueue(NewJob(name: "stamp", queue: "latency", payload: Data(String(sent).utf8))).id
            // Completions in the worker process reach this one at once (SQLite: inotify;
            // Redis: pub/sub), so waiting costs no polling.
            let record = try await backend.waitUntilFinished(id, timeout: .seconds(30))
            guard record.state == .succeeded else { throw ConveyorError.timedOut(waitingFor: "latency job \(id)") }
            delays.append(Double(String(decoding: record.result ?? Data(), as: UTF8.self)) ?? .nan)
            // Idle again before the next one, as the issue asks (jobs sent to idle workers).
            try await Task.sleep(for: .milliseconds(2))
        }
        let sorted = delays.sorted()
        func percentile(_ p: Double) -> Double { sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] * 1000 }
        emit(["p50_ms": percentile(0.5), "p99_ms": percentile(0.99)])
    }

    private func noop() -> NewJob {
        NewJob(name: "noop", payload: Data("{\"n\":1}".utf8), maxAttempts: 3)
    }

    private func fill(_ backend: any JobBackend) async throws {
        var left = options.jobs
        while left > 0 {
            let count = min(1000, left)
            _ = try await backend.enqueue((0..<count).map { _ in noop() })
            left -= count
        }
    }

    private func open(path: String? = nil) throws -> any JobBackend {
        if let url = options.redisURL { return try RedisBackend(url: url) }
        if let url = options.postgresURL { return try PostgresBackend(url: url) }
        let file = path ?? options.sqlitePath ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("conveyor-compare-\(UUID().uuidString.prefix(8)).sqlite").path
        return try SQLiteBackend(path: file)
    }

    /// A store that child processes can open too (for SQLite: a file path they are given).
    private func openShared() throws -> (any JobBackend, String?) {
        if options.redisURL != nil || options.postgresURL != nil { return (try open(), nil) }
        let path = options.sqlitePath ?? FileManager.default.temporaryDirectory
            .appendingPathComponent("conveyor-compare-\(UUID().uuidString.prefix(8)).sqlite").path
        return (try open(path: path), path)
    }

    /// A child process and a signal raised when it exits (Foundation's `waitUntilExit` spins
    /// a CPU on Linux, which would slow the workers being measured).
    final class Child: Sendable {
        let process: Process
        let exited = AsyncSignal()
        init(_ process: Process) { self.process = process }
    }

    private func spawn(_ workload: String, path: String?, captureOutput: Bool = false) throws -> Child {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        var arguments = ["--compare", workload, "--jobs", String(options.jobs),
                         "--concurrency", String(options.concurrency), "--prefetch", String(options.prefetch)]
        if let url = options.redisURL {
            arguments += ["--redis-url", url]
        } else if let url = options.postgresURL {
            arguments += ["--postgres-url", url]
        } else if let path { arguments += ["--store", "sqlite", "--sqlite-path", path] }
        process.arguments = arguments
        if captureOutput { process.standardOutput = Pipe() }
        let child = Child(process)
        process.terminationHandler = { [exited = child.exited] _ in exited.notify() }
        try process.run()
        return child
    }

    private func wait(_ child: Child) async throws {
        let process = child.process
        while true {
            let generation = child.exited.generation
            if !process.isRunning { break }
            await child.exited.wait(after: generation, timeout: .seconds(1))
        }
        guard process.terminationStatus == 0 else {
            throw ConveyorError.storeFailure("a worker process exited with status \(process.terminationStatus)")
        }
    }

    private func emit(_ values: [String: Double]) {
        let fields = values.sorted { $0.key < $1.key }.map { "\"\($0.key)\": \(String(format: "%.3f", $0.value))" }
        print("{" + fields.joined(separator: ", ") + "}")
    }
}

/// The process's peak resident set size (VmHWM), in kB.
func peakRSSKilobytes() -> Int {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
    return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
}
