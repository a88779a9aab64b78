import Conveyor
import Foundation
import GRDB
import GRDBSQLite
import Synchronization

/// Flow control in the store's file. A ready job held back by a limit key is stored with state
/// 8 (``SQLiteSchema/heldState``, read as `ready`) and the key in `parked_on`: it is out of the
/// claim index's range, so claims never look at it again until its key admits and
/// ``LimitLedger/releaseDue(_:now:stepLimit:)`` puts it back in line. Each key's cell
/// (`limit_cells`) holds its rate's theoretical arrival time, its active jobs, the upstream's
/// wait and when its held jobs may go (`wake_at`).
extension SQLiteBackend: FlowControlStore {
    public func setLimit(_ pattern: String, _ settings: LimitSettings) async throws {
        try Self.validateRule(pattern, settings)
        try await write { db, now in
            try db.execute(sql: """
                INSERT INTO limit_rules (pattern, settings, updated_at) VALUES (?, ?, ?)
                ON CONFLICT(pattern) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at
                """, arguments: [pattern, settings.storedForm, now])
            try LimitLedger.rulesChanged(db, now: now)
        }
        announceWork()
    }

    @discardableResult
    public func removeLimit(_ pattern: String) async throws -> Bool {
        let removed = try await write { db, now in
            try db.execute(sql: "DELETE FROM limit_rules WHERE pattern = ?", arguments: [pattern])
            let removed = db.changesCount > 0
            if removed { try LimitLedger.rulesChanged(db, now: now) }
            return removed
        }
        if removed { announceWork() }
        return removed
    }

    public func limitRules() async throws -> [LimitRule] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT pattern, settings, updated_at FROM limit_rules ORDER BY pattern").map { row in
                LimitRule(pattern: row[0], settings: try LimitSettings(storedForm: row[1]), updatedAt: date(micros: row[2]))
            }
        }
    }

    public func limitStates(_ keys: [String]) async throws -> [LimitKeyState] {
        let now = self.now
        let cache = limitRuleCache
        return try await read { db in
            var ledger = LimitLedger(cache: cache, now: now)
            return try keys.map { key in
                let cell = try ledger.cell(key, db)
                let rule = try ledger.rule(for: key, db)
                let waiting = try Int.fetchOne(db, sql: """
                    SELECT count(*) FROM (SELECT 1 FROM jobs WHERE parked_on = ? AND state = \(SQLiteSchema.heldState) LIMIT 100000)
                    """, arguments: [key]) ?? 0
                return LimitKeyState(key: key, rule: rule?.pattern, cell: cell, settings: rule?.settings, waiting: waiting, now: now)
            }
        }
    }
}

extension SQLiteBackend {
    public func circuitStates(_ keys: [String]) async throws -> [CircuitState] {
        let cache = limitRuleCache
        let now = self.now
        return try await read { db in
            var ledger = LimitLedger(cache: cache, now: now)
            return try keys.map { try ledger.circuitState($0, now: now, db) }
        }
    }

    public func circuits(after key: String?, limit: Int) async throws -> [CircuitState] {
        let cache = limitRuleCache
        let now = self.now
        return try await read { db in
            var ledger = LimitLedger(cache: cache, now: now)
            let keys = try String.fetchAll(db, sql: "SELECT key FROM circuits WHERE key > ? ORDER BY key LIMIT ?",
                                           arguments: [key ?? "", max(0, min(limit, 10_000))])
            return try keys.map { try ledger.circuitState($0, now: now, db) }
        }
    }

    public func circuitHistory(_ key: String, limit: Int) async throws -> [CircuitTransition] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT at, from_phase, to_phase, reason FROM circuit_log WHERE key = ? ORDER BY id DESC LIMIT ?",
                             arguments: [key, max(0, min(limit, CircuitTransition.historyLimit))]).map { row in
                CircuitTransition(key: key, at: date(micros: row[0]), from: CircuitPhase(rawValue: row[1]) ?? .closed,
                                  to: CircuitPhase(rawValue: row[2]) ?? .closed, reason: row[3])
            }
        }
    }

    @discardableResult
    public func changeCircuit(_ key: String, _ action: CircuitAction, reason: String) async throws -> CircuitState {
        if let problem = LimitKey.problem(with: key) { throw ConveyorError.invalidLimit(problem) }
        let cache = limitRuleCache
        let state = try await write { db, now in
            var ledger = LimitLedger(cache: cache, now: now)
            try ledger.changeCircuit(key, action, reason: reason, now: now, db)
            try ledger.apply(db, now: now)
            return try ledger.circuitState(key, now: now, db)
        }
        announceWork()
        return state
    }
}

