import Foundation

/// Stored schedules from Swift, as `conveyor schedule` manages them on the command line.
///
/// ```swift
/// let client = JobClient(backend: store)
/// try await client.addSchedule(Schedule(
///     name: "osm-monthly", recurrence: try .calendar("monthly on day 1", timeZone: "UTC"),
///     target: .job(try JobTemplate(CheckSource(source: "osm")))))
/// try await client.pauseSchedule("osm-monthly")
/// let jobs = try await client.runScheduleNow("osm-monthly")
/// ```
/// The store must be a ``ScheduleStore``; any other is named in a ``ConveyorError/unsupported(store:capability:neededBy:)``.
extension JobClient {
    var scheduleStore: any ScheduleStore {
        get throws { try backend.require((any ScheduleStore).self, neededBy: "stored schedules") }
    }

    /// Stores `schedule`; a schedule of that name already stored is replaced only with
    /// `replace` (its slot record and history stay either way). With `knownJobNames`, a
    /// schedule naming another job is refused before it is stored.
    @discardableResult
    public func addSchedule(_ schedule: Schedule, replace: Bool = false, knownJobNames: Set<String>? = nil) async throws -> StoredSchedule {
        try schedule.validate(knownJobNames: knownJobNames)
        guard let saved = try await scheduleStore.saveSchedule(schedule, if: replace ? .always : .absent) else {
            throw ScheduleDefinitionError(schedule: schedule.name, reason: "a schedule of this name is stored already (pass replace: true to change it)")
        }
        return saved
    }

    /// Changes the stored schedule `name` (read, changed, written only if nobody wrote it in between).
    @discardableResult
    public func updateSchedule(_ name: String, _ change: (inout Schedule) -> Void) async throws -> StoredSchedule {
        try await scheduleStore.updateSchedule(name, change)
    }

    @discardableResult
    public func pauseSchedule(_ name: String) async throws -> StoredSchedule {
        try await updateSchedule(name) { $0.paused = true }
    }

    /// Slots that passed while it was paused are missed slots, handled by its missed-slot policy.
    @discardableResult
    public func resumeSchedule(_ name: String) async throws -> StoredSchedule {
        try await updateSchedule(name) { $0.paused = false }
    }

    /// Removes the schedule; its slot record stays, so storing it again never re-fires a slot.
    /// Returns whether there was one.
    @discardableResult
    public func removeSchedule(_ name: String) async throws -> Bool {
        try await scheduleStore.removeSchedule(named: name, if: .always)
    }

    /// Enqueues the schedule's jobs now, outside its slots.
    @discardableResult
    public func runScheduleNow(_ name: String) async throws -> [EnqueueResult] {
        try await scheduleStore.runScheduleNow(name)
    }

    public func schedule(named name: String) async throws -> StoredSchedule? {
        try await scheduleStore.schedule(named: name)
    }

    /// Every stored schedule in name order, read a page at a time.
    public func schedules() async throws -> [StoredSchedule] {
        try await scheduleStore.allSchedules()
    }

    /// The schedule's fires, newest first (at most ``ScheduleFireRecord/historyLimit``).
    public func fireHistory(of name: String, limit: Int = ScheduleFireRecord.historyLimit) async throws -> [ScheduleFireRecord] {
        try await scheduleStore.fireHistory(of: name, limit: limit)
    }
}
