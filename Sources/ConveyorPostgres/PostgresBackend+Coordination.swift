import Conveyor
import Foundation
import PostgresNIO

extension PostgresBackend: ScheduleStore {
    public func acquireLeadership(_ name: String, holder: String, ttl: Duration) async throws -> Leadership? {
        let ttl = max(0, ttl.microseconds)
        return try await write { tx -> Leadership? in
            // The row (made once) is locked, so two candidates take turns.
            try await tx.execute("INSERT INTO leaderships (name, holder, token, expires_at) VALUES (\(name), NULL, 0, 0) ON CONFLICT DO NOTHING")
            let row = try await tx.rows("SELECT holder, token, expires_at FROM leaderships WHERE name = \(name) FOR UPDATE")[0]
            let currentHolder = try row[0].decode(String?.self)
            let currentToken = try row[1].decode(Int64.self)
            let expiresAt = try row[2].decode(Int64.self)
            let running = currentHolder != nil && expiresAt > tx.now
            if running && currentHolder != holder { return nil }
            // Renewing keeps the token; a new holder (or one coming back after expiry) gets the next.
            let token = running ? currentToken : currentToken + 1
            try await tx.execute("UPDATE leaderships SET holder = \(holder), token = \(token), expires_at = \(tx.now + ttl) WHERE name = \(name)")
            return Leadership(name: name, holder: holder, token: Int(token), expiresAt: Self.date(tx.now + ttl))
        }
    }

    public func releaseLeadership(_ leadership: Leadership) async throws {
        try await write { tx in
            try await tx.execute("UPDATE leaderships SET holder = NULL, expires_at = 0 WHERE name = \(leadership.name) AND token = \(Int64(leadership.token))")
        }
    }

    public func record(_ key: String) async throws -> VersionedRecord? {
        try await read("SELECT value, version FROM records WHERE key = \(key)").first.map {
            VersionedRecord(key: key, value: try $0[0].decode(Data.self), version: Int(try $0[1].decode(Int64.self)))
        }
    }

    public func compareAndSet(_ key: String, expectedVersion: Int?, value: Data) async throws -> VersionedRecord? {
        try await write { tx -> VersionedRecord? in
            let next = Int64((expectedVersion ?? 0) + 1)
            let written: [PostgresRandomAccessRow]
            if let expectedVersion {
                written = try await tx.rows("UPDATE records SET value = \(value), version = \(next) WHERE key = \(key) AND version = \(Int64(expectedVersion)) RETURNING version")
            } else {
                written = try await tx.rows("INSERT INTO records (key, value, version) VALUES (\(key), \(value), 1) ON CONFLICT DO NOTHING RETURNING version")
            }
            return written.isEmpty ? nil : VersionedRecord(key: key, value: value, version: Int(next))
        }
    }

