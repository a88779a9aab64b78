import Conveyor
import ConveyorRedisClient
import Foundation

extension RedisBackend: ScheduleStore {
    public func acquireLeadership(_ name: String, holder: String, ttl: Duration) async throws -> Leadership? {
        let reply = try await run(RedisScripts.acquireLeadership, "acquire leadership \(name)", [
            clockOffset, .string(name), .string(holder), .string(String(max(0, ttl.microseconds))),
        ])
        if reply.string == "" { return nil }
        guard let values = reply.array, values.count == 2, let token = values[0].int,
              let expiry = values[1].string.flatMap({ date(micros: $0) })
        else { throw unexpected("acquire leadership \(name)", reply) }
        return Leadership(name: name, holder: holder, token: token, expiresAt: expiry)
    }

    public func releaseLeadership(_ leadership: Leadership) async throws {
        _ = try await run(RedisScripts.releaseLeadership, "release leadership \(leadership.name)", [
            clockOffset, .string(leadership.name), .int(leadership.token),
        ])
    }

    public func record(_ key: String) async throws -> VersionedRecord? {
        let reply = try await send("read record \(key)", ["HMGET", self.key("rec:" + key), "v", "n"])
        guard let values = reply.array, values.count == 2 else { throw unexpected("read record \(key)", reply) }
        guard let value = values[0].data, let version = values[1].int else { return nil }
        return VersionedRecord(key: key, value: value, version: version)
    }

    public func compareAndSet(_ key: String, expectedVersion: Int?, value: Data) async throws -> VersionedRecord? {
        let reply = try await run(RedisScripts.compareAndSet, "compare and set \(key)", [
            clockOffset, .string(key), .string(expectedVersion.map(String.init) ?? ""), RESPArgument(value),
        ])
        guard let text = reply.string else { throw unexpected("compare and set \(key)", reply) }
        if text.isEmpty { return nil }
        guard let version = Int(text) else { throw unexpected("compare and set \(key)", reply) }
        return VersionedRecord(key: key, value: value, version: version)
    }

    /// Each fire is one script call: the leadership, version and slot checks, the enqueue, the
    /// slot's record, the next fire and the history entry happen in that one atomic step.
    ///
    /// Fires of different schedules go out together (pipelined on the shared connections, at
    /// most 32 in flight), so a minute when a thousand schedules are due costs a few round trips
    /// rather than a thousand; the fires of one schedule (caught-up slots) go in slot order.
    public func fire(_ fires: [ScheduleFire], as leadership: Leadership) async throws -> [FireResult] {
        for fire in fires { try NewJob.validateDependencies(fire.jobs) }
        var lanes: [String: [Int]] = [:]
        var order: [String] = []
        for (index, fire) in fires.enumerated() {
            if lanes[fire.schedule] == nil { order.append(fire.schedule) }
            lanes[fire.schedule, default: []].append(index)
        }
        var results = [FireResult?](repeating: nil, count: fires.count)
        try await withThrowingTaskGroup(of: [(Int, FireResult)].self) { group in
            var pending = order[...]
            func startLane() {
                guard let schedule = pending.popFirst(), let indices = lanes[schedule] else { return }
                group.addTask {
                    var done: [(Int, FireResult)] = []
                    for index in indices { done.append((index, try await self.fireOne(fires[index], as: leadership))) }
                    return done
                }
            }
            for _ in 0..<32 { startLane() }
            while let done = try await group.next() {
                for (index, result) in done { results[index] = result }
                startLane()
            }
        }
        let made = results.compactMap { $0 }
        if made.contains(where: { if case .fired(let jobs) = $0 { !jobs.isEmpty } else { false } }) { workSignal.notify() }
        return made
    }

    public func fireNow(_ fire: ScheduleFire) async throws -> FireResult {
        try NewJob.validateDependencies(fire.jobs)
        let result = try await fireOne(fire, as: nil)
        if case .fired(let made) = result, !made.isEmpty { workSignal.notify() }
        return result
    }

    private func fireOne(_ fire: ScheduleFire, as leadership: Leadership?) async throws -> FireResult {
        let operation = "fire schedule \(fire.schedule)"
        // A fire by hand is recorded as one, whatever outcome it carries.
        let outcome = leadership == nil ? ScheduleFireRecord.Outcome.ranNow : fire.outcome
        let reply = try await runFenced(RedisScripts.fire, operation, leadership?.name ?? "", [
            clockOffset, .string(leadership?.name ?? ""), .string(leadership.map { String($0.token) } ?? ""),
            .string(fire.schedule), .string(micros(fire.slot)), .string(fire.version.map(String.init) ?? ""),
            .string(fire.nextFire.map(micros) ?? ""), .string(outcome.rawValue), .string(fire.batchID ?? ""),
        ] + Self.enqueueArguments(fire.jobs))
        if let values = reply.array, values.count == 2, let kind = values[0].string, kind == "already" || kind == "outdated" {
            if kind == "outdated" { return .outdated(version: values[1].string.flatMap { Int($0) }) }
            guard let last = values[1].string.flatMap({ date(micros: $0) }) else { throw unexpected(operation, reply) }
            return .alreadyFired(lastSlot: last)
        }
        return .fired(try enqueueResults(reply, count: fire.jobs.count, operation))
    }

    public func lastFiredSlot(_ schedule: String) async throws -> Date? {
        let reply = try await send("read schedule \(schedule)", ["HGET", key("slots"), .string(schedule)])
        return reply.string.flatMap { date(micros: $0) }
    }