/// Limit rules by key, kept across transactions while the rules table's version holds.
final class LimitRuleCache: Sendable {
    typealias Rule = (pattern: String, settings: LimitSettings)
    private let state = Mutex<(version: Int64, rules: [String: Rule?])>((-1, [:]))

    func rules(at version: Int64) -> [String: Rule?] {
        state.withLock { $0.version == version ? $0.rules : [:] }
    }

    func keep(_ rules: [String: Rule?], at version: Int64) {
        state.withLock { state in
            if state.version != version { state = (version, [:]) }
            // Bounded: a fleet with more keys than this looks rules up again.
            if state.rules.count + rules.count > 10_000 { state.rules = [:] }
            state.rules.merge(rules) { _, new in new }
        }
    }
}

/// One transaction's view of the limit cells and rules it touches: read once each, changed in
/// memory, written back once by ``apply(_:now:)``.
struct LimitLedger {
    private let cache: LimitRuleCache?
    private var rulesVersion: Int64?
    private var rules: [String: (pattern: String, settings: LimitSettings)?] = [:]
    private var learned: [String: (pattern: String, settings: LimitSettings)?] = [:]
    private var cells: [String: LimiterCell] = [:]
    private var wakes: [String: Int64?] = [:]
    private var changed: Set<String> = []
    private var hasHeld: [String: Bool] = [:]
    /// The stored `held` flag of each cell read, as this transaction leaves it.
    private var heldFlags: [String: Bool] = [:]
    /// Circuits: the outcomes of each key read (nil: no row), those changed, and the changes
    /// to record.
    private var kept: [String: CircuitStats?] = [:]
    private var statsChanged: Set<String> = []
    private var transitions: [(key: String, change: CircuitChange)] = []

    /// A job that left `active`, with its keys and what its end says of their circuits.
    struct Ended {
        var id: Int64
        var keys: [String]
        var verdict: CircuitVerdict
    }

    /// The transaction's instant (µs): sliding windows count the starts still in them.
    private let now: Int64

    init(cache: LimitRuleCache? = nil, now: Int64) {
        self.cache = cache
        self.now = now
    }

    /// Marks the rules as changed, so every process's cache reads them again, and lets keys
    /// with held jobs look again at once by the new rules (the 1,000 due soonest, as on Redis; the rest at
    /// their own wake-up, at most a second away for a slot).
    static func rulesChanged(_ db: Database, now: Int64) throws {
        try db.execute(sql: "INSERT INTO sequences (name, value) VALUES ('limit_rules', 1) ON CONFLICT(name) DO UPDATE SET value = value + 1")
        try db.execute(sql: """
            UPDATE limit_cells SET wake_at = ?1
            WHERE key IN (SELECT key FROM limit_cells WHERE wake_at > ?1 ORDER BY wake_at LIMIT 1000)
            """, arguments: [now])
    }

    /// Hands the rules this transaction looked up to the cache (after it commits or read them).
    func keepRules() {
        guard let cache, let rulesVersion, !learned.isEmpty else { return }
        cache.keep(learned, at: rulesVersion)
    }

    /// The rule that applies to `key`: its own, else the longest prefix, else `*`.
    mutating func rule(for key: String, _ db: Database) throws -> (pattern: String, settings: LimitSettings)? {
        if let known = rules[key] { return known }
        if let cache, rulesVersion == nil {
            let version = try Int64.fetchOne(db, sql: "SELECT value FROM sequences WHERE name = 'limit_rules'") ?? 0
            rulesVersion = version
            rules = cache.rules(at: version)
            if let known = rules[key] { return known }
        }
        let patterns = LimitKey.patterns(for: key)
        let statement = try db.cachedStatement(sql: "SELECT settings FROM limit_rules WHERE pattern = ?")
        var found: (String, LimitSettings)?
        for pattern in patterns {
            statement.bind(1, pattern)
            var stored: String?
            try statement.stepRows(db) { stored = columnText($0, 0) }
            if let stored {
                found = (pattern, try LimitSettings(storedForm: stored))
                break
            }
        }
        rules[key] = .some(found)
        learned[key] = .some(found)
        return found
    }

