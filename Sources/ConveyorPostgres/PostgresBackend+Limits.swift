import Conveyor
import Foundation
import PostgresNIO
import Synchronization

/// Flow control in the store's tables, as on SQLite. A ready job held back by a limit key is
/// stored with state 8 (``PostgresSchema/heldState``, read as `ready`) and the key in
/// `parked_on`: it is out of the claim index's range, so claims never look at it again until
/// its key admits and ``PGLimitLedger/releaseDue(_:stepLimit:)`` puts it back in line. Each
/// key's cell (`limit_cells`) holds its rate's theoretical arrival time, its active jobs, the
/// upstream's wait, when its held jobs may go (`wake_at`) and its circuit.
///
/// Unlike SQLite's one writer, many claims run at once here: a transaction that reads a cell to
/// write it back holds the cell's row lock from the read to its commit, so two claims never
/// both take a key's last slot or its probe.
extension PostgresBackend: FlowControlStore {
    public func setLimit(_ pattern: String, _ settings: LimitSettings) async throws {
        try Self.validateRule(pattern, settings)
        try await write { tx in
            try await tx.execute("""
                INSERT INTO limit_rules (pattern, settings, updated_at) VALUES (\(pattern), \(settings.storedForm), \(tx.now))
                ON CONFLICT (pattern) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at
                """)
            try await PGLimitLedger.rulesChanged(tx)
        }
        announceWork()
    }

    @discardableResult
    public func removeLimit(_ pattern: String) async throws -> Bool {
        let removed = try await write { tx -> Bool in
            let gone = try await tx.rows("DELETE FROM limit_rules WHERE pattern = \(pattern) RETURNING pattern")
            if !gone.isEmpty { try await PGLimitLedger.rulesChanged(tx) }
            return !gone.isEmpty
        }
        if removed { announceWork() }
        return removed
    }

    public func limitRules() async throws -> [LimitRule] {
        try await read("SELECT pattern, settings, updated_at FROM limit_rules ORDER BY pattern").map { row in
            LimitRule(pattern: try row[0].decode(String.self), settings: try LimitSettings(storedForm: try row[1].decode(String.self)),
                      updatedAt: Self.date(try row[2].decode(Int64.self)))
        }
    }

    public func limitStates(_ keys: [String]) async throws -> [LimitKeyState] {
        let cache = limitRuleCache
        return try await inspecting { tx in
            var ledger = PGLimitLedger(cache: cache, now: tx.now)
            try await ledger.read(keys, tx)
            ledger.keepRules()
            let waiting = try await PGLimitLedger.waiting(keys, tx)
            return keys.map { key in
                let rule = ledger.rule(for: key)
                return LimitKeyState(key: key, rule: rule?.pattern, cell: ledger.cell(key), settings: rule?.settings,
                                     waiting: waiting[key] ?? 0, now: tx.now)
            }
        }
    }
}

extension PostgresBackend {
    public func circuitStates(_ keys: [String]) async throws -> [CircuitState] {
        let cache = limitRuleCache
        return try await inspecting { tx in try await Self.circuitStates(keys, cache: cache, tx) }
    }

    public func circuits(after key: String?, limit: Int) async throws -> [CircuitState] {
        let cache = limitRuleCache
        return try await inspecting { tx in
            let keys = try await tx.rows("SELECT key FROM circuits WHERE key > \(key ?? "") ORDER BY key LIMIT \(max(0, min(limit, 10_000)))")
                .map { try $0[0].decode(String.self) }
            return try await Self.circuitStates(keys, cache: cache, tx)
        }
    }

    public func circuitHistory(_ key: String, limit: Int) async throws -> [CircuitTransition] {
        try await read("""
            SELECT at, from_phase, to_phase, reason FROM circuit_log WHERE key = \(key)
            ORDER BY id DESC LIMIT \(max(0, min(limit, CircuitTransition.historyLimit)))
            """).map { row in
            CircuitTransition(key: key, at: Self.date(try row[0].decode(Int64.self)),
                              from: CircuitPhase(rawValue: Int(try row[1].decode(Int16.self))) ?? .closed,
                              to: CircuitPhase(rawValue: Int(try row[2].decode(Int16.self))) ?? .closed, reason: try row[3].decode(String.self))
        }
    }

    @discardableResult
    public func changeCircuit(_ key: String, _ action: CircuitAction, reason: String) async throws -> CircuitState {
        if let problem = LimitKey.problem(with: key) { throw ConveyorError.invalidLimit(problem) }
        let cache = limitRuleCache
        let state = try await write { tx -> CircuitState in
            var ledger = PGLimitLedger(cache: cache, now: tx.now)
            try await ledger.changeCircuit(key, action, reason: reason, tx)
            try await ledger.apply(tx)
            ledger.keepRules()
            return ledger.circuitState(key)
        }
        announceWork()
        return state
    }

    private static func circuitStates(_ keys: [String], cache: LimitRuleCache, _ tx: PGTransaction) async throws -> [CircuitState] {
        var ledger = PGLimitLedger(cache: cache, now: tx.now)
        try await ledger.read(keys, tx)
        try await ledger.loadStats(keys, tx)
        ledger.keepRules()
        return keys.map { ledger.circuitState($0) }
    }

