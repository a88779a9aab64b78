import Foundation
import Synchronization

/// One fire of a schedule: the slot it is for, the jobs it enqueues, and what the store
/// writes about the schedule in the same atomic step.
public struct ScheduleFire: Sendable, Hashable {
    /// The schedule's name.
    public var schedule: String
    /// The slot: the instant the schedule was due (a cron or interval time). A run-now fire's
    /// slot is the store's time when it fires; this one is ignored.
    public var slot: Date
    public var jobs: [NewJob]
    /// The version of the stored schedule this fire was computed from: the fire is refused
    /// (``FireResult/outdated(version:)``) if the schedule changed or went away since. `nil`
    /// fires without looking at a stored definition.
    public var version: Int?
    /// When the stored schedule is due next, written with the fire (`nil`: not indexed).
    /// Ignored without a `version`, and by run-now fires.
    public var nextFire: Date?
    /// What the fire history records.
    public var outcome: ScheduleFireRecord.Outcome
    /// The batch the history names: the fire's own (its jobs' batch), or for a skipped slot
    /// the unfinished one it gave way to.
    public var batchID: String?

    public init(
        schedule: String, slot: Date, jobs: [NewJob], version: Int? = nil, nextFire: Date? = nil,
        outcome: ScheduleFireRecord.Outcome = .fired, batchID: String? = nil
    ) {
        self.schedule = schedule
        self.slot = slot
        self.jobs = jobs
        self.version = version
        self.nextFire = nextFire
        self.outcome = outcome
        self.batchID = batchID ?? jobs.first?.batchID
    }
}

/// What ``ScheduleStore/fire(_:as:)`` did with one fire.
public enum FireResult: Sendable, Hashable {
    /// The slot was recorded and its jobs enqueued, in the same atomic step.
    case fired([EnqueueResult])
    /// The schedule had already fired for this slot or a later one (recorded then); nothing
    /// was enqueued.
    case alreadyFired(lastSlot: Date)
    /// The stored schedule is not the version the fire was computed from (it was changed,
    /// paused or removed since: `version` is its version now, `nil` when it is gone); nothing
    /// was enqueued or recorded.
    case outdated(version: Int?)
}

/// A schedule as the store holds it, with what the store recorded about its fires.
public struct StoredSchedule: Sendable, Hashable {
    public var schedule: Schedule
    /// Every write of a definition takes the next number of one sequence for the whole store,
    /// so a version is never seen twice, even across a remove and a new schedule of the same
    /// name: a compare-and-set over a version read before cannot succeed by accident.
    public var version: Int
    /// When the schedule was first stored: no slot before it fires.
    public var createdAt: Date
    public var updatedAt: Date
    /// The latest slot recorded for it (fired or skipped).
    public var lastSlot: Date?
    /// When the scheduler looks at it next, by the store's clock (`nil`: paused or on demand).
    public var nextFire: Date?
    /// The latest entry of its fire history.
    public var lastFire: ScheduleFireRecord?

    public init(
        schedule: Schedule, version: Int, createdAt: Date, updatedAt: Date, lastSlot: Date? = nil, nextFire: Date? = nil,
        lastFire: ScheduleFireRecord? = nil
    ) {
        self.schedule = schedule
        self.version = version
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.lastSlot = lastSlot
        self.nextFire = nextFire
        self.lastFire = lastFire
    }
}

/// One entry of a schedule's fire history.
public struct ScheduleFireRecord: Sendable, Hashable {
    public enum Outcome: String, Sendable, Hashable, CaseIterable {
        /// Its jobs were enqueued.
        case fired
        /// The slot was recorded with no job: the previous fire was unfinished (overlap `skip`).
        case skipped
        /// Its jobs were enqueued to start once the previous fire has finished (overlap `queue one`).
        case queued
        /// Fired by hand (`run-now`), outside the slots.
        case ranNow = "ran-now"
        /// The slot was recorded with no job: a circuit breaker holds back a key every job of
        /// the fire carries (a source whose checks failed too often), so its checks stop until
        /// the cool-down sends a probe, or the circuit is closed or reset by hand.
        case circuitOpen = "circuit-open"
    }

    public var slot: Date
    /// The store's time of the fire.
    public var firedAt: Date
    public var outcome: Outcome
    /// The first job the fire enqueued (`nil` when none).
    public var firstJob: JobID?
    /// The fire's batch, when it enqueued one; for a skipped slot, the unfinished batch it
    /// gave way to; for a circuit-open slot, the previous fire's.
    public var batchID: String?
    public var jobCount: Int

    public init(slot: Date, firedAt: Date, outcome: Outcome, firstJob: JobID?, batchID: String?, jobCount: Int) {
        self.slot = slot
        self.firedAt = firedAt
        self.outcome = outcome
        self.firstJob = firstJob
        self.batchID = batchID
        self.jobCount = jobCount
    }

    /// Fire history kept per schedule: the newest entries, older ones dropped as new ones come.
    public static let historyLimit = 100

    /// The record of `fire` as the store writes it.
    public static func of(_ fire: ScheduleFire, slot: Date, firedAt: Date, results: [EnqueueResult]) -> ScheduleFireRecord {
        ScheduleFireRecord(slot: slot, firedAt: firedAt, outcome: fire.outcome, firstJob: results.first?.id,
                           batchID: fire.batchID, jobCount: fire.jobs.count)
    }
}

/// What is due now, for the scheduler: read in one store call, on the store's clock.
public struct DueSchedules: Sendable, Hashable {
    /// The store's time when it read them.
    public var now: Date
    /// Schedules whose next fire is at or before `now`, earliest first, at most the limit asked.
    public var schedules: [StoredSchedule]
    /// The earliest next fire of the schedules not returned (at or before `now` when more are
    /// due than the limit); `nil` when no other schedule is indexed.
    public var nextFire: Date?