    /// The limits `key` goes by (none: only the upstream's wait holds it back).
    mutating func settings(for key: String, _ db: Database) throws -> LimitSettings {
        try rule(for: key, db)?.settings ?? LimitSettings()
    }

    /// A cell's columns, in the order ``seed(_:_:)`` reads them.
    static let cellColumns = "tat, active, blocked_until, wake_at, held, circuit, open_until, probe, wave_at, wave_used"

    mutating func cell(_ key: String, _ db: Database) throws -> LimiterCell {
        if let cell = cells[key] { return cell }
        let statement = try db.cachedStatement(sql: "SELECT \(Self.cellColumns) FROM limit_cells WHERE key = ?")
        statement.bind(1, key)
        var found = false
        try statement.stepRows(db) { row in
            seed(key, row)
            found = true
        }
        if !found {
            cells[key] = LimiterCell()
            wakes[key] = .some(nil)
            heldFlags[key] = false
        }
        if let rate = try settings(for: key, db).rate, rate.sliding {
            // The starts still in the window, and when the oldest of them leaves it.
            let window = try db.cachedStatement(sql: "SELECT count(*), min(frees_at) FROM limit_window WHERE key = ? AND frees_at > ?")
            window.bind(1, key)
            window.bind(2, now)
            try window.stepRows(db) { row in
                cells[key]!.windowCount = Int(columnInt64(row, 0))
                cells[key]!.windowFrees = columnIsNull(row, 1) ? 0 : columnInt64(row, 1)
            }
        }
        return cells[key]!
    }

    /// Takes `key`'s cell from a row of ``cellColumns`` (read, or returned by an update).
    mutating func seed(_ key: String, _ row: OpaquePointer) {
        cells[key] = LimiterCell(tat: columnInt64(row, 0), active: Int(columnInt64(row, 1)), blockedUntil: columnInt64(row, 2),
                                 circuit: CircuitPhase(rawValue: Int(columnInt64(row, 5))) ?? .closed, openUntil: columnInt64(row, 6),
                                 probe: columnInt64(row, 7), waveAt: columnInt64(row, 8), waveUsed: Int(columnInt64(row, 9)))
        wakes[key] = .some(columnIsNull(row, 3) ? nil : columnInt64(row, 3))
        heldFlags[key] = columnInt64(row, 4) != 0
    }

    private mutating func update(_ key: String, _ db: Database, _ change: (inout LimiterCell) -> Void) throws {
        var cell = try self.cell(key, db)
        change(&cell)
        cells[key] = cell
        changed.insert(key)
    }

    private mutating func wake(_ key: String, atLatest when: Int64) {
        let current = wakes[key] ?? nil
        wakes[key] = .some(min(current ?? .max, when))
        changed.insert(key)
    }

    /// The first of `keys` that does not admit a start now, and when it may.
    mutating func blocking(_ keys: [String], now: Int64, _ db: Database) throws -> (key: String, until: Int64?)? {
        for key in keys {
            let cell = try self.cell(key, db)
            if case .wait(let until) = try settings(for: key, db).admission(cell, now: now) { return (key, until) }
        }
        return nil
    }

    /// Job `id` with `keys` starts: a start against each rate, a slot of each key, and the
    /// probe or a wave of each circuit that holds jobs back.
    mutating func started(_ keys: [String], now: Int64, job id: Int64, _ db: Database) throws {
        for key in keys {
            let settings = try settings(for: key, db)
            var change: CircuitChange?
            try update(key, db) { cell in
                (cell, change) = settings.started(cell, now: now, job: id)
                cell.active += 1
            }
            if let rate = settings.rate, rate.sliding {
                let record = try db.cachedStatement(sql: "INSERT INTO limit_window (key, frees_at) VALUES (?, ?)")
                record.bind(1, key)
                record.bind(2, now + rate.period.microseconds)
                try record.stepDone(db)
            }
            if let change { try note(change, key: key, now: now, db) }
        }
    }

