import Conveyor
import ConveyorRedisClient
import Foundation

/// Flow control on Redis: rules, cells and held jobs in the keys of the layout table
/// (`RedisScripts.swift`), enforced by the claim script (`limits.lua`).
extension RedisBackend: FlowControlStore {
    public func setLimit(_ pattern: String, _ settings: LimitSettings) async throws {
        try Self.validateRule(pattern, settings)
        _ = try await run(RedisScripts.setLimit, "set limit \(pattern)", [clockOffset, .string(pattern), .string(settings.storedForm)])
        workSignal.notify()
    }

    @discardableResult
    public func removeLimit(_ pattern: String) async throws -> Bool {
        let reply = try await run(RedisScripts.setLimit, "remove limit \(pattern)", [clockOffset, .string(pattern), ""])
        workSignal.notify()
        return reply.int == 1
    }

    public func limitRules() async throws -> [LimitRule] {
        let reply = try await run(RedisScripts.limitStates, "read limit rules", [clockOffset])
        guard let values = reply.array, values.count % 3 == 1 else { throw unexpected("read limit rules", reply) }
        var rules: [LimitRule] = []
        var index = 1
        while index + 2 < values.count {
            guard let pattern = values[index].string, let stored = values[index + 1].string,
                  let updated = values[index + 2].string.flatMap({ date(micros: $0) })
            else { throw unexpected("read limit rules", reply) }
            rules.append(LimitRule(pattern: pattern, settings: try LimitSettings(storedForm: stored), updatedAt: updated))
            index += 3
        }
        return rules.sorted { $0.pattern < $1.pattern }
    }

    public func limitStates(_ keys: [String]) async throws -> [LimitKeyState] {
        guard !keys.isEmpty else { return [] }
        let reply = try await run(RedisScripts.limitStates, "read limit keys", [clockOffset] + keys.map { .string($0) })
        guard let values = reply.array, values.count == 1 + keys.count * 6, let now = values[0].string.flatMap({ Int64($0) }) else {
            throw unexpected("read limit keys", reply)
        }
        return try keys.enumerated().map { offset, key in
            let base = 1 + offset * 6
            let pattern = values[base].string ?? ""
            let stored = values[base + 1].string ?? ""
            let cell = LimiterCell(tat: Int64(values[base + 4].string ?? "") ?? 0, active: Int(values[base + 2].string ?? "") ?? 0,
                                   blockedUntil: Int64(values[base + 5].string ?? "") ?? 0)
            return LimitKeyState(key: key, rule: pattern.isEmpty ? nil : pattern, cell: cell,
                                 settings: stored.isEmpty ? nil : try LimitSettings(storedForm: stored),
                                 waiting: values[base + 3].int ?? 0, now: now)
        }
    }
}