    /// A round of fires in a fixed number of statements, however many fires and schedules: the
    /// versions and last slots are read at once (the slots locked), each fire is decided in
    /// order as if alone, then the slots, jobs, next fires and history are written together.
    public func fire(_ fires: [ScheduleFire], as leadership: Leadership) async throws -> [FireResult] {
        for fire in fires { try Self.validate(fire.jobs) }
        let results = try await write { tx -> [FireResult] in
            try await Self.checkLeadership(leadership, tx)
            let names = Array(Set(fires.map(\.schedule))).sorted()
            var versions: [String: Int] = [:]
            if fires.contains(where: { $0.version != nil }) {
                for row in try await tx.rows("SELECT name, version FROM schedules WHERE name = ANY(\(names))") {
                    versions[try row[0].decode(String.self)] = Int(try row[1].decode(Int64.self))
                }
            }
            // Locked in name order (two leaders in turn never meet the other way round).
            var lastSlots: [String: Int64] = [:]
            for row in try await tx.rows("SELECT schedule, last_slot FROM schedule_slots WHERE schedule = ANY(\(names)) ORDER BY schedule FOR UPDATE") {
                lastSlots[try row[0].decode(String.self)] = try row[1].decode(Int64.self)
            }
            enum Decision { case outdated(Int?), already(Int64), fires }
            var decisions: [Decision] = []
            var written: [String: Int64] = [:]
            for fire in fires {
                if let version = fire.version, versions[fire.schedule] != version {
                    decisions.append(.outdated(versions[fire.schedule]))
                    continue
                }
                let slot = Self.micros(fire.slot)
                if let last = lastSlots[fire.schedule], last >= slot {
                    decisions.append(.already(last))
                    continue
                }
                lastSlots[fire.schedule] = slot
                written[fire.schedule] = slot
                decisions.append(.fires)
            }
            if !written.isEmpty {
                let order = written.keys.sorted()
                try await tx.execute("""
                    INSERT INTO schedule_slots (schedule, last_slot)
                    SELECT * FROM unnest(\(order)::text[], \(order.map { written[$0]! })::int8[])
                    ON CONFLICT (schedule) DO UPDATE SET last_slot = excluded.last_slot
                    """)
            }
            // Every fired job in one insert, handed back to its fire by position.
            let firing = fires.indices.filter { if case .fires = decisions[$0] { true } else { false } }
            let jobs = firing.flatMap { fires[$0].jobs }
            let made = jobs.isEmpty ? [] : try await Self.insert(jobs, tx)
            var madeByFire: [Int: [EnqueueResult]] = [:]
            var offset = 0
            for index in firing {
                madeByFire[index] = Array(made[offset..<offset + fires[index].jobs.count])
                offset += fires[index].jobs.count
            }
            // The next fire each schedule's last fire of the round says.
            var nextFires: [String: Int64?] = [:]
            for index in firing where fires[index].version != nil { nextFires[fires[index].schedule] = fires[index].nextFire.map(Self.micros) }
            if !nextFires.isEmpty {
                let order = nextFires.keys.sorted()
                // Int64.min stands for "no next fire" (arrays carry no NULLs here).
                try await tx.execute("""
                    UPDATE schedules SET next_fire = NULLIF(v.next_fire, \(Int64.min))
                    FROM unnest(\(order)::text[], \(order.map { nextFires[$0]! ?? .min })::int8[]) AS v(name, next_fire) WHERE schedules.name = v.name
                    """)
            }
            let firedAt = Self.date(tx.now)
            try await Self.addHistory(firing.map { (fires[$0].schedule, ScheduleFireRecord.of(fires[$0], slot: fires[$0].slot, firedAt: firedAt, results: madeByFire[$0]!)) }, tx)
            return fires.indices.map { index in
                switch decisions[index] {
                case .outdated(let version): .outdated(version: version)
                case .already(let last): .alreadyFired(lastSlot: Self.date(last))
                case .fires: .fired(madeByFire[index]!)
                }
            }
        }
        if results.contains(where: { if case .fired(let made) = $0 { !made.isEmpty } else { false } }) { announceWork() }
        return results
    }

    public func fireNow(_ fire: ScheduleFire) async throws -> FireResult {
        try Self.validate(fire.jobs)
        let result = try await write { tx -> FireResult in
            if let version = fire.version {
                let current = try await Self.version(of: fire.schedule, tx)
                if current != version { return .outdated(version: current) }
            }
            let made = fire.jobs.isEmpty ? [] : try await Self.insert(fire.jobs, tx)
            var entry = ScheduleFireRecord.of(fire, slot: Self.date(tx.now), firedAt: Self.date(tx.now), results: made)
            entry.outcome = .ranNow
            try await Self.addHistory([(fire.schedule, entry)], tx)
            return .fired(made)
        }
        if case .fired(let made) = result, !made.isEmpty { announceWork() }
        return result
    }

    public func lastFiredSlot(_ schedule: String) async throws -> Date? {
        try await read("SELECT last_slot FROM schedule_slots WHERE schedule = \(schedule)").first.map { Self.date(try $0[0].decode(Int64.self)) }
    }

    public func saveSchedule(_ schedule: Schedule, if condition: WriteCondition) async throws -> StoredSchedule? {
        try schedule.validate()
        let definition = try schedule.encodedDefinition()
        return try await write { tx -> StoredSchedule? in
            // Locked (or its absence seen) before the condition is weighed.
            let current = try await tx.rows("SELECT version FROM schedules WHERE name = \(schedule.name) FOR UPDATE").first
                .map { Int(try $0[0].decode(Int64.self)) }
            guard condition.admits(current) else { return nil }
            let nextFire: Int64? = schedule.isIndexed ? tx.now : nil
            try await tx.execute("""
                INSERT INTO schedules (name, definition, version, created_at, updated_at, next_fire)
                VALUES (\(schedule.name), \(definition), nextval('schedule_versions'), \(tx.now), \(tx.now), \(nextFire))
                ON CONFLICT (name) DO UPDATE SET definition = excluded.definition, version = excluded.version,
                    updated_at = excluded.updated_at, next_fire = excluded.next_fire
                """)
            return try await Self.stored(named: schedule.name, tx)
        }
    }