    /// Jobs left `active` (a key once per job): their slots free, and held jobs of those keys
    /// may go now, in one statement per key on the cells as stored (the completing calls change
    /// no cell otherwise); then their outcomes count for the keys with a breaker, and a probe's
    /// end moves its circuit.
    static func ended(_ jobs: [Ended], now: Int64, cache: LimitRuleCache?, _ db: Database) throws {
        guard !jobs.isEmpty else { return }
        var counts: [String: Int] = [:]
        for job in jobs { for key in job.keys { counts[key, default: 0] += 1 } }
        let free = try db.cachedStatement(sql: """
            UPDATE limit_cells SET active = max(0, active - ?2),
                                   wake_at = CASE WHEN held = 1 THEN min(coalesce(wake_at, ?3), ?3) ELSE wake_at END
            WHERE key = ?1
            RETURNING \(cellColumns)
            """)
        // The cells as the update leaves them: the circuits below start from them.
        var ledger = LimitLedger(cache: cache, now: now)
        for (key, count) in counts {
            free.bind(1, key)
            free.bind(2, count)
            free.bind(3, now)
            try free.stepRows(db) { row in ledger.seed(key, row) }
        }
        for job in jobs {
            for key in job.keys {
                let settings = try ledger.settings(for: key, db)
                var cell = try ledger.cell(key, db)
                guard settings.circuitMoves(cell, on: job.verdict) else { continue }
                var stats = try ledger.stats(key, db) ?? CircuitStats()
                let change = settings.circuitEnded(&cell, &stats, job: job.id, job.verdict, now: now)
                if cell != ledger.cells[key] {
                    ledger.cells[key] = cell
                    ledger.changed.insert(key)
                }
                if settings.countsOutcome(job.verdict) {
                    ledger.kept[key] = .some(stats)
                    ledger.statsChanged.insert(key)
                }
                if let change { try ledger.note(change, key: key, now: now, db) }
            }
        }
        try ledger.apply(db, now: now)
        ledger.keepRules()
    }

    /// The outcomes kept for `key`'s circuit, nil with none.
    mutating func stats(_ key: String, _ db: Database) throws -> CircuitStats? {
        if let known = kept[key] { return known }
        let statement = try db.cachedStatement(sql: """
            SELECT failures, recent, since_close, decayed_successes, decayed_total, decayed_at, changed_at FROM circuits WHERE key = ?
            """)
        statement.bind(1, key)
        var found: CircuitStats?
        try statement.stepRows(db) { row in
            found = CircuitStats(failures: Int(columnInt64(row, 0)), recent: columnText(row, 1) ?? "", sinceClose: Int(columnInt64(row, 2)),
                                 decayedSuccesses: columnDouble(row, 3), decayedTotal: columnDouble(row, 4),
                                 decayedAt: columnInt64(row, 5), changedAt: columnInt64(row, 6))
        }
        kept[key] = .some(found)
        return found
    }

    /// `key`'s circuit as this transaction leaves it.
    mutating func circuitState(_ key: String, now: Int64, _ db: Database) throws -> CircuitState {
        let rule = try rule(for: key, db)
        return CircuitState(key: key, rule: rule?.settings.circuit == nil ? nil : rule?.pattern, breaker: rule?.settings.circuit,
                            cell: try cell(key, db), stats: try stats(key, db) ?? CircuitStats(), now: now)
    }

    /// Records a change of `key`'s circuit (written by ``apply(_:now:)``).
    mutating func note(_ change: CircuitChange, key: String, now: Int64, _ db: Database) throws {
        var stats = try self.stats(key, db) ?? CircuitStats()
        stats.changedAt = now
        self.kept[key] = .some(stats)
        statsChanged.insert(key)
        transitions.append((key, change))
    }

    /// Opens, closes or resets `key`'s circuit by hand.
    mutating func changeCircuit(_ key: String, _ action: CircuitAction, reason: String, now: Int64, _ db: Database) throws {
        let settings = try settings(for: key, db)
        var cell = try cell(key, db)
        let had = try stats(key, db)
        if action != .open && !settings.knowsCircuit(cell, hasOutcomes: had != nil) {
            let known = try String.fetchAll(db, sql: "SELECT key FROM circuits ORDER BY key LIMIT 20")
            throw SQLiteBackend.unknownCircuit(key, known: known)
        }
        var stats = had ?? CircuitStats()
        let change = settings.circuitChanged(&cell, &stats, by: action, reason: reason)
        cells[key] = cell
        changed.insert(key)
        self.kept[key] = .some(stats)
        try note(change, key: key, now: now, db)
        // Its held jobs look again at once.
        if try held(key, db) { wakes[key] = .some(now) }
    }

