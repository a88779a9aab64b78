import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Fires the store's schedules: every process may run one, and the one that holds the
/// store's leader lease fires while the others stand by.
///
/// The leader reads what is due through the store's next-fire index, works out each
/// schedule's slots (missed-slot and overlap policies, jitter), and fires them with
/// ``ScheduleStore/fire(_:as:)``, which records each slot with its jobs in one atomic step and
/// refuses a deposed leader's fire by its fencing token. It then sleeps until the next fire
/// is due, waking every third of the lease to renew it and to see schedules added meanwhile.
/// A standby tries for the lease every half lease, so it takes over within 1.5 leases of the
/// leader's last renewal.
///
/// ```swift
/// let scheduler = Scheduler(store: store, configuration: .init(lease: .seconds(5)))
/// let group = ServiceGroup(services: [worker, scheduler], logger: logger)
/// try await group.run()
/// ```
public final class Scheduler: Service, Sendable {
    public struct Configuration: Sendable {
        /// Who this scheduler is in the leadership (unique per process).
        public var holder: String
        /// The leadership every scheduler of the store competes for.
        public var leadershipName: String
        /// How long the leadership lasts unrenewed: a dead leader's successor fires within 1.5
        /// leases of its last renewal.
        public var lease: Duration
        /// How late a slot may be and still be on time (not a missed slot): covers a takeover
        /// and the wake-up lag.
        public var tolerance: Duration
        /// Schedules read and fired per store call.
        public var batchSize: Int
        public var logger: Logger

        public init(
            holder: String = Scheduler.defaultHolder(), leadershipName: String = "conveyor-scheduler", lease: Duration = .seconds(5),
            tolerance: Duration = .seconds(60), batchSize: Int = 200, logger: Logger = Logger(label: "conveyor.scheduler")
        ) {
            self.holder = holder
            self.leadershipName = leadershipName
            self.lease = max(lease, .milliseconds(300))
            self.tolerance = tolerance
            self.batchSize = max(1, batchSize)
            self.logger = logger
        }
    }

    /// What one ``step()`` did.
    public struct Step: Sendable, Hashable {
        /// Whether this scheduler leads (held the leadership through the step).
        public var isLeader: Bool
        /// Slots fired (jobs enqueued) and slots recorded as skipped.
        public var fired: Int
        public var skipped: Int
        /// When to step next: the next fire, or the next renewal or attempt at the leadership.
        public var wait: Duration
    }

    public let store: any ScheduleStore & BatchStore
    public let configuration: Configuration

    private struct State {
        var leadership: Leadership?
        var stopped = false
        var steps = 0
    }
    private let state = Mutex(State())
    private let wake = AsyncSignal()
    private let calls = Atomic<Int>(0)

    /// Store calls this scheduler has made (leadership, due reads, fires, reschedules, batch
    /// reads): what it costs the store, which the benchmark reports per second when idle.
    public var storeCalls: Int { calls.load(ordering: .relaxed) }
    private func called() { calls.add(1, ordering: .relaxed) }

    public init(store: any ScheduleStore & BatchStore, configuration: Configuration = .init()) {
        self.store = store
        self.configuration = configuration
    }

    /// A holder name unique to this process: host, process id and a random suffix.
    public static func defaultHolder() -> String {
        "\(ProcessInfo.processInfo.hostName)-\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max))"
    }

    /// The leadership as this scheduler last held it (`nil` while standing by).
    public var leadership: Leadership? { state.withLock { $0.leadership } }

    /// Wakes the scheduler to read the store now (a schedule of this process changed).
    public func schedulesChanged() { wake.notify() }

    /// Stops ``run()``: it gives the leadership up, so a standby takes over at once.
    public func stop() {
        state.withLock { $0.stopped = true }
        wake.notify()
    }

    public func run() async throws {
        await withGracefulShutdownHandler {
            while !state.withLock({ $0.stopped }), !Task.isCancelled {
                let generation = wake.generation
                let wait: Duration
                do {
                    wait = try await step().wait
                } catch {
                    configuration.logger.warning("scheduler step failed; trying again", metadata: ["error": "\(error)"])
                    state.withLock { $0.leadership = nil }
                    wait = min(configuration.lease / 2, .seconds(1))
                }
                await wake.wait(after: generation, timeout: wait)
            }
        } onGracefulShutdown: {
            self.stop()
        }
        if let leadership = state.withLock({ state in defer { state.leadership = nil }; return state.leadership }) {
            called()
            try? await store.releaseLeadership(leadership)
        }
    }