    public func schedule(named name: String) async throws -> StoredSchedule? {
        try await write { tx in try await Self.stored(named: name, tx) }
    }

    public func schedules(after name: String?, limit: Int) async throws -> [StoredSchedule] {
        let limit = min(max(0, limit), 10_000)
        return try await write { tx in
            var all: [StoredSchedule] = []
            for row in try await tx.rows(PostgresQuery(unsafeSQL: "\(Self.scheduleColumns) WHERE s.name > $1 ORDER BY s.name LIMIT \(limit)", binds: Self.bindings(name ?? ""))) {
                all.append(try await Self.stored(row, tx))
            }
            return all
        }
    }

    public func removeSchedule(named name: String, if condition: WriteCondition) async throws -> Bool {
        try await write { tx -> Bool in
            guard let current = try await Self.version(of: name, tx, lock: true), condition.admits(current) else { return false }
            try await tx.execute("DELETE FROM schedules WHERE name = \(name)")
            try await tx.execute("DELETE FROM schedule_fires WHERE schedule = \(name)")
            return true
        }
    }

    public func dueSchedules(limit: Int) async throws -> DueSchedules {
        let limit = min(max(0, limit), 10_000)
        return try await write { tx in
            let rows = try await tx.rows(PostgresQuery(unsafeSQL: """
                \(Self.scheduleColumns) WHERE s.next_fire IS NOT NULL AND s.next_fire <= \(tx.now) ORDER BY s.next_fire, s.name LIMIT \(limit)
                """))
            var due: [StoredSchedule] = []
            for row in rows { due.append(try await Self.stored(row, tx)) }
            let next: Int64?
            if let last = rows.last {
                let lastFire = try last["next_fire"].decode(Int64.self), lastName = try last["name"].decode(String.self)
                next = try await tx.rows("""
                    SELECT next_fire FROM schedules WHERE next_fire IS NOT NULL AND (next_fire > \(lastFire) OR (next_fire = \(lastFire) AND name > \(lastName)))
                    ORDER BY next_fire, name LIMIT 1
                    """).first.map { try $0[0].decode(Int64.self) }
            } else {
                next = try await tx.rows("SELECT min(next_fire) FROM schedules WHERE next_fire IS NOT NULL").first.flatMap { try $0[0].decode(Int64?.self) }
            }
            return DueSchedules(now: Self.date(tx.now), schedules: due, nextFire: next.map(Self.date))
        }
    }

    public func reschedule(_ changes: [ScheduleReschedule], as leadership: Leadership) async throws -> [Bool] {
        try await write { tx -> [Bool] in
            try await Self.checkLeadership(leadership, tx)
            var written: [Bool] = []
            for change in changes {
                let rows = try await tx.rows("""
                    UPDATE schedules SET next_fire = \(change.nextFire.map(Self.micros)) WHERE name = \(change.schedule) AND version = \(Int64(change.version)) RETURNING 1
                    """)
                written.append(!rows.isEmpty)
            }
            return written
        }
    }

    public func fireHistory(of schedule: String, limit: Int) async throws -> [ScheduleFireRecord] {
        let limit = min(max(0, limit), ScheduleFireRecord.historyLimit)
        return try await read("SELECT slot, fired_at, outcome, first_job, batch_id, job_count FROM schedule_fires WHERE schedule = \(schedule) ORDER BY id DESC LIMIT \(limit)")
            .map { try Self.fireRecord($0) }
    }

    // MARK: Helpers

    private static func checkLeadership(_ leadership: Leadership, _ tx: PGTransaction) async throws {
        // Shared lock: a new holder taking over waits until this fire committed.
        let current = try await tx.rows("SELECT token, expires_at FROM leaderships WHERE name = \(leadership.name) AND holder IS NOT NULL FOR SHARE").first
        guard let current, Int(try current[0].decode(Int64.self)) == leadership.token, try current[1].decode(Int64.self) > tx.now else {
            throw ConveyorError.notLeader(leadership.name)
        }
    }

