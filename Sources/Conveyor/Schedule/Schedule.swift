import Foundation

/// A schedule as the store keeps it: when it fires (a ``Recurrence``), what each fire enqueues
/// (one job, or a batch of them), and what to do with slots missed while no scheduler ran and
/// with a fire whose previous job is still unfinished.
///
/// ```swift
/// let weekly = Schedule(
///     name: "tradestat-weekly",
///     recurrence: try .calendar("weekly on monday at 02:00", timeZone: "Asia/Kolkata"),
///     target: .batch(name: "weekly re-run", jobs: codes.map { try JobTemplate(ExportHSN(hsn: $0)) }),
///     missed: .once)
/// ```
public struct Schedule: Sendable, Hashable, Codable {
    /// Unique in the store; names its slots' record, so renaming a schedule starts it afresh.
    public var name: String
    public var recurrence: Recurrence
    public var target: Target
    public var missed: MissedSlots
    public var overlap: Overlap
    /// Each fire waits this schedule's own fixed share of it (``Recurrence/jitter(for:maximum:)``),
    /// so a thousand schedules that share a minute do not all enqueue at once.
    public var jitter: Duration?
    /// A paused schedule keeps its definition and history and fires nothing; once resumed, the
    /// slots that passed meanwhile are missed slots, handled as ``missed`` says.
    public var paused: Bool

    public init(
        name: String, recurrence: Recurrence, target: Target, missed: MissedSlots = .skip, overlap: Overlap = .allow,
        jitter: Duration? = nil, paused: Bool = false
    ) {
        self.name = name
        self.recurrence = recurrence
        self.target = target
        self.missed = missed
        self.overlap = overlap
        self.jitter = jitter
        self.paused = paused
    }

    /// What a fire enqueues.
    public enum Target: Sendable, Hashable, Codable {
        /// One job.
        case job(JobTemplate)
        /// One batch of jobs (seed 000's weekly re-run of 11,000 codes is one fire), named for
        /// listings; each fire's batch id is the schedule's name and the slot.
        case batch(name: String?, jobs: [JobTemplate])

        /// The limit keys every job of the fire carries: a circuit holding one of them back
        /// stops the schedule's fires (a source check).
        public var sharedLimitKeys: [String] {
            guard let first = jobs.first else { return [] }
            return first.limitKeys.filter { key in jobs.allSatisfy { $0.limitKeys.contains(key) } }
        }

        public var jobs: [JobTemplate] {
            switch self {
            case .job(let job): [job]
            case .batch(_, let jobs): jobs
            }
        }
    }

    /// Slots that passed while no scheduler could fire them (every process down, the schedule
    /// paused). A slot is missed when it is more than the scheduler's tolerance in the past.
    public enum MissedSlots: Sendable, Hashable, Codable {
        /// Fire none of them: the next slot is the next one to come.
        case skip
        /// Fire once for all of them, for the latest.
        case once
        /// Fire each of them, oldest first: at most the latest `limit`, and only those within
        /// `within` of now when given.
        case catchUp(limit: Int, within: Duration?)
    }

    /// A slot that comes while the previous fire's job (or one of its batch) is unfinished.
    public enum Overlap: Sendable, Hashable, Codable {
        /// Fire anyway.
        case allow
        /// Record the slot as skipped and enqueue nothing.
        case skip
        /// Enqueue it to start once the previous fire's job has finished, at most one waiting.
        case queueOne
    }

    /// Checks what can be checked before the schedule is stored: a name, jobs to enqueue,
    /// sane policies, and (given the job names workers run) that every job is known, so a
    /// schedule for an unknown job is refused when it is added, not at its first fire.
    public func validate(knownJobNames: Set<String>? = nil) throws(ScheduleDefinitionError) {
        guard !name.isEmpty, !name.contains(where: { $0.isNewline || $0 == "\0" }) else {
            throw .init(schedule: name, reason: "its name must be non-empty, on one line")
        }
        let jobs = target.jobs
        guard !jobs.isEmpty else { throw .init(schedule: name, reason: "it enqueues no job") }
        if let knownJobNames {
            for job in jobs where !knownJobNames.contains(job.name) {
                throw .init(schedule: name, reason: "its job '\(job.name)' is not a registered job type"
                    + (knownJobNames.isEmpty ? "" : " (registered: \(knownJobNames.sorted().joined(separator: ", ")))"))
            }
        }
        if case .catchUp(let limit, let within) = missed {
            guard limit >= 1 else { throw .init(schedule: name, reason: "catch up needs a limit of at least 1 slot, not \(limit)") }
            if let within, within <= .zero { throw .init(schedule: name, reason: "catch up within \(within) is not a positive window") }
        }
        if let jitter, jitter < .zero { throw .init(schedule: name, reason: "its jitter \(jitter) is negative") }
        if case .manual = recurrence.rule, missed != .skip {
            throw .init(schedule: name, reason: "an on-demand schedule has no slots to miss; leave missed at skip")
        }
    }

    /// The slots to fire now, oldest first, given the last slot fired (`nil`: never), when the
    /// schedule was stored (no slot before it fires), and how late a slot may be and still be
    /// on time (the scheduler's wake-up lag).
    public func slotsToFire(lastFired: Date?, storedAt: Date, now: Date, tolerance: Duration) -> [Date] {
        guard !paused else { return [] }
        // Slots strictly after the later of the last fire and the moment it was stored.
        let floor = max(lastFired ?? storedAt, storedAt)
        guard let latest = recurrence.lastSlot(atOrBefore: now), latest > floor else { return [] }
        let onTime = now.timeIntervalSince(latest) <= tolerance.seconds
        switch missed {
        case .skip:
            return onTime ? [latest] : []
        case .once:
            return [latest]
        case .catchUp(let limit, let within):
            let earliest = within.map { now.addingTimeInterval(-$0.seconds) }
            var slots: [Date] = []
            var cursor = now
            while slots.count < max(1, limit), let slot = recurrence.lastSlot(atOrBefore: cursor), slot > floor {
                if let earliest, slot < earliest { break }
                slots.append(slot)
                cursor = slot.addingTimeInterval(-1)
            }
            return slots.reversed()
        }
    }

