import ArgumentParser
import Conveyor
import ConveyorIngest
import Foundation
import Logging

/// `conveyor demo`: the TradeStat export batch, end to end, on the embedded store.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run a sample batch end to end on the embedded SQLite store: keys from a file, workers, a retry, results."
    )

    @Option(help: "Where the demo keeps its store, key file and exports (recreated on each run).")
    var directory = ".conveyor-demo"

    @Option(help: "Workers started in this process.")
    var workers = 2

    @Option(help: "Jobs each worker runs at once.")
    var concurrency = 3

    func run() async throws {
        Logs.bootstrap(level: .warning)
        let terminal = Terminal()
        let root = URL(fileURLWithPath: directory).standardizedFileURL
        let storePath = root.appendingPathComponent("demo.sqlite").path
        let exports = root.appendingPathComponent("exports")
        let keyFilePath = root.appendingPathComponent("hsn_codes_sample.txt").path
        // A damaged installation fails here, before anything is submitted, naming the file.
        let data = try DemoData.bundled()
        _ = try DemoData.bundledDataset.get()
        try Self.reset(root: root, storePath: storePath, exports: exports)
        try data.text(of: DemoData.keyFileName).write(toFile: keyFilePath, atomically: true, encoding: .utf8)

        terminal.line("Conveyor demo: the TradeStat export batch on the embedded SQLite store")
        terminal.line("")
        let keys = try KeyFile.load(contentsOf: keyFilePath, format: .text, configuration: .init(pattern: "^[0-9]{8}$"))
        terminal.line("1. Loaded \(keys.summary)")
        for issue in keys.issues { terminal.line("   bad \(issue)") }
        for duplicate in keys.duplicates {
            terminal.line("   duplicate line \(duplicate.line): '\(duplicate.key)' (first on line \(duplicate.firstLine)), skipped")
        }

        // The embedded SQLite store, through the stores this program links (the `conveyor`
        // binary links it; a program embedding these commands without it cannot run the demo).
        guard ConveyorCommand.stores.provider(for: StoreURL("sqlite:")) != nil else {
            throw CommandError("the demo runs on the embedded SQLite store, and this program does not link it (pass SQLiteStoreProvider() to ConveyorCommand.main)")
        }
        let backend = try ConveyorCommand.stores.open("sqlite://" + storePath, as: (any BatchStore & JobInspection & FlowControlStore).self,
                                                      neededBy: "`conveyor demo`")
        let client = JobClient(backend: backend)
        let batchID = "demo"
        let retryKey = "09042110"
        let busyKey = "09021010"
        let busyWait = 400
        // Seed 000's site allows a few requests a second: the store paces every export's start.
        let siteRate = try RateLimit(10, per: .seconds(1), burst: 3)
        try await backend.setLimit(TradeStatExportJob.host, LimitSettings(rate: siteRate))
        let jobs = keys.keys.map {
            TradeStatExportJob(key: $0, exportDirectory: exports.path, failFirstAttempt: $0 == retryKey ? true : nil,
                               tooManyRequestsFirst: $0 == busyKey ? busyWait : nil)
        }
        let handles = try await client.enqueue(jobs, options: .init(batchID: batchID))
        terminal.line("2. Submitted \(handles.count) jobs as batch '\(batchID)' to \(storePath), limited to \(siteRate) on \(TradeStatExportJob.host)")
        terminal.line("3. Running \(workers) workers × \(concurrency) in this process (\(retryKey) fails once on purpose; the site answers \(busyKey) with a 429)")

        // The demo's job is registered here only: `conveyor worker` does not run it.
        var registry = ConveyorCommand.registry
        BuiltinJobs.register(into: &registry)
        registry.register(TradeStatExportJob.self)
        let logger = Logger(label: "conveyor.demo")
        let running = (0..<max(1, workers)).map { index in
            Worker(backend: backend, registry: registry, configuration: .init(
                id: "demo-worker-\(index + 1)", queues: [TradeStatExportJob.queue], concurrency: concurrency, logger: logger))
        }
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in running { group.addTask { try await worker.run() } }
            let progress = ProgressBar(terminal: terminal, label: "   progress")
            while true {
                let generation = backend.completionSignal.generation
                let summary = try await backend.batch(batchID) ?? Batch(id: batchID)
                let retrying = summary[.retrying]
                progress.update(done: summary.finished, total: summary.total,
                                detail: "\(summary[.succeeded]) ok" + (retrying > 0 ? " · \(retrying) retrying" : "") + (summary[.dead] > 0 ? " · \(summary[.dead]) dead" : ""))
                if summary.isFinished { break }
                await backend.completionSignal.wait(after: generation, timeout: .seconds(1))
            }
            progress.finish()
            for worker in running { worker.stop() }
            try await group.waitForAll()
        }
        let elapsed = ContinuousClock.now - started

        terminal.line("")
        terminal.line("4. Results (\(elapsed.formatted))")
        var table = TextTable(["hsn", "years", "countries", "value (USD)", "attempts", "export"])
        var failures: [String] = []
        for handle in handles {
            let record = try await handle.record()
            switch record.state {
            case .succeeded:
                let summary = try await handle.value()
                table.add([summary.hsn, "\(summary.years)", "\(summary.countries)", Self.money(summary.totalValueUSD),
                           "\(record.attempt)", Self.relative(summary.file)])
            default:
                failures.append("\(record.id) \(record.state): \(record.lastError?.description ?? "")")
            }
        }
        terminal.line(table.render())
        for failure in failures { terminal.line("   failed: \(failure)") }
        let retried = try await backend.jobs(JobQuery(batchID: batchID, limit: 1000)).filter { $0.attempt > 1 }
        for job in retried {
            let error = job.lastError.map { " (\($0.message))" } ?? ""
            terminal.line("   \(ResultsCommand.keyOf(job)) failed\(error) and succeeded on attempt \(job.attempt)")
        }
        if let busy = zip(keys.keys, handles).first(where: { $0.0 == busyKey })?.1, let record = try? await busy.record(), record.state == .succeeded {
            terminal.line("   \(busyKey) got HTTP 429 with Retry-After \(Duration.milliseconds(busyWait).formatted): the whole host waited, "
                          + "and it succeeded on attempt \(record.attempt) (the wait spent no attempt)")
        }
        terminal.line("")
        terminal.line("Exports: \(Self.relative(exports.path))/<hsn>/<hsn>_export.json")
        terminal.line("Look around: conveyor status --store \(Self.relative(storePath))   ·   conveyor results --store \(Self.relative(storePath))")
        if !failures.isEmpty { throw ExitCode(1) }
    }

    /// Removes the previous run's store and exports so every run starts the same.
    static func reset(root: URL, storePath: String, exports: URL) throws {
        let files = FileManager.default
        try files.createDirectory(at: root, withIntermediateDirectories: true)
        for suffix in ["", "-wal", "-shm", "-work", "-done"] {
            try? files.removeItem(atPath: storePath + suffix)
        }
        try? files.removeItem(at: exports)
        try files.createDirectory(at: exports, withIntermediateDirectories: true)
    }

    static func money(_ value: Int) -> String {
        let formatter = NumberFormatter()
        formatter.numberStyle = .decimal
        formatter.groupingSeparator = ","
        return formatter.string(from: NSNumber(value: value)) ?? "\(value)"
    }

    static func relative(_ path: String) -> String {
        let cwd = FileManager.default.currentDirectoryPath + "/"
        return path.hasPrefix(cwd) ? String(path.dropFirst(cwd.count)) : path
    }
}
