import Conveyor
import Foundation
import Synchronization
import Testing

extension BackendConformance {
    /// Three schedulers fire 1,000 schedules (cron, calendar phrases and intervals in zones with
    /// DST, half-hour and 45-minute offsets) over a simulated year on the store's clock, with
    /// leaders killed at random points (some in the middle of a round of fires) and the store
    /// restarted half-way: every slot fires exactly once. Workers drain and retention purges
    /// the jobs as it goes, so a slot's record outliving its job is tested too.
    ///
    /// `reopen` gives the same store again after `restart` (a new connection to the same
    /// Redis, the same SQLite file). `CONVEYOR_SCHEDULE_YEAR` overrides the number of schedules.
    public static func runScheduleYear(
        seed: UInt64 = UInt64.random(in: 0...UInt64.max), schedules: Int = 1000, makeBackend: Factory,
        restart: (@Sendable () async throws -> Void)? = nil
    ) async throws {
        let clock = ManualStoreClock()
        try await $clock.withValue(clock) {
            try await scheduleYear(seed: seed, count: schedules, backend: try await makeBackend(clock)) { try await restart?(); return try await makeBackend(clock) }
        }
    }

    static let zones = [
        "UTC", "Europe/Berlin", "Europe/London", "America/New_York", "America/Los_Angeles", "America/Sao_Paulo",
        "Asia/Kolkata", "Asia/Kathmandu", "Australia/Adelaide", "Australia/Lord_Howe", "Pacific/Chatham", "Asia/Tehran",
        "America/St_Johns", "Africa/Cairo", "Asia/Tokyo", "Pacific/Auckland", "Europe/Moscow", "America/Havana",
        "Asia/Kabul", "Australia/Eucla",
    ]

    static func randomSchedule(_ index: Int, _ random: inout SeededGenerator) throws -> Schedule {
        let zone = zones[Int.random(in: 0..<zones.count, using: &random)]
        let hour = Int.random(in: 0..<24, using: &random), minute = Int.random(in: 0..<60, using: &random)
        let time = String(format: "%02d:%02d", hour, minute)
        let days = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
        let recurrence: Recurrence
        switch Int.random(in: 0..<100, using: &random) {
        case 0..<20: recurrence = try .calendar("daily at \(time)", timeZone: zone)
        case 20..<40: recurrence = try .calendar("weekly on \(days.randomElement(using: &random)!) at \(time)", timeZone: zone)
        case 40..<52: recurrence = try .calendar("monthly on day \(Int.random(in: 1...31, using: &random)) at \(time)", timeZone: zone)
        case 52..<58: recurrence = try .calendar("monthly on the last day at \(time)", timeZone: zone)
        case 58..<62: recurrence = try .calendar("quarterly at \(time)", timeZone: zone)
        case 62..<65: recurrence = try .calendar("annually on 03-31 at \(time)", timeZone: zone)
        case 65..<75: recurrence = try .cron("\(minute) \(hour) * * MON-FRI", timeZone: zone)
        case 75..<82: recurrence = try .cron("\(minute) \(hour) * * \(["MON", "TUE", "WED", "THU", "FRI"].randomElement(using: &random)!)#\(Int.random(in: 1...4, using: &random))", timeZone: zone)
        case 82..<86: recurrence = try .cron("30 \(minute % 60) \(hour) L * *", timeZone: zone)
        default:
            let hours = [24, 30, 36, 48, 72].randomElement(using: &random)!
            recurrence = try .interval(every: .seconds(hours * 3600), anchor: Date(timeIntervalSince1970: Double(Int.random(in: 0..<86_400, using: &random))))
        }
        return Schedule(name: String(format: "year-%04d", index), recurrence: recurrence,
                        target: .job(JobTemplate(name: "test.job")), missed: .catchUp(limit: 100_000, within: nil),
                        jitter: index % 10 == 0 ? .seconds(90) : nil)
    }

