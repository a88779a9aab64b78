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

    /// Each fire is one script call: the leadership and slot checks, the enqueue and the slot's
    /// record happen in that one atomic step.
    public func fire(_ fires: [ScheduleFire], as leadership: Leadership) async throws -> [FireResult] {
        for fire in fires { try NewJob.validateDependencies(fire.jobs) }
        var results: [FireResult] = []
        for fire in fires {
            let operation = "fire schedule \(fire.schedule)"
            let reply: RESPValue
            do {
                reply = try await run(RedisScripts.fire, operation, [
                    clockOffset, .string(leadership.name), .int(leadership.token), .string(fire.schedule), .string(micros(fire.slot)),
                ] + Self.enqueueArguments(fire.jobs))
            } catch ConveyorError.storeFailure(let message) where message.contains("NOTLEADER") {
                throw ConveyorError.notLeader(leadership.name)
            }
            if let values = reply.array, values.count == 2, values[0].string == "already", let last = values[1].string.flatMap({ date(micros: $0) }) {
                results.append(.alreadyFired(lastSlot: last))
            } else {
                results.append(.fired(try enqueueResults(reply, count: fire.jobs.count, operation)))
            }
        }
        if results.contains(where: { if case .fired(let made) = $0 { !made.isEmpty } else { false } }) { workSignal.notify() }
        return results
    }

    public func lastFiredSlot(_ schedule: String) async throws -> Date? {
        let reply = try await send("read schedule \(schedule)", ["HGET", key("slots"), .string(schedule)])
        return reply.string.flatMap { date(micros: $0) }
    }
}