    public func saveSchedule(_ schedule: Schedule, if condition: WriteCondition) async throws -> StoredSchedule? {
        try schedule.validate()
        let operation = "save schedule \(schedule.name)"
        let reply = try await run(RedisScripts.saveSchedule, operation, [
            clockOffset, .string(schedule.name), .string(Self.argument(condition)), RESPArgument(try schedule.encodedDefinition()),
            .string(schedule.isIndexed ? "1" : ""),
        ])
        if reply.string == "" { return nil }
        guard let values = reply.array else { throw unexpected(operation, reply) }
        return try Self.schedules(values[...], operation).first
    }

    public func schedule(named name: String) async throws -> StoredSchedule? {
        try await readSchedules("name", name, limit: 1).schedules.first
    }

    public func schedules(after name: String?, limit: Int) async throws -> [StoredSchedule] {
        try await readSchedules("after", name ?? "", limit: min(max(0, limit), 10_000)).schedules
    }

    public func removeSchedule(named name: String, if condition: WriteCondition) async throws -> Bool {
        if case .absent = condition { return false }
        let reply = try await run(RedisScripts.removeSchedule, "remove schedule \(name)", [
            clockOffset, .string(name), .string(Self.argument(condition)),
        ])
        return reply.int == 1
    }

    public func dueSchedules(limit: Int) async throws -> DueSchedules {
        try await readSchedules("due", "", limit: min(max(0, limit), 10_000))
    }

    public func reschedule(_ changes: [ScheduleReschedule], as leadership: Leadership) async throws -> [Bool] {
        guard !changes.isEmpty else { return [] }
        let operation = "reschedule \(changes.count) schedules"
        var arguments: [RESPArgument] = [clockOffset, .string(leadership.name), .string(String(leadership.token))]
        for change in changes {
            arguments += [.string(change.schedule), .string(String(change.version)), .string(change.nextFire.map(micros) ?? "")]
        }
        let reply = try await runFenced(RedisScripts.reschedule, operation, leadership.name, arguments)
        guard let values = reply.array, values.count == changes.count else { throw unexpected(operation, reply) }
        return values.map { $0.int == 1 }
    }

    public func fireHistory(of schedule: String, limit: Int) async throws -> [ScheduleFireRecord] {
        let limit = min(max(0, limit), ScheduleFireRecord.historyLimit)
        guard limit > 0 else { return [] }
        let operation = "read the fire history of \(schedule)"
        let reply = try await send(operation, ["LRANGE", key("sh:" + schedule), "0", .string(String(limit - 1))])
        guard let values = reply.array else { throw unexpected(operation, reply) }
        return try values.map { value in
            guard let text = value.string, let record = Self.fireRecord(text) else { throw unexpected(operation, reply) }
            return record
        }
    }

    /// Runs a script that checks the leadership `name` first: its NOTLEADER error becomes
    /// ``ConveyorError/notLeader(_:)``.
    private func runFenced(_ script: StoreScript, _ operation: String, _ name: String, _ arguments: [RESPArgument]) async throws -> RESPValue {
        do {
            return try await run(script, operation, arguments)
        } catch ConveyorError.storeFailure(let message) where message.contains("NOTLEADER") {
            throw ConveyorError.notLeader(name)
        }
    }

    // MARK: Reading replies

    private func readSchedules(_ mode: String, _ argument: String, limit: Int) async throws -> DueSchedules {
        let operation = mode == "due" ? "read due schedules" : "read schedules"
        let reply = try await run(RedisScripts.readSchedules, operation, [clockOffset, .string(mode), .string(argument), .string(String(limit))])
        guard let values = reply.array, values.count >= 2, let now = values[0].string.flatMap({ date(micros: $0) }) else {
            throw unexpected(operation, reply)
        }
        return DueSchedules(now: now, schedules: try Self.schedules(values[2...], operation),
                            nextFire: values[1].string.flatMap { date(micros: $0) })
    }

    private static func argument(_ condition: WriteCondition) -> String {
        switch condition {
        case .always: ""
        case .absent: "absent"
        case .version(let version): String(version)
        }
    }

    /// Schedules as schedules.lua writes them: eight values each.
    private static func schedules(_ values: ArraySlice<RESPValue>, _ operation: String) throws -> [StoredSchedule] {
        guard values.count % 8 == 0 else { throw ConveyorError.storeFailure("Redis gave \(values.count) values for schedules during \(operation)") }
        var stored: [StoredSchedule] = []
        var index = values.startIndex
        while index < values.endIndex {
            let fields = values[index..<index + 8].map { $0.string ?? "" }
            let definition = values[index + 1].data
            index += 8
            let name = fields[0]
            guard let definition, let version = Int(fields[2]),
                  let created = date(micros: fields[3]), let updated = date(micros: fields[4])
            else { throw ConveyorError.storeFailure("Redis gave an unreadable record of schedule '\(name)' during \(operation)") }
            stored.append(StoredSchedule(
                schedule: try Schedule.decodeDefinition(definition, name: name), version: version, createdAt: created, updatedAt: updated,
                lastSlot: date(micros: fields[6]), nextFire: date(micros: fields[5]),
                lastFire: fields[7].isEmpty ? nil : fireRecord(fields[7])))
        }
        return stored
    }

    /// A history entry: slot|fired at|outcome|first job|job count|batch.
    private static func fireRecord(_ text: String) -> ScheduleFireRecord? {
        let parts = text.split(separator: "|", maxSplits: 5, omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 6, let slot = date(micros: parts[0]), let firedAt = date(micros: parts[1]),
              let outcome = ScheduleFireRecord.Outcome(rawValue: parts[2]), let count = Int(parts[4])
        else { return nil }
        return ScheduleFireRecord(slot: slot, firedAt: firedAt, outcome: outcome, firstJob: Int64(parts[3]).map { JobID(rawValue: $0) },
                                  batchID: parts[5].isEmpty ? nil : parts[5], jobCount: count)
    }
}