    static func scheduleYear(
        seed: UInt64, count defaultCount: Int, backend first: any JobBackend, reopen: @Sendable () async throws -> any JobBackend
    ) async throws {
        print("schedule year seed: \(seed) (BackendConformance.runScheduleYear(seed:))")
        var random = SeededGenerator(seed: seed)
        var backend = first
        var store = try scheduleStore(backend)
        let count = ProcessInfo.processInfo.environment["CONVEYOR_SCHEDULE_YEAR"].flatMap { Int($0) } ?? defaultCount
        var schedules: [Schedule] = []
        for index in 0..<count { schedules.append(try randomSchedule(index, &random)) }
        var created: [String: Date] = [:]
        for schedule in schedules {
            created[schedule.name] = try #require(try await store.saveSchedule(schedule, if: .absent)).createdAt
        }
        let start = clock.now()
        let end = start.addingTimeInterval(365 * 86_400)
        let lease = Duration.seconds(120)
        var serial = 0
        func makeScheduler(_ store: any ScheduleStore & BatchStore) -> (Scheduler, KillableScheduleStore) {
            serial += 1
            let killable = KillableScheduleStore(store)
            return (Scheduler(store: killable, configuration: .init(holder: "scheduler-\(serial)", lease: lease, batchSize: 25)), killable)
        }
        var schedulers = (0..<3).map { _ in makeScheduler(store) }
        var fired: [String: [Int64: Int]] = [:]
        var kills = 0, rounds = 0, restarted = false
        func drain() async throws {
            while true {
                let claimed = try await claimAll(backend)
                guard !claimed.isEmpty else { return }
                for job in claimed {
                    guard let name = job.headers[JobTemplate.scheduleHeader], let slot = job.headers[JobTemplate.slotHeader].flatMap({ Int64($0) })
                    else { continue }
                    fired[name, default: [:]][slot, default: 0] += 1
                }
                try await backend.complete(claimed.map { .succeeded($0.lease, output: Data()) })
            }
        }
        while clock.now() < end {
            rounds += 1
            // Mostly short steps, where one leader fires and the others stand by; sometimes
            // long ones, past every lease, where whoever steps first takes over.
            let seconds = Bool.random(using: &random) ? Double.random(in: 1...300, using: &random) : Double.random(in: 3600...40 * 3600, using: &random)
            clock.advance(by: .seconds(min(seconds, max(1, end.timeIntervalSince(clock.now())))))
            if !restarted, clock.now() > start.addingTimeInterval(182 * 86_400) {
                restarted = true
                backend = try await reopen()
                store = try scheduleStore(backend)
                schedulers = (0..<3).map { _ in makeScheduler(store) }
            }
            // Now and then the leader dies: at once, or after a few of its fire calls.
            if Int.random(in: 0..<100, using: &random) < 4, let leader = schedulers.firstIndex(where: { $0.0.leadership != nil }) {
                schedulers[leader].1.kill(afterFires: Int.random(in: 0...3, using: &random))
            }
            for index in schedulers.indices.shuffled(using: &random) {
                do {
                    _ = try await schedulers[index].0.step()
                } catch is KillableScheduleStore.Killed {
                    kills += 1
                    schedulers[index] = makeScheduler(store)
                }
            }
            try await drain()
            if rounds % 10 == 0 { _ = try await backend.purge(PurgeRequest()) }
        }
        // Past the end and every lease (a killed leader's too), the schedulers settle everything due.
        for _ in 0..<3 {
            clock.advance(by: lease + .seconds(1))
            for index in schedulers.indices { _ = try await schedulers[index].0.step() }
            try await drain()
        }
        let now = clock.now()
        var total = 0
        for schedule in schedules {
            let shift = schedule.jitter.map { Recurrence.jitter(for: schedule.name, maximum: $0) } ?? .zero
            let expected = schedule.recurrence.slots(from: created[schedule.name]!, through: now.addingTimeInterval(-shift.seconds), limit: 10_000)
                .filter { $0 > created[schedule.name]! }.map { Int64($0.timeIntervalSince1970.rounded(.down)) }
            let got = fired[schedule.name] ?? [:]
            let twice = got.filter { $0.value > 1 }.keys.sorted()
            #expect(twice.isEmpty, "\(schedule.name) (\(schedule.recurrence)) fired slots \(twice.prefix(5)) more than once (seed \(seed))")
            #expect(got.keys.sorted() == expected,
                    "\(schedule.name) (\(schedule.recurrence)): \(Set(expected).subtracting(got.keys).count) slots never fired, \(Set(got.keys).subtracting(expected).count) fired that are no slots (seed \(seed))")
            total += got.values.reduce(0, +)
        }
        print("schedule year: \(count) schedules, \(total) fires, \(rounds) rounds, \(kills) leaders killed, restarted: \(restarted)")
        #expect(kills > 0 && restarted)
    }
}

/// A store that dies on request, as a process killed mid-step would: after a number of fire
/// calls, every call throws ``Killed`` and nothing more reaches the store.
final class KillableScheduleStore: ScheduleStore, BatchStore {
    struct Killed: Error {}
    let base: any ScheduleStore & BatchStore
    private let firesLeft = Mutex<Int?>(nil)