    /// One round: takes or renews the leadership and, while leading, fires everything due.
    /// ``run()`` calls it in a loop; tests call it to drive schedulers by a manual clock.
    public func step() async throws -> Step {
        called()
        guard var leadership = try await store.acquireLeadership(configuration.leadershipName, holder: configuration.holder,
                                                                 ttl: configuration.lease) else {
            if state.withLock({ $0.leadership != nil }) {
                configuration.logger.notice("scheduler lost the leadership", metadata: ["holder": "\(configuration.holder)"])
            }
            state.withLock { $0.leadership = nil }
            return Step(isLeader: false, fired: 0, skipped: 0, wait: configuration.lease / 2)
        }
        if state.withLock({ $0.leadership?.token != leadership.token }) {
            configuration.logger.info("scheduler leads", metadata: ["holder": "\(configuration.holder)", "token": "\(leadership.token)"])
        }
        state.withLock { $0.leadership = leadership }
        var step = Step(isLeader: true, fired: 0, skipped: 0, wait: configuration.lease / 3)
        for pass in 0..<50 {
            if pass > 0 {
                // A long round renews as it goes, so its fires never outlive the lease.
                called()
                guard let renewed = try await store.acquireLeadership(configuration.leadershipName, holder: configuration.holder,
                                                                      ttl: configuration.lease) else {
                    state.withLock { $0.leadership = nil }
                    step.isLeader = false
                    return step
                }
                leadership = renewed
            }
            called()
            let due = try await store.dueSchedules(limit: configuration.batchSize)
            let plan = try await plan(due)
            do {
                for chunk in plan.fires.chunks(ofCount: configuration.batchSize) {
                    called()
                    let results = try await store.fire(Array(chunk), as: leadership)
                    for (fire, result) in zip(chunk, results) {
                        guard case .fired = result else { continue }
                        if fire.outcome == .skipped || fire.outcome == .circuitOpen { step.skipped += 1 } else { step.fired += 1 }
                    }
                }
                if !plan.reschedules.isEmpty {
                    called()
                    _ = try await store.reschedule(plan.reschedules, as: leadership)
                }
            } catch ConveyorError.notLeader {
                state.withLock { $0.leadership = nil }
                step.isLeader = false
                step.wait = configuration.lease / 2
                return step
            }
            if due.schedules.count < configuration.batchSize {
                let next = ([due.nextFire] + plan.nextFires).compactMap { $0 }.min()
                if let next {
                    let untilNext = Duration.seconds(max(0, next.timeIntervalSince(due.now)))
                    step.wait = min(step.wait, untilNext)
                }
                return step
            }
        }
        step.wait = .zero
        return step
    }

    private struct Plan {
        var fires: [ScheduleFire] = []
        var reschedules: [ScheduleReschedule] = []
        var nextFires: [Date] = []
    }

    /// The keys whose circuits hold their jobs back now, among those every job of a due
    /// schedule carries (one read per round, on stores that keep circuits).
    private func heldKeys(_ due: DueSchedules) async throws -> Set<String> {
        guard let circuits = store as? any FlowControlStore else { return [] }
        let keys = Set(due.schedules.flatMap { $0.schedule.target.sharedLimitKeys })
        guard !keys.isEmpty else { return [] }
        called()
        return Set(try await circuits.circuitStates(keys.sorted()).filter { $0.holdsJobs(at: due.now) }.map(\.key))
    }