    /// Runs `body` on a pooled connection outside a transaction (each statement its own
    /// snapshot), with the server's time read first: for inspection.
    private func inspecting<T: Sendable>(_ body: @Sendable (PGTransaction) async throws -> T) async throws -> T {
        let offset = self.offset, logger = self.logger
        return try await withConnection { connection in
            let now = try await PGTransaction.readNow(connection, offset: offset, logger: logger)
            return try await body(PGTransaction(connection: connection, now: now, logger: logger))
        }
    }
}

/// Limit rules by key, kept across transactions while the rules' version (`sequences` row
/// `limit_rules`, moved by every change of a rule) is the one they were read at.
final class LimitRuleCache: Sendable {
    typealias Rule = (pattern: String, settings: LimitSettings)
    private let state = Mutex<(version: Int64, rules: [String: Rule?])>((-1, [:]))

    /// The version last kept, and the rules kept at it.
    func latest() -> (version: Int64, rules: [String: Rule?]) {
        state.withLock { $0 }
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

/// One transaction's view of the limit cells, rules and circuits it touches, ported from the
/// SQLite store's `LimitLedger`: read in batches (a statement for all the keys at hand), changed
/// in memory by the shared arithmetic (``LimitSettings``), written back once by ``apply(_:)``.
///
/// A cell is written back whole only while this transaction holds its row lock (``lock(_:_:)``,
/// or the statement that frees slots in ``ended(_:blocks:cache:_:)``); an enqueue, which reads
/// cells without locks, only marks the keys it held jobs on, in one statement that takes the
/// latest row as it is.
struct PGLimitLedger {
    typealias Rule = LimitRuleCache.Rule

    /// A job that left `active`, with its keys and what its end says of their circuits.
    struct Ended {
        var id: Int64
        var keys: [String]
        var verdict: CircuitVerdict
    }

    /// The transaction's instant (µs).
    let now: Int64
    private let cache: LimitRuleCache?
    private var rulesVersion: Int64?
    /// Whether every rule read so far was read at `rulesVersion` (so the cache may keep them).
    private var oneVersion = true
    /// Whether the process's cache was looked at (once per ledger).
    private var consultedCache = false
    private var rules: [String: Rule?] = [:]
    private var learned: [String: Rule?] = [:]
    private var cells: [String: LimiterCell] = [:]
    private var wakes: [String: Int64?] = [:]
    /// The stored `held` flag of each cell read, as this transaction leaves it.
    private var heldFlags: [String: Bool] = [:]
    /// Whether each key has held jobs (an enqueue goes behind them).
    private var hasHeld: [String: Bool] = [:]
    /// The cells whose row lock this transaction holds, and those of them changed.
    private var locked: Set<String> = []
    private var changed: Set<String> = []
    /// Keys an enqueue held jobs on, with when they look again at the latest.
    private var marks: [String: Int64] = [:]
    /// Claims to undo: held back on a key, or (no key) passed over while another transaction
    /// holds one of the job's cells.
    private var undone: [(id: Int64, key: String?)] = []
    /// Sliding-window starts to record: when each leaves its key's window.
    private var windowStarts: [(key: String, freesAt: Int64)] = []
    /// Circuits: the outcomes of each key read (nil: no row), those changed, and the changes
    /// to record.
    private var kept: [String: CircuitStats?] = [:]
    private var statsChanged: Set<String> = []
    private var transitions: [(key: String, change: CircuitChange)] = []

    /// `rulesVersion`: the rules' version, when a statement of the transaction read it already
    /// (``rulesVersionSQL``), so rules the cache holds at it cost no statement.
    init(cache: LimitRuleCache? = nil, now: Int64, rulesVersion: Int64? = nil) {
        self.cache = cache
        self.now = now
        self.rulesVersion = rulesVersion
    }

    /// The rules' version, as a column of another statement.
    static let rulesVersionSQL = "coalesce((SELECT value FROM sequences WHERE name = 'limit_rules'), 0)::int8"

    /// Byte order, as `COLLATE "C"` sorts the tables' keys: the order cells are locked in.
    static func precedes(_ a: String, _ b: String) -> Bool {
        a.utf8.lexicographicallyPrecedes(b.utf8)
    }

    /// The stored held state, for the text of statements (a literal, so the planner matches
    /// the partial index `jobs_held`).
    private static let held = String(PostgresSchema.heldState)

    // MARK: Rules

    /// Marks the rules as changed, so every process's cache reads them again, and lets keys
    /// with held jobs look again at once by the new rules (the 1,000 due soonest, as on the other
    /// stores, passing over cells another transaction holds; the rest at their own wake-up, at
    /// most a second away for a slot).
    static func rulesChanged(_ tx: PGTransaction) async throws {
        try await tx.execute("""
            INSERT INTO sequences (name, value) VALUES ('limit_rules', 1) ON CONFLICT (name) DO UPDATE SET value = sequences.value + 1
            """)
        try await tx.execute("""
            UPDATE limit_cells SET wake_at = \(tx.now)
            WHERE key IN (SELECT key FROM limit_cells WHERE wake_at > \(tx.now) ORDER BY wake_at LIMIT 1000 FOR UPDATE SKIP LOCKED)
            """)
    }

    /// Hands the rules this transaction looked up to the cache.
    func keepRules() {
        guard let cache, let rulesVersion, oneVersion, !learned.isEmpty else { return }
        cache.keep(learned, at: rulesVersion)
    }

    /// The rule that applies to `key` (its own, else the longest prefix, else `*`), once read.
    func rule(for key: String) -> Rule? { rules[key] ?? nil }

    /// The limits `key` goes by (none: only the upstream's wait and a circuit opened by hand
    /// hold it back).
    func settings(for key: String) -> LimitSettings { rule(for: key)?.settings ?? LimitSettings() }

    /// Finds the rules of `keys` not known yet: from the process's cache while the rules'
    /// version is the one it was filled at (read by another statement of the transaction, or
    /// confirmed by the one that looks up the keys the cache lacks), else from the table.
    mutating func loadRules(_ keys: some Sequence<String>, _ tx: PGTransaction) async throws {
        var missing = Set(keys.filter { rules[$0] == nil })
        guard !missing.isEmpty else { return }
        if let cache, !consultedCache {
            consultedCache = true
            let latest = cache.latest()
            let cached = missing.compactMap { key in latest.rules[key].map { (key, $0) } }
            if let rulesVersion {
                if rulesVersion == latest.version {
                    for (key, rule) in cached { rules[key] = .some(rule) }
                    missing.subtract(cached.map(\.0))
                }
            } else {
                let version = try await fetchRules(missing.subtracting(cached.map(\.0)), tx)
                if version == latest.version {
                    for (key, rule) in cached { rules[key] = .some(rule) }
                    return
                }
                // The rules changed since: the cached ones are looked up too.
                missing = Set(cached.map(\.0))
            }
            guard !missing.isEmpty else { return }
        }
        _ = try await fetchRules(missing, tx)
    }

    /// Takes the rules' version another statement read, unless one is known already.
    mutating func knowRulesVersion(_ version: Int64) {
        if rulesVersion == nil { rulesVersion = version }
    }

    /// Reads the rules of `keys` and the rules' version in one statement (one snapshot);
    /// returns the version.
    private mutating func fetchRules(_ keys: Set<String>, _ tx: PGTransaction) async throws -> Int64 {
        let patterns = Array(Set(keys.flatMap(LimitKey.patterns(for:))))
        let rows = try await tx.rows("""
            SELECT \(unescaped: Self.rulesVersionSQL), r.pattern, r.settings
            FROM (SELECT 1) AS one LEFT JOIN limit_rules r ON r.pattern = ANY(\(patterns)::text[])
            """)
        let version = try rows.first?[0].decode(Int64.self) ?? 0
        if let rulesVersion { oneVersion = oneVersion && version == rulesVersion } else { rulesVersion = version }
        var stored: [String: String] = [:]
        for row in rows {
            if let pattern = try row[1].decode(String?.self) { stored[pattern] = try row[2].decode(String.self) }
        }
        for key in keys {
            var found: Rule?
            for pattern in LimitKey.patterns(for: key) {
                if let settings = stored[pattern] {
                    found = (pattern, try LimitSettings(storedForm: settings))
                    break
                }
            }
            rules[key] = .some(found)
            learned[key] = .some(found)
        }
        return version
    }

    // MARK: Cells

    /// A cell's columns, in the order ``seed(_:)`` reads them.
    static let cellColumns = "key, tat, active, blocked_until, wake_at, held, circuit, open_until, probe, wave_at, wave_used"

    /// `key`'s cell as this transaction has it (idle when it has none).
    func cell(_ key: String) -> LimiterCell { cells[key] ?? LimiterCell() }

    /// Takes a cell from a row of ``cellColumns``; returns its key.
    @discardableResult
    private mutating func seed(_ row: PostgresRandomAccessRow) throws -> String {
        let key = try row[0].decode(String.self)
        cells[key] = LimiterCell(
            tat: try row[1].decode(Int64.self), active: Int(try row[2].decode(Int32.self)), blockedUntil: try row[3].decode(Int64.self),
            circuit: CircuitPhase(rawValue: Int(try row[6].decode(Int16.self))) ?? .closed, openUntil: try row[7].decode(Int64.self),
            probe: try row[8].decode(Int64.self), waveAt: try row[9].decode(Int64.self), waveUsed: Int(try row[10].decode(Int32.self)))
        wakes[key] = .some(try row[4].decode(Int64?.self))
        heldFlags[key] = try row[5].decode(Bool.self)
        return key
    }

    private mutating func seedIdle(_ key: String) {
        cells[key] = LimiterCell()
        wakes[key] = .some(nil)
        heldFlags[key] = false
    }

    /// Reads the cells of `keys` not read yet, without locks, with their rules, sliding windows
    /// and whether each key has held jobs: for inspection, and for an enqueue's choice to hold a
    /// job (which a claim checks again under the lock).
    mutating func read(_ keys: [String], _ tx: PGTransaction) async throws {
        let fresh = Array(Set(keys.filter { cells[$0] == nil }))
        guard !fresh.isEmpty else { return }
        try await loadRules(fresh, tx)
        for row in try await tx.rows("""
            SELECT u.key, c.tat, c.active, c.blocked_until, c.wake_at, c.held, c.circuit, c.open_until, c.probe, c.wave_at, c.wave_used,
                   EXISTS (SELECT 1 FROM jobs WHERE parked_on = u.key AND state = \(unescaped: Self.held))
            FROM unnest(\(fresh)::text[]) AS u(key) LEFT JOIN limit_cells c ON c.key = u.key
            """) {
            let key = try row[0].decode(String.self)
            if try row[1].decode(Int64?.self) == nil { seedIdle(key) } else { try seed(row) }
            hasHeld[key] = try row[11].decode(Bool.self)
        }
        try await readWindows(fresh, at: now, tx)
    }

    /// Locks the cells of `keys` (making rows for keys that have none) and reads them, with
    /// their rules and sliding windows as of `instant` (the transaction's by default). Locks are
    /// taken in key order: a key after every cell this transaction holds already is waited
    /// for; one before them is taken only if free, since waiting for it could close a cycle
    /// with a transaction that holds it and waits for one of ours. Returns the keys it could
    /// not take (usually none).
    mutating func lock(_ keys: some Sequence<String>, at instant: Int64? = nil, _ tx: PGTransaction) async throws -> Set<String> {
        let wanted = Set(keys).subtracting(locked).sorted(by: Self.precedes)
        guard !wanted.isEmpty else { return [] }
        try await loadRules(wanted, tx)
        let ceiling = locked.max(by: Self.precedes)
        let early = ceiling.map { ceiling in wanted.filter { Self.precedes($0, ceiling) } } ?? []
        let busy = early.isEmpty ? [] : try await acquire(early, waiting: false, tx)
        let late = Array(wanted.dropFirst(early.count))
        if !late.isEmpty { _ = try await acquire(late, waiting: true, tx) }
        try await readWindows(wanted.filter { !busy.contains($0) }, at: instant ?? now, tx)
        return busy
    }

    /// Locks the cells of `keys` (sorted): existing rows with `FOR UPDATE` (`SKIP LOCKED` when
    /// not `waiting`), missing ones by inserting them (a row this transaction inserts is its own
    /// until it commits; one another open transaction is inserting is waited for even so, which
    /// the server would see through should it close a cycle). Returns the keys left to other
    /// transactions (only when not waiting).
    private mutating func acquire(_ keys: [String], waiting: Bool, _ tx: PGTransaction) async throws -> Set<String> {
        var remaining = keys
        for _ in 0..<4 {
            for row in try await tx.rows("""
                SELECT \(unescaped: Self.cellColumns) FROM limit_cells WHERE key = ANY(\(remaining)::text[])
                ORDER BY key FOR UPDATE \(unescaped: waiting ? "" : "SKIP LOCKED")
                """) {
                locked.insert(try seed(row))
            }
            remaining.removeAll { locked.contains($0) }
            guard !remaining.isEmpty else { return [] }
            for row in try await tx.rows("""
                INSERT INTO limit_cells (key) SELECT k FROM unnest(\(remaining)::text[]) AS k ORDER BY k COLLATE "C"
                ON CONFLICT DO NOTHING RETURNING key
                """) {
                let key = try row[0].decode(String.self)
                seedIdle(key)
                locked.insert(key)
                // Written back, or deleted if it stays idle.
                changed.insert(key)
            }
            remaining.removeAll { locked.contains($0) }
            guard !remaining.isEmpty else { return [] }
            if !waiting { return Set(remaining) }
            // Rows another transaction made meanwhile: locked in the next round.
        }
        throw ConveyorError.storeFailure("the limit cells of \(remaining.joined(separator: ", ")) kept changing hands; try again")
    }

    /// Fills in the sliding windows of `keys` whose rule has one: the starts still in the
    /// window at `instant`, and when the oldest of them leaves it (read after the cell's lock,
    /// so every start an earlier holder recorded is seen).
    private mutating func readWindows(_ keys: [String], at instant: Int64, _ tx: PGTransaction) async throws {
        let sliding = keys.filter { settings(for: $0).rate?.sliding == true }
        guard !sliding.isEmpty else { return }
        for row in try await tx.rows("""
            SELECT u.key, count(w.frees_at)::int8, min(w.frees_at) FROM unnest(\(sliding)::text[]) AS u(key)
            LEFT JOIN limit_window w ON w.key = u.key AND w.frees_at > \(instant)
            GROUP BY u.key
            """) {
            let key = try row[0].decode(String.self)
            cells[key]?.windowCount = Int(try row[1].decode(Int64.self))
            cells[key]?.windowFrees = try row[2].decode(Int64?.self) ?? 0
        }
    }

    // MARK: Claims

    /// The first of `keys` that does not admit a start at `instant`, and when it may.
    func blocking(_ keys: [String], at instant: Int64) -> (key: String, until: Int64?)? {
        for key in keys {
            if case .wait(let until) = settings(for: key).admission(cell(key), now: instant) { return (key, until) }
        }
        return nil
    }

    /// Job `id` with `keys` (locked) starts at `instant`: a start against each rate, a slot of
    /// each key, and the probe or a wave of each circuit that holds jobs back.
    mutating func started(_ keys: [String], at instant: Int64, job id: Int64) {
        for key in keys {
            let settings = self.settings(for: key)
            let start = settings.started(self.cell(key), now: instant, job: id)
            var cell = start.cell
            cell.active += 1
            cells[key] = cell
            changed.insert(key)
            if let rate = settings.rate, rate.sliding { windowStarts.append((key, instant + rate.period.microseconds)) }
            if let change = start.change { note(change, key: key) }
        }
    }

    /// Holds a claimed-but-not-admitted job back on `key` (locked): its claim is undone (no
    /// attempt, no token) by ``flushUndone(_:)``.
    mutating func hold(_ id: Int64, on key: String, until: Int64) {
        undone.append((id, key))
        hasHeld[key] = true
        heldFlags[key] = true
        changed.insert(key)
        wakes[key] = .some(min((wakes[key] ?? nil) ?? .max, until))
    }

    /// Leaves a claimed job ready, its claim undone, because another transaction holds one of
    /// its keys' cells.
    mutating func passOver(_ id: Int64) {
        undone.append((id, nil))
    }

    /// Undoes the claims of the jobs held back or passed over so far, in one statement.
    mutating func flushUndone(_ tx: PGTransaction) async throws {
        guard !undone.isEmpty else { return }
        let ids = undone.map(\.id), keys = undone.map { $0.key ?? "" }
        let states = undone.map { $0.key == nil ? Int16(JobState.ready.rawValue) : PostgresSchema.heldState }
        undone = []
        try await tx.execute("""
            UPDATE jobs j SET state = u.state, parked_on = NULLIF(u.key, ''), attempt = j.attempt - 1, lease_token = j.lease_token - 1,
                              lease_expires_at = NULL, worker_id = NULL, started_at = NULL
            FROM unnest(\(ids)::int8[], \(states)::int2[], \(keys)::text[]) AS u(id, state, key)
            WHERE j.id = u.id
            """)
    }

    /// Puts held jobs of keys that admit again back in line: at most 16 due keys (passing over
    /// cells another claim holds, which it is letting go), and `stepLimit` jobs per key, as many
    /// as each admits. Their cells stay locked for this claim. Returns whether any went.
    mutating func releaseDue(_ tx: PGTransaction, stepLimit: Int) async throws -> Bool {
        let rows = try await tx.rows("""
            SELECT \(unescaped: Self.cellColumns) FROM limit_cells WHERE wake_at <= \(now)
            ORDER BY wake_at LIMIT 16 FOR UPDATE SKIP LOCKED
            """)
        guard !rows.isEmpty else { return false }
        var due: [String] = []
        for row in rows {
            let key = try seed(row)
            locked.insert(key)
            due.append(key)
        }
        try await loadRules(due, tx)
        try await readWindows(due, at: now, tx)
        var admitted: [Int32] = []
        var nexts: [String: Int64?] = [:]
        for key in due {
            let (count, next) = settings(for: key).admissible(cell(key), now: now, atMost: stepLimit)
            admitted.append(Int32(count))
            nexts[key] = .some(next)
            wakes[key] = .some(nil)
            changed.insert(key)
        }
        // One statement for every due key: the jobs let go, and whether any stay held (the
        // snapshot still shows those let go as held, so they are left out).
        let results = try await tx.rows("""
            WITH want AS (SELECT * FROM unnest(\(due)::text[], \(admitted)::int4[]) AS u(key, n)),
            picked AS (
                SELECT want.key, h.id FROM want, LATERAL (
                    SELECT id FROM jobs WHERE parked_on = want.key AND state = \(unescaped: Self.held)
                    ORDER BY priority DESC, id LIMIT want.n FOR UPDATE SKIP LOCKED) AS h),
            moved AS (UPDATE jobs SET state = 1, parked_on = NULL FROM picked WHERE jobs.id = picked.id RETURNING picked.key, jobs.id)
            SELECT want.key, want.n, (SELECT count(*) FROM moved WHERE moved.key = want.key)::int8,
                   EXISTS (SELECT 1 FROM jobs WHERE parked_on = want.key AND state = \(unescaped: Self.held)
                           AND id NOT IN (SELECT id FROM moved))
            FROM want
            """)
        var released = false
        for row in results {
            let key = try row[0].decode(String.self)
            let count = Int(try row[1].decode(Int32.self))
            if try row[2].decode(Int64.self) > 0 { released = true }
            let left = try row[3].decode(Bool.self)
            hasHeld[key] = left
            heldFlags[key] = left
            if left { wakes[key] = .some(LimitSettings.recheck(after: count, of: stepLimit, next: nexts[key] ?? nil, now: now)) }
        }
        return released
    }

    // MARK: Enqueues

    /// The key that holds back a new ready job (its keys read by ``read(_:_:)``): one with held
    /// jobs already, or one whose rule admits fewer starts now than this call has put in line
    /// (counted in `inLine`), so a bulk enqueue for a saturated key costs its claims nothing.
    /// Marks the key held, with when it looks again at the latest.
    mutating func holdingKey(for keys: [String], inLine: inout [String: Int]) -> String? {
        for key in keys where hasHeld[key] == true {
            // Its wake-up as read: set again should a release that found no held job (this one
            // is not committed yet) have cleared it meanwhile.
            mark(key, by: (wakes[key] ?? nil) ?? now + LimitSettings.recheckMicroseconds)
            return key
        }
        for key in keys {
            guard let settings = rule(for: key)?.settings else { continue }
            let (count, next) = settings.admissible(cell(key), now: now, atMost: 1_000_000)
            if inLine[key, default: 0] >= count {
                hasHeld[key] = true
                mark(key, by: next ?? now + LimitSettings.recheckMicroseconds)
                return key
            }
        }
        for key in keys { inLine[key, default: 0] += 1 }
        return nil
    }

    private mutating func mark(_ key: String, by when: Int64) {
        marks[key] = min(marks[key] ?? .max, when)
    }

    // MARK: Ends

    /// Jobs left `active` (a key once per job) and keys the upstream asked to wait until then
    /// (`blocks`): one statement frees the slots, sets the waits and wakes the held jobs of
    /// those keys, locking their cells in key order; then the outcomes count for the keys with
    /// a breaker, and a probe's end moves its circuit. Returns whether held jobs may go now (a
    /// slot freed on a key that has some).
    static func ended(_ jobs: [Ended], blocks: [(keys: [String], until: Int64)] = [], cache: LimitRuleCache?,
                      _ tx: PGTransaction) async throws -> Bool {
        guard !jobs.isEmpty || !blocks.isEmpty else { return false }
        var counts: [String: Int] = [:], untils: [String: Int64] = [:]
        for job in jobs { for key in job.keys { counts[key, default: 0] += 1 } }
        for block in blocks { for key in block.keys { untils[key] = max(untils[key] ?? 0, block.until) } }
        var ledger = PGLimitLedger(cache: cache, now: tx.now)
        let keys = Set(counts.keys).union(untils.keys).sorted(by: precedes)
        var woke = try await ledger.free(keys, counts: counts, untils: untils, tx)
        // Rules only where an outcome counts or a circuit is not closed (a released or
        // recovered job of a closed key needs none).
        let judged = Set(jobs.filter { $0.verdict != .neutral }.flatMap(\.keys)).union(keys.filter { ledger.cell($0).circuit != .closed })
        try await ledger.loadRules(judged, tx)
        // A key with no cell needs one for the upstream's wait, or for a breaker's outcome.
        var absent = keys.filter { key in
            !ledger.locked.contains(key)
                && (untils[key] != nil || jobs.contains { $0.keys.contains(key) && ledger.settings(for: key).countsOutcome($0.verdict) })
        }
        for _ in 0..<3 where !absent.isEmpty {
            try await tx.execute("""
                INSERT INTO limit_cells (key) SELECT k FROM unnest(\(absent)::text[]) AS k ORDER BY k COLLATE "C" ON CONFLICT DO NOTHING
                """)
            woke = try await ledger.free(absent, counts: counts, untils: untils, tx) || woke
            absent.removeAll { ledger.locked.contains($0) }
        }
        try await ledger.loadStats(keys.filter { ledger.settings(for: $0).circuit != nil || ledger.cell($0).circuit != .closed }, tx)
        for job in jobs {
            for key in job.keys where ledger.locked.contains(key) {
                let settings = ledger.settings(for: key)
                var cell = ledger.cell(key)
                guard settings.circuitMoves(cell, on: job.verdict) else { continue }
                var stats = ledger.stats(key) ?? CircuitStats()
                let change = settings.circuitEnded(&cell, &stats, job: job.id, job.verdict, now: tx.now)
                if cell != ledger.cells[key] {
                    ledger.cells[key] = cell
                    ledger.changed.insert(key)
                }
                if settings.countsOutcome(job.verdict) {
                    ledger.kept[key] = .some(stats)
                    ledger.statsChanged.insert(key)
                }
                if let change { ledger.note(change, key: key) }
            }
        }
        try await ledger.apply(tx)
        ledger.keepRules()
        return woke
    }

    /// Frees `counts` slots and sets the waits `untils` of the cells of `keys` that have rows,
    /// waking their held jobs, in one statement that locks them in key order first; reads them
    /// as it leaves them. Returns whether a slot freed on a key with held jobs.
    private mutating func free(_ keys: [String], counts: [String: Int], untils: [String: Int64], _ tx: PGTransaction) async throws -> Bool {
        let slots = keys.map { Int32(counts[$0] ?? 0) }, waits = keys.map { untils[$0] ?? 0 }
        var woke = false
        for row in try await tx.rows("""
            WITH u AS (SELECT * FROM unnest(\(keys)::text[], \(slots)::int4[], \(waits)::int8[]) AS u(key, n, wait_until)),
            mine AS MATERIALIZED (SELECT key FROM limit_cells WHERE key = ANY(\(keys)::text[]) ORDER BY key FOR UPDATE)
            UPDATE limit_cells c SET
                active = greatest(0, c.active - u.n),
                blocked_until = greatest(c.blocked_until, u.wait_until),
                wake_at = CASE WHEN c.held THEN least(c.wake_at, CASE WHEN u.n > 0 THEN \(now) END, nullif(u.wait_until, 0)) ELSE c.wake_at END
            FROM mine JOIN u ON u.key = mine.key
            WHERE c.key = mine.key
            RETURNING c.key, c.tat, c.active, c.blocked_until, c.wake_at, c.held, c.circuit, c.open_until, c.probe, c.wave_at, c.wave_used,
                      \(unescaped: Self.rulesVersionSQL)
            """) {
            let key = try seed(row)
            locked.insert(key)
            knowRulesVersion(try row[11].decode(Int64.self))
            if heldFlags[key] == true && counts[key, default: 0] > 0 { woke = true }
        }
        return woke
    }

    /// Deletes what is not worth keeping, at most `limit` of each: sliding-window starts that
    /// left their window, and cells with nothing in them (no active job, no start owed, no wait
    /// asked, no held job, a closed circuit) that no transaction holds. Completions leave idle
    /// cells; recovery's maintenance takes them.
    static func pruneIdle(limit: Int, _ tx: PGTransaction) async throws {
        try await tx.execute("""
            DELETE FROM limit_window WHERE ctid = ANY(ARRAY(SELECT ctid FROM limit_window WHERE frees_at <= \(tx.now) LIMIT \(limit)))
            """)
        try await tx.execute("""
            DELETE FROM limit_cells WHERE key IN (
                SELECT key FROM limit_cells
                WHERE active <= 0 AND tat <= \(tx.now) AND blocked_until <= \(tx.now) AND NOT held AND wake_at IS NULL AND circuit = 0
                LIMIT \(limit) FOR UPDATE SKIP LOCKED)
            """)
    }

    /// Held jobs per key (counted up to 100,000).
    static func waiting(_ keys: [String], _ tx: PGTransaction) async throws -> [String: Int] {
        guard !keys.isEmpty else { return [:] }
        var counts: [String: Int] = [:]
        for row in try await tx.rows("""
            SELECT u.key, (SELECT count(*) FROM (
                SELECT 1 FROM jobs WHERE parked_on = u.key AND state = \(unescaped: held) LIMIT 100000) AS h)::int8
            FROM unnest(\(keys)::text[]) AS u(key)
            """) {
            counts[try row[0].decode(String.self)] = Int(try row[1].decode(Int64.self))
        }
        return counts
    }

    // MARK: Circuits

    /// Reads the outcomes kept for the circuits of `keys` not read yet.
    mutating func loadStats(_ keys: [String], _ tx: PGTransaction) async throws {
        let fresh = Array(Set(keys.filter { kept[$0] == nil }))
        guard !fresh.isEmpty else { return }
        for key in fresh { kept[key] = .some(nil) }
        for row in try await tx.rows("""
            SELECT key, failures, recent, since_close, decayed_successes, decayed_total, decayed_at, changed_at
            FROM circuits WHERE key = ANY(\(fresh)::text[])
            """) {
            kept[try row[0].decode(String.self)] = .some(CircuitStats(
                failures: Int(try row[1].decode(Int32.self)), recent: try row[2].decode(String.self),
                sinceClose: Int(try row[3].decode(Int32.self)), decayedSuccesses: try row[4].decode(Double.self),
                decayedTotal: try row[5].decode(Double.self), decayedAt: try row[6].decode(Int64.self), changedAt: try row[7].decode(Int64.self)))
        }
    }

    /// The outcomes kept for `key`'s circuit (once read), nil with none.
    func stats(_ key: String) -> CircuitStats? { kept[key] ?? nil }

    /// `key`'s circuit as this transaction leaves it (its rule, cell and outcomes read).
    func circuitState(_ key: String) -> CircuitState {
        let rule = self.rule(for: key)
        return CircuitState(key: key, rule: rule?.settings.circuit == nil ? nil : rule?.pattern, breaker: rule?.settings.circuit,
                            cell: cell(key), stats: stats(key) ?? CircuitStats(), now: now)
    }

    /// Records a change of `key`'s circuit: ``apply(_:)`` writes it and stamps the outcomes'
    /// `changedAt`.
    private mutating func note(_ change: CircuitChange, key: String) {
        transitions.append((key, change))
    }

    /// Opens, closes or resets `key`'s circuit by hand (its cell locked first).
    mutating func changeCircuit(_ key: String, _ action: CircuitAction, reason: String, _ tx: PGTransaction) async throws {
        _ = try await lock([key], tx)
        try await loadStats([key], tx)
        let settings = self.settings(for: key)
        var cell = self.cell(key)
        let had = self.stats(key)
        if action != .open && !settings.knowsCircuit(cell, hasOutcomes: had != nil) {
            let known = try await tx.rows("SELECT key FROM circuits ORDER BY key LIMIT 20").map { try $0[0].decode(String.self) }
            throw PostgresBackend.unknownCircuit(key, known: known)
        }
        var stats = had ?? CircuitStats()
        let change = settings.circuitChanged(&cell, &stats, by: action, reason: reason)
        cells[key] = cell
        changed.insert(key)
        kept[key] = .some(stats)
        statsChanged.insert(key)
        note(change, key: key)
        // Its held jobs look again at once.
        if heldFlags[key] == true { wakes[key] = .some(now) }
    }

    // MARK: Writing back

    /// Writes the circuits' outcomes and transitions (the last ``CircuitTransition/historyLimit``
    /// per key), then the changed cells (a cell with nothing worth keeping is deleted), the
    /// marks of an enqueue and the sliding-window starts.
    mutating func apply(_ tx: PGTransaction) async throws {
        try await applyCircuits(tx)
        try await applyCells(tx)
        try await applyMarks(tx)
        if !windowStarts.isEmpty {
            let keys = windowStarts.map(\.key), frees = windowStarts.map(\.freesAt)
            windowStarts = []
            try await tx.execute("INSERT INTO limit_window (key, frees_at) SELECT * FROM unnest(\(keys)::text[], \(frees)::int8[])")
        }
    }

    private mutating func applyCells(_ tx: PGTransaction) async throws {
        let keys = changed.filter { locked.contains($0) }.sorted(by: Self.precedes)
        changed = []
        guard !keys.isEmpty else { return }
        var idle: [String] = []
        var columns = (keys: [String](), tats: [Int64](), active: [Int32](), blocked: [Int64](), wakes: [Int64](), held: [Bool](),
                       circuits: [Int16](), openUntil: [Int64](), probes: [Int64](), waveAt: [Int64](), waveUsed: [Int32]())
        for key in keys {
            let cell = self.cell(key), wake = wakes[key] ?? nil, held = heldFlags[key] ?? false
            if cell.isIdle(now: now) && wake == nil && !held {
                idle.append(key)
                continue
            }
            columns.keys.append(key)
            columns.tats.append(cell.tat)
            columns.active.append(Int32(clamping: cell.active))
            columns.blocked.append(cell.blockedUntil)
            columns.wakes.append(wake ?? -1)
            columns.held.append(held)
            columns.circuits.append(Int16(cell.circuit.rawValue))
            columns.openUntil.append(cell.openUntil)
            columns.probes.append(cell.probe)
            columns.waveAt.append(cell.waveAt)
            columns.waveUsed.append(Int32(clamping: cell.waveUsed))
        }
        if !idle.isEmpty { try await tx.execute("DELETE FROM limit_cells WHERE key = ANY(\(idle)::text[])") }
        guard !columns.keys.isEmpty else { return }
        try await tx.execute("""
            INSERT INTO limit_cells (key, tat, active, blocked_until, wake_at, held, circuit, open_until, probe, wave_at, wave_used)
            SELECT k, t, a, b, NULLIF(w, -1), h, c, o, p, wa, wu
            FROM unnest(\(columns.keys)::text[], \(columns.tats)::int8[], \(columns.active)::int4[], \(columns.blocked)::int8[],
                        \(columns.wakes)::int8[], \(columns.held)::bool[], \(columns.circuits)::int2[], \(columns.openUntil)::int8[],
                        \(columns.probes)::int8[], \(columns.waveAt)::int8[], \(columns.waveUsed)::int4[])
                 AS u(k, t, a, b, w, h, c, o, p, wa, wu)
            ON CONFLICT (key) DO UPDATE SET tat = excluded.tat, active = excluded.active, blocked_until = excluded.blocked_until,
                wake_at = excluded.wake_at, held = excluded.held, circuit = excluded.circuit, open_until = excluded.open_until,
                probe = excluded.probe, wave_at = excluded.wave_at, wave_used = excluded.wave_used
            """)
    }

    /// Marks the keys an enqueue held jobs on (without their locks until now): held, and
    /// looking again by the mark's time at the latest, whatever another transaction left.
    private mutating func applyMarks(_ tx: PGTransaction) async throws {
        guard !marks.isEmpty else { return }
        let keys = marks.keys.sorted(by: Self.precedes), wakes = keys.map { marks[$0]! }
        marks = [:]
        try await tx.execute("""
            INSERT INTO limit_cells AS c (key, held, wake_at)
            SELECT k, true, w FROM unnest(\(keys)::text[], \(wakes)::int8[]) AS u(k, w) ORDER BY k COLLATE "C"
            ON CONFLICT (key) DO UPDATE SET held = true, wake_at = least(c.wake_at, excluded.wake_at)
            """)
    }

    private mutating func applyCircuits(_ tx: PGTransaction) async throws {
        let stamped = Set(transitions.map(\.key))
        try await loadStats(Array(stamped), tx)
        for key in stamped {
            var stats = self.stats(key) ?? CircuitStats()
            stats.changedAt = now
            kept[key] = .some(stats)
            statsChanged.insert(key)
        }
        let saved = statsChanged.sorted(by: Self.precedes).compactMap { key in stats(key).map { (key, $0) } }
        statsChanged = []
        if !saved.isEmpty {
            let keys = saved.map(\.0), stats = saved.map(\.1)
            try await tx.execute("""
                INSERT INTO circuits (key, failures, recent, since_close, decayed_successes, decayed_total, decayed_at, changed_at)
                SELECT * FROM unnest(\(keys)::text[], \(stats.map { Int32(clamping: $0.failures) })::int4[], \(stats.map(\.recent))::text[],
                                     \(stats.map { Int32(clamping: $0.sinceClose) })::int4[], \(stats.map(\.decayedSuccesses))::float8[],
                                     \(stats.map(\.decayedTotal))::float8[], \(stats.map(\.decayedAt))::int8[], \(stats.map(\.changedAt))::int8[])
                ON CONFLICT (key) DO UPDATE SET failures = excluded.failures, recent = excluded.recent, since_close = excluded.since_close,
                    decayed_successes = excluded.decayed_successes, decayed_total = excluded.decayed_total,
                    decayed_at = excluded.decayed_at, changed_at = excluded.changed_at
                """)
        }
        guard !transitions.isEmpty else { return }
        let keys = transitions.map(\.key), changes = transitions.map(\.change)
        transitions = []
        // In order: the log's ids are drawn as its rows are inserted, and read newest first.
        try await tx.execute("""
            INSERT INTO circuit_log (key, at, from_phase, to_phase, reason)
            SELECT k, \(now), f, t, r FROM unnest(\(keys)::text[], \(changes.map { Int16($0.from.rawValue) })::int2[],
                                                   \(changes.map { Int16($0.to.rawValue) })::int2[], \(changes.map(\.reason))::text[])
                 WITH ORDINALITY AS u(k, f, t, r, o)
            ORDER BY o
            """)
        try await tx.execute("""
            DELETE FROM circuit_log l USING (
                SELECT k, (SELECT id FROM circuit_log WHERE key = k ORDER BY id DESC LIMIT 1 OFFSET \(CircuitTransition.historyLimit)) AS cut
                FROM unnest(\(Array(stamped))::text[]) AS k) AS old
            WHERE l.key = old.k AND l.id <= old.cut
            """)
    }
}
