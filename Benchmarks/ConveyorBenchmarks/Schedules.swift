import Conveyor
import ConveyorRedis
import ConveyorRedisClient
import Foundation

/// `--schedules N`: the scheduler over N stored schedules.
///
/// Three measurements, each on a fresh store:
/// 1. **Idle**: N yearly schedules none of which is due; one scheduler leads for 30 s. Prints
///    its store calls per second (and, on Redis, the commands Redis served per second).
/// 2. **Spread**: N schedules every 10 minutes, their anchors spread over the 10 minutes (N/600
///    due each second); after its first pass over them all, the scheduler runs for `--seconds`
///    (default 60). Fire lag is the store's
///    time of the fire minus the slot, read from each schedule's last fire.
/// 3. **Burst**: 1,000 schedules on one cron minute (`* * * * *`, no jitter): the lag of a
///    minute when a thousand fire at once, over two minutes.
func schedulesRun(_ count: Int) async throws {
    let seconds = options.seconds ?? 60
    func template() -> Schedule.Target { .job(JobTemplate(name: "noop", payload: Data("{}".utf8))) }

    func store(_ schedules: [Schedule], into backend: any ScheduleStore) async throws -> Double {
        let start = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            var pending = schedules[...]
            func next() {
                guard let schedule = pending.popFirst() else { return }
                group.addTask { _ = try await backend.saveSchedule(schedule, if: .always) }
            }
            for _ in 0..<32 { next() }
            while try await group.next() != nil { next() }
        }
        return Double(schedules.count) / (clock.now - start).seconds
    }

    func redisCommands() async throws -> Int? {
        guard options.store == "redis" else { return nil }
        let connection = try await RedisConnection.connect(configuration: RedisConfiguration(url: options.redisURL ?? ownRedis!.url))
        defer { Task { await connection.close() } }
        let info = try await connection.send("INFO", "stats").string ?? ""
        for line in info.split(separator: "\r\n") where line.hasPrefix("total_commands_processed:") {
            return Int(line.dropFirst("total_commands_processed:".count))
        }
        return nil
    }

    func scheduler(_ backend: any ScheduleStore & BatchStore) -> Scheduler {
        Scheduler(store: backend, configuration: .init(holder: "bench"))
    }

    func percentile(_ sorted: [Double], _ p: Double) -> Double { sorted.isEmpty ? .nan : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }

    /// Lags (seconds) of the last fires of `schedules` that fired within the run.
    func lags(_ backend: any ScheduleStore, after start: Date) async throws -> [Double] {
        try await backend.allSchedules(pageSize: 2000).compactMap { stored in
            guard let fire = stored.lastFire, fire.slot >= start, fire.outcome == .fired else { return nil }
            return fire.firedAt.timeIntervalSince(fire.slot)
        }.sorted()
    }

    print("## Scheduler, \(options.store), \(count) schedules\n")
    print("| measurement | value |")
    print("|---|---|")

    // 1. Idle.
    do {
        let (made, cleanUp) = try await freshStore()
        let backend = made as! any ScheduleStore & BatchStore
        let yearly = try Recurrence.calendar("annually on 01-01 at 00:00", timeZone: "UTC")
        let rate = try await store((0..<count).map { Schedule(name: "idle-\($0)", recurrence: yearly, target: template()) }, into: backend)
        print("| stored (`saveSchedule`, 32 at a time) | \(format(rate)) schedules/s |")
        let idle = scheduler(backend)
        let running = Task { try await idle.run() }
        // The first rounds read every schedule once (each was stored due at once): measure after them.
        while true {
            let pending = try await backend.dueSchedules(limit: 1).schedules.count
            if idle.leadership != nil && pending == 0 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        try await Task.sleep(for: .seconds(5))
        let callsBefore = idle.storeCalls
        let commandsBefore = try await redisCommands()
        let window = 30.0
        try await Task.sleep(for: .seconds(window))
        let calls = Double(idle.storeCalls - callsBefore) / window
        let commands = try await redisCommands().flatMap { after in commandsBefore.map { Double(after - $0 - 1) / window } }
        idle.stop()
        _ = try await running.value
        print("| idle: scheduler store calls | \(String(format: "%.2f", calls))/s |")
        if let commands { print("| idle: Redis commands served (all clients) | \(String(format: "%.2f", commands))/s |") }
        await cleanUp()
    }

    // 2. Spread.
    do {
        let (made, cleanUp) = try await freshStore()
        let backend = made as! any ScheduleStore & BatchStore
        let base = Date(timeIntervalSince1970: 0)
        let schedules = try (0..<count).map { index in
            Schedule(name: "spread-\(index)", recurrence: try .interval(every: .seconds(600), anchor: base.addingTimeInterval(Double(index % 600))),
                     target: template())
        }
        _ = try await store(schedules, into: backend)
        let spread = scheduler(backend)
        let running = Task { try await spread.run() }
        // The first rounds plan every schedule once (each was stored due at once); the lag is
        // measured after them, in the steady state.
        let first = clock.now
        while try await backend.dueSchedules(limit: 1).schedules.count > 0 && clock.now - first < .seconds(60) {
            try await Task.sleep(for: .milliseconds(20))
        }
        let firstPass = clock.now - first
        try await Task.sleep(for: .seconds(2))
        let start = Date()
        try await Task.sleep(for: .seconds(seconds))
        spread.stop()
        _ = try await running.value
        let lag = try await lags(backend, after: start)
        print("| spread: first pass over every stored schedule | \(format(firstPass.seconds)) s |")
        print("| spread (\(count / 600) due per second): fires in \(Int(seconds)) s | \(lag.count) |")
        print("| spread: fire lag p50 / p99 / max | \(format(percentile(lag, 0.5) * 1000)) / \(format(percentile(lag, 0.99) * 1000)) / \(format((lag.last ?? .nan) * 1000)) ms |")
        await cleanUp()
    }

    // 3. Burst.
    do {
        let (made, cleanUp) = try await freshStore()
        let backend = made as! any ScheduleStore & BatchStore
        let minutely = try Recurrence.cron("* * * * *")
        _ = try await store((0..<1000).map { Schedule(name: "burst-\($0)", recurrence: minutely, target: template()) }, into: backend)
        let burst = scheduler(backend)
        let running = Task { try await burst.run() }
        let start = Date()
        var all: [Double] = []
        for _ in 0..<2 {
            let now = Date()
            let nextMinute = (now.timeIntervalSince1970 / 60).rounded(.down) * 60 + 60
            try await Task.sleep(for: .seconds(nextMinute - now.timeIntervalSince1970 + 5))
            all += try await lags(backend, after: max(start, Date(timeIntervalSince1970: nextMinute - 1)))
        }
        burst.stop()
        _ = try await running.value
        all.sort()
        print("| burst (1,000 on one minute, 2 minutes): fires | \(all.count) |")
        print("| burst: fire lag p50 / p99 / max | \(format(percentile(all, 0.5) * 1000)) / \(format(percentile(all, 0.99) * 1000)) / \(format((all.last ?? .nan) * 1000)) ms |")
        await cleanUp()
    }
}