    private static func version(of schedule: String, _ tx: PGTransaction, lock: Bool = false) async throws -> Int? {
        let rows = lock
            ? try await tx.rows("SELECT version FROM schedules WHERE name = \(schedule) FOR UPDATE")
            : try await tx.rows("SELECT version FROM schedules WHERE name = \(schedule)")
        return try rows.first.map { Int(try $0[0].decode(Int64.self)) }
    }

    /// Records fires in one statement, then keeps each schedule's newest entries (one
    /// statement per schedule: at most as many older entries go as were added, found through
    /// the index).
    private static func addHistory(_ entries: [(schedule: String, record: ScheduleFireRecord)], _ tx: PGTransaction) async throws {
        guard !entries.isEmpty else { return }
        // No first job is 0 (ids start at 1), no batch '' (arrays carry no NULLs here).
        try await tx.execute("""
            INSERT INTO schedule_fires (schedule, slot, fired_at, outcome, first_job, batch_id, job_count)
            SELECT s, sl, f, o, NULLIF(j, 0), NULLIF(b, ''), c
            FROM unnest(\(entries.map(\.schedule))::text[], \(entries.map { micros($0.record.slot) })::int8[],
                        \(entries.map { micros($0.record.firedAt) })::int8[], \(entries.map(\.record.outcome.rawValue))::text[],
                        \(entries.map { $0.record.firstJob?.rawValue ?? 0 })::int8[], \(entries.map { $0.record.batchID ?? "" })::text[],
                        \(entries.map { Int32($0.record.jobCount) })::int4[]) AS u(s, sl, f, o, j, b, c)
            """)
        for schedule in Set(entries.map(\.schedule)).sorted() {
            try await tx.execute("""
                DELETE FROM schedule_fires WHERE schedule = \(schedule) AND id <= (
                    SELECT id FROM schedule_fires WHERE schedule = \(schedule) ORDER BY id DESC LIMIT 1 OFFSET \(ScheduleFireRecord.historyLimit))
                """)
        }
    }

    /// A schedule with its last slot and its newest fire (one row, however many schedules are read).
    private static let scheduleColumns = """
        SELECT s.name, s.definition, s.version, s.created_at, s.updated_at, s.next_fire,
               (SELECT last_slot FROM schedule_slots WHERE schedule = s.name) AS last_slot,
               f.slot, f.fired_at, f.outcome, f.first_job, f.batch_id, f.job_count
        FROM schedules s LEFT JOIN LATERAL (
            SELECT slot, fired_at, outcome, first_job, batch_id, job_count FROM schedule_fires WHERE schedule = s.name ORDER BY id DESC LIMIT 1) f ON true
        """

    private static func stored(named name: String, _ tx: PGTransaction) async throws -> StoredSchedule? {
        guard let row = try await tx.rows(PostgresQuery(unsafeSQL: "\(scheduleColumns) WHERE s.name = $1", binds: bindings(name))).first else { return nil }
        return try await stored(row, tx)
    }

    private static func stored(_ row: PostgresRandomAccessRow, _ tx: PGTransaction) async throws -> StoredSchedule {
        let name = try row["name"].decode(String.self)
        let hasFired = try row["fired_at"].decode(Int64?.self) != nil
        return StoredSchedule(
            schedule: try Schedule.decodeDefinition(try row["definition"].decode(Data.self), name: name),
            version: Int(try row["version"].decode(Int64.self)),
            createdAt: date(try row["created_at"].decode(Int64.self)), updatedAt: date(try row["updated_at"].decode(Int64.self)),
            lastSlot: try row["last_slot"].decode(Int64?.self).map(date), nextFire: try row["next_fire"].decode(Int64?.self).map(date),
            lastFire: hasFired ? try fireRecord(row, from: 7) : nil)
    }

    /// A fire record from six columns starting at `first`.
    private static func fireRecord(_ row: PostgresRandomAccessRow, from first: Int = 0) throws -> ScheduleFireRecord {
        ScheduleFireRecord(
            slot: date(try row[first].decode(Int64.self)), firedAt: date(try row[first + 1].decode(Int64.self)),
            outcome: ScheduleFireRecord.Outcome(rawValue: try row[first + 2].decode(String.self)) ?? .fired,
            firstJob: try row[first + 3].decode(Int64?.self).map { JobID(rawValue: $0) }, batchID: try row[first + 4].decode(String?.self),
            jobCount: Int(try row[first + 5].decode(Int32.self)))
    }
}