    /// The upstream asked `keys` to wait until `until`; their held jobs go then.
    static func block(_ keys: [String], until: Int64, _ db: Database) throws {
        let block = try db.cachedStatement(sql: """
            INSERT INTO limit_cells (key, blocked_until) VALUES (?1, ?2)
            ON CONFLICT(key) DO UPDATE SET blocked_until = max(blocked_until, ?2),
                wake_at = CASE WHEN held = 1 THEN min(coalesce(wake_at, ?2), ?2) ELSE wake_at END
            """)
        for key in keys {
            block.bind(1, key)
            block.bind(2, until)
            try block.stepDone(db)
        }
    }

    /// Deletes cells with nothing worth keeping (no active job, no start owed, no wait asked, no
    /// held job, a closed circuit), at most `limit`: completions leave them, recovery's
    /// maintenance takes them.
    static func pruneIdle(now: Int64, limit: Int, _ db: Database) throws {
        try db.execute(sql: "DELETE FROM limit_window WHERE rowid IN (SELECT rowid FROM limit_window WHERE frees_at <= ? LIMIT ?)",
                       arguments: [now, limit])
        try db.execute(sql: """
            DELETE FROM limit_cells WHERE key IN (
                SELECT key FROM limit_cells WHERE active <= 0 AND tat <= ?1 AND blocked_until <= ?1 AND held = 0 AND wake_at IS NULL AND circuit = 0
                LIMIT ?2)
            """, arguments: [now, limit])
    }

    /// Holds a claimed-but-not-admitted job back on `key` (its claim undone: no attempt, no token).
    mutating func hold(_ id: Int64, on key: String, until: Int64, _ db: Database) throws {
        let statement = try db.cachedStatement(sql: """
            UPDATE jobs SET state = \(SQLiteSchema.heldState), parked_on = ?1, attempt = attempt - 1, lease_token = lease_token - 1,
                            lease_expires_at = NULL, worker_id = NULL, started_at = NULL
            WHERE id = ?2
            """)
        statement.bind(1, key)
        statement.bind(2, id)
        try statement.stepDone(db)
        _ = try cell(key, db)
        hasHeld[key] = true
        heldFlags[key] = true
        changed.insert(key)
        wake(key, atLatest: until)
    }

    /// Whether `key` has held jobs (an enqueue goes behind them).
    mutating func held(_ key: String, _ db: Database) throws -> Bool {
        if let known = hasHeld[key] { return known }
        let statement = try db.cachedStatement(sql: "SELECT 1 FROM jobs WHERE parked_on = ? AND state = \(SQLiteSchema.heldState) LIMIT 1")
        statement.bind(1, key)
        var found = false
        try statement.stepRows(db) { _ in found = true }
        hasHeld[key] = found
        return found
    }

    /// The key that holds back a new ready job: one with held jobs already, or one whose rule
    /// admits fewer starts now than this call has put in line (counted in `inLine`), so a bulk
    /// enqueue for a saturated key costs its claims nothing. Notes the hold and when it may go.
    mutating func holdingKey(for keys: [String], inLine: inout [String: Int], now: Int64, _ db: Database) throws -> String? {
        for key in keys where try held(key, db) { return key }
        for key in keys {
            guard let settings = try rule(for: key, db)?.settings else { continue }
            let (count, next) = settings.admissible(try cell(key, db), now: now, atMost: 1_000_000)
            if inLine[key, default: 0] >= count {
                hasHeld[key] = true
                heldFlags[key] = true
                changed.insert(key)
                wake(key, atLatest: next ?? now + LimitSettings.recheckMicroseconds)
                return key
            }
        }
        for key in keys { inLine[key, default: 0] += 1 }
        return nil
    }

