import Conveyor
import ConveyorRedis
import ConveyorRedisClient
import Foundation

/// `--retention SECONDS --store redis`: does retention keep up with a full-speed drain?
///
/// Enqueues `--jobs` no-op jobs, drains them with one worker (`--concurrency`, `--prefetch`)
/// on a store whose retention is SECONDS, and samples Redis's `used_memory` and the number of
/// finished jobs still stored every 100 ms, during the drain and for 10 s after it. Prints the
/// most finished jobs held at once (and how many seconds of the drain that is), the memory
/// before the run, at its peak, and 10 s after the drain.
func retentionRun(_ retention: Int) async throws {
    guard options.store == "redis", let ownRedis else {
        throw ConveyorError.storeFailure("--retention measures the Redis store on its own redis-server: use --store redis without --redis-url")
    }
    func mb(_ bytes: Int) -> String { String(format: "%.1f MB", Double(bytes) / 1_000_000) }
    let connection = try await RedisConnection.connect(configuration: RedisConfiguration(url: ownRedis.url))
    defer { Task { await connection.close() } }
    _ = try await connection.send("FLUSHALL")
    func usedMemory() async throws -> Int {
        let info = try await connection.send("INFO", "memory").string ?? ""
        for line in info.split(separator: "\r\n") where line.hasPrefix("used_memory:") {
            return Int(line.dropFirst("used_memory:".count)) ?? 0
        }
        return 0
    }
    /// `MEMORY STATS`: what the memory is (the dataset against clients' buffers).
    func memoryStats() async throws -> (dataset: Int, clients: Int, keys: Int, all: [String: Int]) {
        let values = try await connection.send("MEMORY", "STATS").array ?? []
        var fields: [String: Int] = [:]
        for index in stride(from: 0, to: values.count - 1, by: 2) {
            if let name = values[index].string, let value = values[index + 1].int { fields[name] = value }
        }
        return (fields["dataset.bytes"] ?? 0, fields["clients.normal"] ?? 0, fields["keys.count"] ?? 0, fields)
    }
    let backend = try RedisBackend(url: ownRedis.url + "?retention=\(retention)")
    defer { Task { await backend.close() } }
    var registry = JobRegistry()
    registry.register(name: "noop") { _, _ in Data() }
    let worker = Worker(backend: backend, registry: registry, configuration: .init(
        queues: ["default"], concurrency: options.concurrency, prefetch: options.prefetch))
    // "Before" is a running, idle worker on a paused queue: its connections, the layout and the
    // function library are in place, so only jobs count in what follows.
    try await backend.pause(queue: "default")
    let drain = Task { try await worker.run() }
    try await Task.sleep(for: .seconds(2))
    let before = try await usedMemory()
    let statsBefore = try await memoryStats()
    for start in stride(from: 0, to: options.jobs, by: options.chunk) {
        _ = try await backend.enqueue(noopJobs(min(options.chunk, options.jobs - start)))
    }
    let enqueued = try await usedMemory()
    struct Sample { var seconds: Double; var memory: Int; var finished: Int; var done: Int }
    var samples: [Sample] = []
    let start = clock.now
    try await backend.resume(queue: "default")
    var drainEnd: ContinuousClock.Instant?
    while true {
        let stats = try await backend.queueStats().first { $0.queue == "default" }
        let finished = stats?[.succeeded] ?? 0
        samples.append(Sample(seconds: (clock.now - start).seconds, memory: try await usedMemory(), finished: finished, done: worker.processedCount))
        if drainEnd == nil, worker.processedCount >= options.jobs { drainEnd = clock.now }
        if let drainEnd, clock.now - drainEnd >= .seconds(10) { break }
        try await Task.sleep(for: .milliseconds(100))
    }
    // A worker keeps running (and deleting) until the 10 s are up, as a fleet would.
    let statsAfter = try await memoryStats()
    var keys: [(String, Int)] = []
    for key in (try await connection.send("KEYS", "*").array ?? []).compactMap(\.string) {
        keys.append((key, try await connection.send("MEMORY", "USAGE", .string(key)).int ?? 0))
    }
    let grew = statsAfter.all.filter { $0.value - (statsBefore.all[$0.key] ?? 0) > 50_000 }.map { "\($0.key) +\(mb($0.value - (statsBefore.all[$0.key] ?? 0)))" }.sorted().joined(separator: ", ")
    let largest = keys.sorted { $0.1 > $1.1 }.prefix(3).map { "\($0.0) \(mb($0.1))" }.joined(separator: ", ")
    worker.stop()
    try await drain.value
    let drainSeconds = ((drainEnd ?? clock.now) - start).seconds
    let rate = Double(options.jobs) / drainSeconds
    let peak = samples.max { $0.finished < $1.finished }!
    let after = samples.last!
    let memoryPeak = samples.map(\.memory).max() ?? 0
    print("""
    | Redis retention at \(retention) s, \(options.jobs) no-op jobs drained by one worker | value |
    |---|---:|
    | drain rate (jobs/s) | \(format(rate)) |
    | most finished jobs stored at once | \(peak.finished) (at \(String(format: "%.1f", peak.seconds)) s), \(String(format: "%.1f", Double(peak.finished) / rate)) s of the drain |
    | finished jobs stored 10 s after the drain | \(after.finished) |
    | used_memory before the run | \(mb(before)) |
    | used_memory with every job enqueued | \(mb(enqueued)) |
    | used_memory, peak | \(mb(memoryPeak)) |
    | used_memory 10 s after the drain | \(mb(after.memory)) (\(String(format: "%+.1f", Double(after.memory - before) / Double(max(1, before)) * 100)) % of before) |
    | of which the dataset (MEMORY STATS), before → 10 s after | \(mb(statsBefore.dataset)) → \(mb(statsAfter.dataset)) (\(statsBefore.keys) → \(statsAfter.keys) keys) |
    | the largest keys 10 s after | \(largest) |
    | what grew (MEMORY STATS) | \(grew.isEmpty ? "nothing over 50 kB" : grew) |
    | of which clients' buffers, before → 10 s after | \(mb(statsBefore.clients)) → \(mb(statsAfter.clients)) |

    """)
}