    public init(now: Date, schedules: [StoredSchedule], nextFire: Date?) {
        self.now = now
        self.schedules = schedules
        self.nextFire = nextFire
    }
}

/// A new next-fire time for a stored schedule, written only over the version it was computed
/// from (a scheduler found nothing to fire, or a slot it must wait for).
public struct ScheduleReschedule: Sendable, Hashable {
    public var schedule: String
    public var version: Int
    public var nextFire: Date?

    public init(schedule: String, version: Int, nextFire: Date?) {
        self.schedule = schedule
        self.version = version
        self.nextFire = nextFire
    }
}

/// The condition a write of a stored definition checks first.
public enum WriteCondition: Sendable, Hashable {
    /// Write whatever is stored.
    case always
    /// Only when nothing is stored under the name.
    case absent
    /// Only over this version.
    case version(Int)

    /// Whether a write may go over what is stored now (`current`: its version, `nil` when
    /// nothing is stored under the name).
    public func admits(_ current: Int?) -> Bool {
        switch self {
        case .always: true
        case .absent: current == nil
        case .version(let version): current == version
        }
    }
}

/// Stores that keep schedules and fire them exactly once per slot, on any number of machines.
public protocol ScheduleStore: JobQueueStore & Coordination {
    /// For each fire, in one atomic store step: if `leadership` still holds (its token is the
    /// current one and its lease runs), the stored schedule is still the fire's `version` (when
    /// given), and the schedule's last recorded slot is older than the fire's slot: enqueue its
    /// jobs, record the slot, move the schedule's next fire, and add the fire to its history.
    /// The record of a slot outlives the jobs' retention and the schedule itself, so a purged
    /// job never fires again. Throws ``ConveyorError/notLeader(_:)`` (and fires nothing) when
    /// the leadership was lost.
    func fire(_ fires: [ScheduleFire], as leadership: Leadership) async throws -> [FireResult]

    /// Fires by hand, outside the slots and without leadership: enqueues the jobs and adds a
    /// `ran-now` entry (at the store's time) to the history, if the stored schedule is still
    /// the fire's `version` (when given). Neither the last slot nor the next fire moves.
    func fireNow(_ fire: ScheduleFire) async throws -> FireResult

    /// The last slot recorded for `schedule`, if it ever fired.
    func lastFiredSlot(_ schedule: String) async throws -> Date?

    /// Stores `schedule` under its name if `condition` holds, due at once for a scheduler to
    /// work out its next slot (not indexed while paused or on demand). An update keeps the
    /// creation time and the fire record. Returns what was stored, `nil` when the condition
    /// did not hold.
    func saveSchedule(_ schedule: Schedule, if condition: WriteCondition) async throws -> StoredSchedule?

    func schedule(named name: String) async throws -> StoredSchedule?

    /// Stored schedules in name order, after `name` (from the first when `nil`), at most `limit`.
    func schedules(after name: String?, limit: Int) async throws -> [StoredSchedule]

    /// Removes the schedule and its history if `condition` holds; its slot record stays. Returns
    /// whether it removed one.
    func removeSchedule(named name: String, if condition: WriteCondition) async throws -> Bool

    /// Schedules due now by their next fire, at most `limit`, read through an index: the cost
    /// does not grow with the schedules that are not due.
    func dueSchedules(limit: Int) async throws -> DueSchedules

    /// Writes each change's next fire if `leadership` holds and the schedule is still the
    /// change's version. Returns, per change, whether it was written.
    func reschedule(_ changes: [ScheduleReschedule], as leadership: Leadership) async throws -> [Bool]

    /// The schedule's fire history, newest first, at most `limit` (and at most
    /// ``ScheduleFireRecord/historyLimit`` are kept).
    func fireHistory(of schedule: String, limit: Int) async throws -> [ScheduleFireRecord]
}

extension ScheduleStore {
    /// Every stored schedule, a page at a time.
    public func allSchedules(pageSize: Int = 500) async throws -> [StoredSchedule] {
        var all: [StoredSchedule] = []
        var after: String?
        while true {
            let page = try await schedules(after: after, limit: pageSize)
            all += page
            guard page.count == pageSize, let last = page.last else { return all }
            after = last.schedule.name
        }
    }
}

extension Schedule {
    /// Whether a scheduler indexes it by next fire: not while paused, and not on demand.
    public var isIndexed: Bool {
        if paused { return false }
        if case .manual = recurrence.rule { return false }
        return true
    }

    /// The definition as stores keep it (JSON, keys sorted).
    public func encodedDefinition() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(self)
    }

    /// A definition stores read back; a record that cannot be read names the schedule.
    /// Definitions decoded before come from a cache keyed by their bytes: a scheduler reads
    /// the same definitions round after round, and decoding JSON costs far more than hashing it.
    public static func decodeDefinition(_ data: Data, name: String) throws -> Schedule {
        if let known = decodedDefinitions.withLock({ $0[data] }) { return known }
        let schedule: Schedule
        do {
            schedule = try JSONDecoder().decode(Schedule.self, from: data)
        } catch {
            throw ConveyorError.storeFailure("the stored definition of schedule '\(name)' cannot be read: \(error)")
        }
        decodedDefinitions.withLock { cache in
            if cache.count >= 20_000 { cache.removeAll(keepingCapacity: true) }
            cache[data] = schedule
        }
        return schedule
    }

    private static let decodedDefinitions = Mutex<[Data: Schedule]>([:])
}