    /// Puts held jobs of keys that admit again back in line: at most 16 keys and `stepLimit`
    /// jobs per key, as many as each admits. Returns whether any went.
    mutating func releaseDue(_ db: Database, now: Int64, stepLimit: Int) throws -> Bool {
        let due = try Row.fetchAll(db, sql: "SELECT key FROM limit_cells WHERE wake_at <= ? ORDER BY wake_at LIMIT 16", arguments: [now])
        guard !due.isEmpty else { return false }
        let release = try db.cachedStatement(sql: """
            UPDATE jobs SET state = 1, parked_on = NULL
            WHERE id IN (SELECT id FROM jobs WHERE parked_on = ?1 AND state = \(SQLiteSchema.heldState) ORDER BY priority DESC, id LIMIT ?2)
            """)
        var released = false
        for row in due {
            let key: String = row[0]
            let cell = try self.cell(key, db)
            let (count, next) = try settings(for: key, db).admissible(cell, now: now, atMost: stepLimit)
            wakes[key] = .some(nil)
            changed.insert(key)
            var moved = 0
            if count > 0 {
                release.bind(1, key)
                release.bind(2, count)
                try release.stepDone(db)
                moved = db.changesCount
                released = released || moved > 0
            }
            hasHeld[key] = nil
            heldFlags[key] = try held(key, db)
            if heldFlags[key] == true {
                wakes[key] = .some(LimitSettings.recheck(after: count, of: stepLimit, next: next, now: now))
            }
        }
        return released
    }

    /// Writes the changed cells back (a cell with nothing worth keeping is deleted), then the
    /// circuits' outcomes and transitions (the last ``CircuitTransition/historyLimit`` per key).
    func apply(_ db: Database, now: Int64) throws {
        try applyCircuits(db, now: now)
        guard !changed.isEmpty else { return }
        let upsert = try db.cachedStatement(sql: """
            INSERT INTO limit_cells (key, tat, active, blocked_until, wake_at, held, circuit, open_until, probe, wave_at, wave_used)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
            ON CONFLICT(key) DO UPDATE SET tat = ?2, active = ?3, blocked_until = ?4, wake_at = ?5, held = ?6,
                circuit = ?7, open_until = ?8, probe = ?9, wave_at = ?10, wave_used = ?11
            """)
        let delete = try db.cachedStatement(sql: "DELETE FROM limit_cells WHERE key = ?")
        for key in changed {
            let cell = cells[key] ?? LimiterCell()
            let wake = wakes[key] ?? nil
            let held = heldFlags[key] ?? false
            if cell.isIdle(now: now) && wake == nil && !held {
                delete.bind(1, key)
                try delete.stepDone(db)
                continue
            }
            upsert.bind(1, key)
            upsert.bind(2, cell.tat)
            upsert.bind(3, cell.active)
            upsert.bind(4, cell.blockedUntil)
            if let wake { upsert.bind(5, wake) } else { upsert.bindNull(5) }
            upsert.bind(6, held ? 1 : 0)
            upsert.bind(7, cell.circuit.rawValue)
            upsert.bind(8, cell.openUntil)
            upsert.bind(9, cell.probe)
            upsert.bind(10, cell.waveAt)
            upsert.bind(11, cell.waveUsed)
            try upsert.stepDone(db)
        }
    }

    private func applyCircuits(_ db: Database, now: Int64) throws {
        guard !statsChanged.isEmpty else { return }
        let save = try db.cachedStatement(sql: """
            INSERT INTO circuits (key, failures, recent, since_close, decayed_successes, decayed_total, decayed_at, changed_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(key) DO UPDATE SET failures = excluded.failures, recent = excluded.recent, since_close = excluded.since_close,
                decayed_successes = excluded.decayed_successes, decayed_total = excluded.decayed_total,
                decayed_at = excluded.decayed_at, changed_at = excluded.changed_at
            """)
        for key in statsChanged {
            guard let stats = kept[key] ?? nil else { continue }
            save.bind(1, key)
            save.bind(2, stats.failures)
            save.bind(3, stats.recent)
            save.bind(4, stats.sinceClose)
            save.bind(5, stats.decayedSuccesses)
            save.bind(6, stats.decayedTotal)
            save.bind(7, stats.decayedAt)
            save.bind(8, stats.changedAt)
            try save.stepDone(db)
        }
        guard !transitions.isEmpty else { return }
        let record = try db.cachedStatement(sql: "INSERT INTO circuit_log (key, at, from_phase, to_phase, reason) VALUES (?, ?, ?, ?, ?)")
        let trim = try db.cachedStatement(sql: """
            DELETE FROM circuit_log WHERE key = ?1 AND id <= (SELECT id FROM circuit_log WHERE key = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)
            """)
        for (key, change) in transitions {
            try record.execute(arguments: [key, now, change.from.rawValue, change.to.rawValue, change.reason])
        }
        for key in Set(transitions.map(\.key)) { try trim.execute(arguments: [key, CircuitTransition.historyLimit]) }
    }
}
