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
        guard let values = reply.array, values.count == 1 + keys.count * 8, let now = values[0].string.flatMap({ Int64($0) }) else {
            throw unexpected("read limit keys", reply)
        }
        return try keys.enumerated().map { offset, key in
            let base = 1 + offset * 8
            let pattern = values[base].string ?? ""
            let stored = values[base + 1].string ?? ""
            let cell = LimiterCell(tat: Int64(values[base + 4].string ?? "") ?? 0, active: Int(values[base + 2].string ?? "") ?? 0,
                                   blockedUntil: Int64(values[base + 5].string ?? "") ?? 0,
                                   windowCount: Int(values[base + 6].string ?? "") ?? 0, windowFrees: Int64(values[base + 7].string ?? "") ?? 0)
            return LimitKeyState(key: key, rule: pattern.isEmpty ? nil : pattern, cell: cell,
                                 settings: stored.isEmpty ? nil : try LimitSettings(storedForm: stored),
                                 waiting: values[base + 3].int ?? 0, now: now)
        }
    }
}

extension RedisBackend {
    public func circuitStates(_ keys: [String]) async throws -> [CircuitState] {
        guard !keys.isEmpty else { return [] }
        return try await readCircuits("read circuits", ["keys"] + keys.map { .string($0) })
    }

    public func circuits(after key: String?, limit: Int) async throws -> [CircuitState] {
        try await readCircuits("list circuits", ["after", .string(key ?? ""), .int(max(0, limit))])
    }

    public func circuitHistory(_ key: String, limit: Int) async throws -> [CircuitTransition] {
        let reply = try await run(RedisScripts.circuits, "read circuit history", [clockOffset, "history", .string(key), .int(max(0, limit))])
        guard let values = reply.array, !values.isEmpty else { throw unexpected("read circuit history", reply) }
        return try values.dropFirst().map { value in
            guard let text = value.string else { throw unexpected("read circuit history", reply) }
            return try CircuitTransition(key: key, storedForm: text)
        }
    }

    @discardableResult
    public func changeCircuit(_ key: String, _ action: CircuitAction, reason: String) async throws -> CircuitState {
        if let problem = LimitKey.problem(with: key) { throw ConveyorError.invalidLimit(problem) }
        let reply = try await run(RedisScripts.changeCircuit, "\(action) circuit \(key)",
                                  [clockOffset, .string(key), .string(action.rawValue), .string(reason)])
        guard let values = reply.array, let status = values.first?.string else { throw unexpected("\(action) circuit \(key)", reply) }
        if status == "unknown" { throw Self.unknownCircuit(key, known: values.dropFirst().compactMap(\.string)) }
        workSignal.notify()
        guard let state = try await circuitStates([key]).first else { throw unexpected("read circuit \(key)", reply) }
        return state
    }

    /// Circuits as `circuits.lua` gives them: NOW, then 13 values per key.
    private func readCircuits(_ operation: String, _ arguments: [RESPArgument]) async throws -> [CircuitState] {
        let reply = try await run(RedisScripts.circuits, operation, [clockOffset] + arguments)
        guard let values = reply.array, values.count % 13 == 1, let now = values[0].string.flatMap({ Int64($0) }) else {
            throw unexpected(operation, reply)
        }
        return try stride(from: 1, to: values.count, by: 13).map { base in
            func number(_ offset: Int) throws -> Int64 {
                guard let text = values[base + offset].string, let value = Int64(text) else { throw unexpected(operation, reply) }
                return value
            }
            func real(_ offset: Int) throws -> Double {
                guard let text = values[base + offset].string, let value = Double(text) else { throw unexpected(operation, reply) }
                return value
            }
            guard let key = values[base].string, let pattern = values[base + 1].string, let stored = values[base + 2].string,
                  let phase = CircuitPhase(rawValue: Int(try number(3))), let recent = values[base + 7].string
            else { throw unexpected(operation, reply) }
            let settings = stored.isEmpty ? nil : try LimitSettings(storedForm: stored)
            let cell = LimiterCell(circuit: phase, openUntil: try number(4), probe: try number(5))
            let stats = CircuitStats(failures: Int(try number(6)), recent: recent, sinceClose: Int(try number(8)),
                                     decayedSuccesses: try real(9), decayedTotal: try real(10), decayedAt: try number(11),
                                     changedAt: try number(12))
            return CircuitState(key: key, rule: pattern.isEmpty ? nil : pattern, breaker: settings?.circuit, cell: cell, stats: stats, now: now)
        }
    }
}