    /// The fires and new next-fire times for what is due, by the store's time `due.now`.
    private func plan(_ due: DueSchedules) async throws -> Plan {
        var plan = Plan()
        let held = try await heldKeys(due)
        for stored in due.schedules {
            let schedule = stored.schedule
            let shift = schedule.jitter.map { Recurrence.jitter(for: schedule.name, maximum: $0) } ?? .zero
            let now = due.now.addingTimeInterval(-shift.seconds)
            let slots = schedule.slotsToFire(lastFired: stored.lastSlot, storedAt: stored.createdAt, now: now,
                                             tolerance: configuration.tolerance)
            let floor = max(slots.last ?? stored.lastSlot ?? stored.createdAt, stored.createdAt, now)
            let nextFire = schedule.paused ? nil : schedule.recurrence.nextSlot(after: floor).map { Self.roundedUp(schedule.fireTime(for: $0)) }
            if let nextFire { plan.nextFires.append(nextFire) }
            guard !slots.isEmpty else {
                if nextFire != stored.nextFire {
                    plan.reschedules.append(ScheduleReschedule(schedule: schedule.name, version: stored.version, nextFire: nextFire))
                }
                continue
            }
            // A source check whose circuit is open records its slots and fires nothing (the
            // previous fire's batch stays the one overlap looks at).
            if schedule.target.sharedLimitKeys.contains(where: held.contains) {
                for slot in slots {
                    var fire = ScheduleFire(schedule: schedule.name, slot: slot, jobs: [], outcome: .circuitOpen,
                                            batchID: stored.lastFire?.batchID)
                    fire.version = stored.version
                    fire.nextFire = nextFire
                    plan.fires.append(fire)
                }
                continue
            }
            // The previous fire's batch, and whether it is unfinished or itself still waiting.
            var previous = stored.lastFire?.batchID
            var previousState = schedule.overlap == .allow ? BatchProgress.finished : try await progress(of: previous)
            for slot in slots {
                var fire: ScheduleFire
                switch (schedule.overlap, previousState) {
                case (.allow, _), (_, .finished):
                    fire = schedule.fire(for: slot)
                    previousState = .running
                case (.skip, _), (.queueOne, .waiting):
                    fire = ScheduleFire(schedule: schedule.name, slot: slot, jobs: [], outcome: .skipped, batchID: previous)
                case (.queueOne, .running):
                    fire = schedule.fire(for: slot, after: previous, outcome: .queued)
                    previousState = .waiting
                }
                if fire.outcome != .skipped { previous = fire.batchID }
                fire.version = stored.version
                fire.nextFire = nextFire
                plan.fires.append(fire)
            }
        }
        return plan
    }

    private enum BatchProgress { case finished, running, waiting }

    /// Whether a previous fire's batch is still unfinished: one that retention removed, or
    /// that never existed, is finished.
    private func progress(of batch: String?) async throws -> BatchProgress {
        guard let batch else { return .finished }
        called()
        guard let found = try await store.batch(batch), !found.isFinished, found.total > 0 else { return .finished }
        return found[.waiting] > 0 ? .waiting : .running
    }

    /// Next-fire times go to the store in whole milliseconds, rounded up, so a scheduler woken
    /// at one never finds its slot a fraction early.
    static func roundedUp(_ date: Date) -> Date {
        Date(timeIntervalSince1970: (date.timeIntervalSince1970 * 1000).rounded(.up) / 1000)
    }
}

extension ScheduleStore {
    /// Changes the stored schedule `name` with `change`: read, changed, and written only over
    /// the version read (tried again when another writer came in between). Throws
    /// ``ConveyorError/scheduleNotFound(_:)`` when there is none.
    @discardableResult
    public func updateSchedule(_ name: String, _ change: (inout Schedule) -> Void) async throws -> StoredSchedule {
        for _ in 0..<10 {
            guard let current = try await schedule(named: name) else { throw ConveyorError.scheduleNotFound(name) }
            var schedule = current.schedule
            change(&schedule)
            if let saved = try await saveSchedule(schedule, if: .version(current.version)) { return saved }
        }
        throw ConveyorError.storeFailure("schedule '\(name)' kept changing while it was being updated; try again")
    }

    /// Fires the stored schedule `name` now, outside its slots (`conveyor schedule run-now`):
    /// its jobs are enqueued and its history records a `ran-now` fire. Returns what was
    /// enqueued, or throws ``ConveyorError/scheduleNotFound(_:)`` when there is no such schedule.
    @discardableResult
    public func runScheduleNow(_ name: String) async throws -> [EnqueueResult] {
        for _ in 0..<5 {
            guard let stored = try await schedule(named: name) else { throw ConveyorError.scheduleNotFound(name) }
            var fire = stored.schedule.fireNow(at: Date())
            fire.version = stored.version
            if case .fired(let made) = try await fireNow(fire) { return made }
        }
        throw ConveyorError.storeFailure("schedule '\(name)' kept changing while it was being run; try again")
    }
}
