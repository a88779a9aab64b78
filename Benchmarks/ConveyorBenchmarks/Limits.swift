import Conveyor
import ConveyorRedisClient
import Foundation

/// `--limits KEYS`: what flow control costs. Per round, each on a fresh store:
/// 1. **Drain without keys**: `--jobs` no-op jobs, one worker (the baseline).
/// 2. **Drain over KEYS keys**: the same jobs, each with one of KEYS keys (`host:k0`…), every
///    key limited by a rule that does not bind (`host:*`: 1,000/s burst 100, 100 at once).
/// 2b. **The same with a breaker**: the rule also carries a circuit breaker (5 in a row, 50 %
///    of 20), which never opens: what counting every outcome costs.
/// 3. **A saturated key beside free work**: 100,000 jobs of `host:slow` (10/s) wait in one queue
///    while `--jobs` jobs without keys drain from another; their drain rate is compared with (1),
///    then for 10 s only the saturated key's jobs are left: the store's work per second then
///    (this process's CPU on SQLite, Redis's CPU and commands on Redis) and how many started.
func limitsRun(keys: Int) async throws {
    let jobs = options.jobs
    var plain: [Double] = [], keyed: [Double] = [], breakered: [Double] = [], beside: [Double] = []
    var idleCPU: [Double] = [], idleCommands: [Double] = [], idleStarts: [Double] = []

    func worker(_ backend: any JobBackend, queues: [String], stopWhenIdle: Bool) -> Worker {
        var registry = JobRegistry()
        registry.register(name: "noop") { _, _ in Data() }
        return Worker(backend: backend, registry: registry, configuration: .init(
            queues: queues, concurrency: options.concurrency, prefetch: options.prefetch, stopWhenIdle: stopWhenIdle))
    }

    func drain(_ backend: any JobBackend) async throws -> Double {
        let start = clock.now
        try await worker(backend, queues: ["default"], stopWhenIdle: true).run()
        let elapsed = clock.now - start
        let done = try await backend.queueStats().first { $0.queue == "default" }?[.succeeded] ?? 0
        guard done == jobs else { throw ConveyorError.storeFailure("drain finished with \(done) of \(jobs) jobs succeeded") }
        return Double(jobs) / elapsed.seconds
    }

    func enqueue(_ backend: any JobBackend, _ make: (Int) -> NewJob, count: Int) async throws {
        for start in stride(from: 0, to: count, by: options.chunk) {
            _ = try await backend.enqueue((start..<min(count, start + options.chunk)).map(make))
        }
    }

    func redisStats() async throws -> (cpu: Double, commands: Double) {
        guard options.store == "redis" else { return (processCPU(), 0) }
        let connection = try await RedisConnection.connect(configuration: RedisConfiguration(url: options.redisURL ?? ownRedis!.url))
        defer { Task { await connection.close() } }
        var cpu = 0.0, commands = 0.0
        for section in ["cpu", "stats"] {
            for line in (try await connection.send("INFO", .string(section)).string ?? "").split(separator: "\r\n") {
                let parts = line.split(separator: ":")
                guard parts.count == 2 else { continue }
                if parts[0] == "used_cpu_user" || parts[0] == "used_cpu_sys" { cpu += Double(parts[1]) ?? 0 }
                if parts[0] == "total_commands_processed" { commands = Double(parts[1]) ?? 0 }
            }
        }
        return (cpu, commands)
    }

    let noop = Data("{}".utf8)
    for round in 1...options.rounds {
        do {
            let (backend, cleanUp) = try await freshStore()
            try await enqueue(backend, { _ in NewJob(name: "noop", payload: noop) }, count: jobs)
            plain.append(try await drain(backend))
            await cleanUp()
        }
        do {
            let (backend, cleanUp) = try await freshStore()
            guard let limits = backend as? any FlowControlStore else { throw ConveyorError.storeFailure("the store keeps no limits") }
            try await limits.setLimit("host:*", LimitSettings(rate: try RateLimit(1000, per: .seconds(1), burst: 100),
                                                              concurrency: try ConcurrencyLimit(100)))
            try await enqueue(backend, { NewJob(name: "noop", payload: noop, limitKeys: ["host:k\($0 % keys)"]) }, count: jobs)
            keyed.append(try await drain(backend))
            await cleanUp()
        }
        do {
            let (backend, cleanUp) = try await freshStore()
            guard let limits = backend as? any FlowControlStore else { throw ConveyorError.storeFailure("the store keeps no limits") }
            try await limits.setLimit("host:*", LimitSettings(rate: try RateLimit(1000, per: .seconds(1), burst: 100),
                                                              concurrency: try ConcurrencyLimit(100),
                                                              circuit: try CircuitBreaker(failures: 5, failureRate: 0.5, window: 20)))
            try await enqueue(backend, { NewJob(name: "noop", payload: noop, limitKeys: ["host:k\($0 % keys)"]) }, count: jobs)
            breakered.append(try await drain(backend))
            await cleanUp()
        }
        do {
            let (backend, cleanUp) = try await freshStore()
            guard let limits = backend as? any FlowControlStore else { throw ConveyorError.storeFailure("the store keeps no limits") }
            try await limits.setLimit("host:slow", LimitSettings(rate: try RateLimit(10, per: .seconds(1))))
            try await enqueue(backend, { _ in NewJob(name: "noop", payload: noop, limitKeys: ["host:slow"]) }, count: 100_000)
            try await enqueue(backend, { _ in NewJob(name: "noop", queue: "other", payload: noop) }, count: jobs)
            let running = worker(backend, queues: ["default", "other"], stopWhenIdle: false)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await running.run() }
                let start = clock.now
                while (try await backend.queueStats().first { $0.queue == "other" }?[.succeeded] ?? 0) < jobs {
                    try await Task.sleep(for: .milliseconds(20))
                }
                beside.append(Double(jobs) / (clock.now - start).seconds)
                // Only the saturated key's jobs are left: what does waiting cost?
                let startedBefore = try await backend.queueStats().first { $0.queue == "default" }?[.succeeded] ?? 0
                let before = try await redisStats()
                let window = clock.now
                try await Task.sleep(for: .seconds(10))
                let after = try await redisStats()
                let seconds = (clock.now - window).seconds
                let startedAfter = try await backend.queueStats().first { $0.queue == "default" }?[.succeeded] ?? 0
                idleCPU.append((after.cpu - before.cpu) / seconds * 100)
                idleCommands.append((after.commands - before.commands) / seconds)
                idleStarts.append(Double(startedAfter - startedBefore) / seconds)
                running.stop()
                try await group.waitForAll()
            }
            await cleanUp()
        }
        FileHandle.standardError.write(Data("round \(round): drain \(format(plain.last!)) jobs/s, over \(keys) keys \(format(keyed.last!)), with a breaker \(format(breakered.last!)), beside a saturated key \(format(beside.last!)); waiting: \(format(idleCPU.last!)) % CPU, \(format(idleCommands.last!)) commands/s, \(format(idleStarts.last!)) starts/s\n".utf8))
    }
    func row(_ title: String, _ values: [Double]) -> String {
        "| \(title) | \(format(median(values))) | \(format(values.min()!)) | \(format(values.max()!)) |"
    }
    let ratios = zip(keyed, plain).map { $0 / $1 * 100 }
    let besideRatios = zip(beside, plain).map { $0 / $1 * 100 }
    let breakerRatios = zip(breakered, keyed).map { $0 / $1 * 100 }
    print("""
        | \(options.store == "redis" ? "Redis" : "SQLite"), \(jobs) no-op jobs, concurrency \(options.concurrency), \(options.rounds) rounds | median | min | max |
        |---|---:|---:|---:|
        \(row("drain, no limit keys (jobs/s)", plain))
        \(row("drain, each job one of \(keys) keys under `host:*` 1000/s burst 100, 100 at once (jobs/s)", keyed))
        \(row("  the same, as % of the drain without keys (per round)", ratios))
        \(row("the same keys, the rule with a breaker too (5 in a row or 50 % of 20; jobs/s)", breakered))
        \(row("  the same, as % of the drain over keys without a breaker (per round)", breakerRatios))
        \(row("drain of jobs without keys while 100,000 of `host:slow` (10/s) wait (jobs/s)", beside))
        \(row("  the same, as % of the drain without keys (per round)", besideRatios))
        \(row("then, only `host:slow` left: \(options.store == "redis" ? "Redis" : "this process's") CPU (% of a core)", idleCPU))
        \(options.store == "redis" ? row("then: Redis commands served per second", idleCommands) + "\n" : "")\(row("then: `host:slow` jobs started per second", idleStarts))
        """)
}

/// This process's CPU seconds so far (user + system).
func processCPU() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1_000_000
}