    init(_ base: any ScheduleStore & BatchStore) { self.base = base }

    func kill(afterFires count: Int) { firesLeft.withLock { $0 = count } }

    private func alive(firing: Bool = false) throws {
        try firesLeft.withLock { left in
            guard let remaining = left else { return }
            if remaining <= 0 { throw Killed() }
            if firing { left = remaining - 1 }
        }
    }

    var workSignal: AsyncSignal { base.workSignal }
    func enqueue(_ jobs: [NewJob]) async throws -> [EnqueueResult] { try alive(); return try await base.enqueue(jobs) }
    func claim(queues: [String], limit: Int, lease: Duration, workerID: String) async throws -> [ClaimedJob] {
        try alive(); return try await base.claim(queues: queues, limit: limit, lease: lease, workerID: workerID)
    }
    func complete(_ outcomes: [JobOutcome]) async throws -> [JobLease] { try alive(); return try await base.complete(outcomes) }
    func heartbeat(_ leases: [JobLease], lease: Duration) async throws -> [JobLease] { try alive(); return try await base.heartbeat(leases, lease: lease) }
    func release(_ leases: [JobLease]) async throws { try alive(); try await base.release(leases) }
    func recoverExpiredLeases() async throws -> Int { try alive(); return try await base.recoverExpiredLeases() }
    func timeUntilNextDue(queues: [String]) async throws -> Duration? { try alive(); return try await base.timeUntilNextDue(queues: queues) }
    func waitForWork(queues: [String], after generation: UInt64, timeout: Duration, claimingUpTo limit: Int, lease: Duration,
                     workerID: String) async throws -> [ClaimedJob] {
        try alive()
        return try await base.waitForWork(queues: queues, after: generation, timeout: timeout, claimingUpTo: limit, lease: lease, workerID: workerID)
    }
    func acquireLeadership(_ name: String, holder: String, ttl: Duration) async throws -> Leadership? {
        try alive(); return try await base.acquireLeadership(name, holder: holder, ttl: ttl)
    }
    func releaseLeadership(_ leadership: Leadership) async throws { try alive(); try await base.releaseLeadership(leadership) }
    func record(_ key: String) async throws -> VersionedRecord? { try alive(); return try await base.record(key) }
    func compareAndSet(_ key: String, expectedVersion: Int?, value: Data) async throws -> VersionedRecord? {
        try alive(); return try await base.compareAndSet(key, expectedVersion: expectedVersion, value: value)
    }
    func fire(_ fires: [ScheduleFire], as leadership: Leadership) async throws -> [FireResult] {
        try alive(firing: true); return try await base.fire(fires, as: leadership)
    }
    func fireNow(_ fire: ScheduleFire) async throws -> FireResult { try alive(); return try await base.fireNow(fire) }
    func lastFiredSlot(_ schedule: String) async throws -> Date? { try alive(); return try await base.lastFiredSlot(schedule) }
    func saveSchedule(_ schedule: Schedule, if condition: WriteCondition) async throws -> StoredSchedule? {
        try alive(); return try await base.saveSchedule(schedule, if: condition)
    }
    func schedule(named name: String) async throws -> StoredSchedule? { try alive(); return try await base.schedule(named: name) }
    func schedules(after name: String?, limit: Int) async throws -> [StoredSchedule] { try alive(); return try await base.schedules(after: name, limit: limit) }
    func removeSchedule(named name: String, if condition: WriteCondition) async throws -> Bool {
        try alive(); return try await base.removeSchedule(named: name, if: condition)
    }
    func dueSchedules(limit: Int) async throws -> DueSchedules { try alive(); return try await base.dueSchedules(limit: limit) }
    func reschedule(_ changes: [ScheduleReschedule], as leadership: Leadership) async throws -> [Bool] {
        try alive(); return try await base.reschedule(changes, as: leadership)
    }
    func fireHistory(of schedule: String, limit: Int) async throws -> [ScheduleFireRecord] {
        try alive(); return try await base.fireHistory(of: schedule, limit: limit)
    }
    func createBatch(_ batch: NewBatch) async throws -> Batch { try alive(); return try await base.createBatch(batch) }
    func batch(_ id: String) async throws -> Batch? { try alive(); return try await base.batch(id) }
    func batches(limit: Int) async throws -> [Batch] { try alive(); return try await base.batches(limit: limit) }
    func recoverBatch(_ id: String, onlyRetryable: Bool) async throws -> [JobID] {
        try alive(); return try await base.recoverBatch(id, onlyRetryable: onlyRetryable)
    }
}