    /// The slot a scheduler that fired up to `lastFired` waits for next (`nil`: none, an
    /// on-demand or paused schedule).
    public func nextSlot(lastFired: Date?, storedAt: Date) -> Date? {
        guard !paused else { return nil }
        return recurrence.nextSlot(after: max(lastFired ?? storedAt, storedAt))
    }

    /// When the fire for `slot` enqueues its jobs: the slot plus this schedule's jitter.
    public func fireTime(for slot: Date) -> Date {
        guard let jitter else { return slot }
        return slot.addingTimeInterval(Recurrence.jitter(for: name, maximum: jitter).seconds)
    }
}

/// A job a schedule enqueues at each fire: a ``NewJob`` without what belongs to one enqueue.
public struct JobTemplate: Sendable, Hashable, Codable {
    public var name: String
    public var queue: String
    public var payload: Data
    public var priority: Priority
    public var maxAttempts: Int
    /// Per attempt, in whole milliseconds when stored.
    public var timeout: Duration
    public var headers: [String: String]
    /// The limit keys each fired job counts against.
    public var limitKeys: [String]

    public init(
        name: String, queue: String = "default", payload: Data = Data("{}".utf8), priority: Priority = .normal,
        maxAttempts: Int = RetryPolicy.default.maxAttempts, timeout: Duration = .seconds(300), headers: [String: String] = [:],
        limitKeys: [String] = []
    ) {
        self.name = name
        self.queue = queue
        self.payload = payload
        self.priority = priority
        self.maxAttempts = max(1, maxAttempts)
        self.timeout = timeout
        self.headers = headers
        self.limitKeys = limitKeys
    }

    /// The template of a typed job, with its type's defaults and limit keys.
    public init<J: Job>(_ job: J) throws {
        self.init(name: J.name, queue: J.queue, payload: try JSONEncoder().encode(job), priority: J.priority,
                  maxAttempts: J.retryPolicy.maxAttempts, timeout: J.timeout, limitKeys: job.limitKeys)
    }

    /// Definitions stored before limit keys existed have none.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            name: try container.decode(String.self, forKey: .name), queue: try container.decode(String.self, forKey: .queue),
            payload: try container.decode(Data.self, forKey: .payload), priority: try container.decode(Priority.self, forKey: .priority),
            maxAttempts: try container.decode(Int.self, forKey: .maxAttempts), timeout: try container.decode(Duration.self, forKey: .timeout),
            headers: try container.decode([String: String].self, forKey: .headers),
            limitKeys: try container.decodeIfPresent([String].self, forKey: .limitKeys) ?? [])
    }

    /// The job one fire enqueues, its headers naming the schedule and the slot.
    public func newJob(schedule: String, slot: Date, batchID: String? = nil) -> NewJob {
        var headers = self.headers
        headers[Self.scheduleHeader] = schedule
        headers[Self.slotHeader] = String(Int64(slot.timeIntervalSince1970.rounded(.down)))
        return NewJob(name: name, queue: queue, payload: payload, priority: priority, maxAttempts: maxAttempts,
                      timeout: timeout, batchID: batchID, headers: headers, limitKeys: limitKeys)
    }

    /// The header that names the schedule a job was fired by.
    public static let scheduleHeader = "conveyor-schedule"
    /// The header that holds the slot (seconds since 1970) a job was fired for.
    public static let slotHeader = "conveyor-slot"
}

extension Schedule {
    /// The fire of `slot` for ``ScheduleStore/fire(_:as:)``. A batch target's jobs, and the job
    /// of a schedule with an overlap policy (so the next slot can see whether it finished),
    /// go in one batch whose id is `name@slot`; with `after`, they wait for that batch (the
    /// previous fire) to finish first (overlap ``Overlap/queueOne``).
    public func fire(for slot: Date, after previous: String? = nil, outcome: ScheduleFireRecord.Outcome = .fired) -> ScheduleFire {
        let batch = fireBatch("\(Int64(slot.timeIntervalSince1970.rounded(.down)))")
        return ScheduleFire(schedule: name, slot: slot, jobs: target.jobs.map {
            var job = $0.newJob(schedule: name, slot: slot, batchID: batch)
            if let previous { job.dependsOn = .batch(previous, .allFinished) }
            return job
        }, outcome: outcome)
    }

    /// The batch of a fire, `name@suffix`: a batch target's, or one job's when an overlap
    /// policy must see whether it finished; `nil` for a job that fires regardless.
    private func fireBatch(_ suffix: String) -> String? {
        if case .job = target, overlap == .allow { return nil }
        return "\(name)@\(suffix)"
    }

    /// A fire by hand, outside the slots (`run-now`): its batch, when it has one, is named
    /// `name@now-` and a unique suffix.
    public func fireNow(at instant: Date) -> ScheduleFire {
        let batch = fireBatch("now-\(UUID().uuidString.prefix(8).lowercased())")
        return ScheduleFire(schedule: name, slot: instant, jobs: target.jobs.map { $0.newJob(schedule: name, slot: instant, batchID: batch) },
                            outcome: .ranNow)
    }
}

/// A schedule that cannot be stored as written, and why.
public struct ScheduleDefinitionError: Error, Hashable, Sendable, CustomStringConvertible {
    public var schedule: String
    public var reason: String

    public var description: String { "schedule '\(schedule)' is invalid: \(reason)" }
}
