import Conveyor
import Foundation
import GRDB

extension SQLiteBackend: ScheduleStore {
    public func acquireLeadership(_ name: String, holder: String, ttl: Duration) async throws -> Leadership? {
        let ttl = max(0, ttl.microseconds)
        return try await write { db, now -> Leadership? in
            let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT holder, token, expires_at FROM leaderships WHERE name = ?"), arguments: [name])
            let currentHolder: String? = row?["holder"]
            let currentToken: Int = row?["token"] ?? 0
            let expiresAt: Int64 = row?["expires_at"] ?? 0
            let running = currentHolder != nil && expiresAt > now
            if running && currentHolder != holder { return nil }
            // Renewing keeps the token; a new holder (or one coming back after expiry) gets the next.
            let token = running ? currentToken : currentToken + 1
            try db.cachedStatement(sql: """
                INSERT INTO leaderships (name, holder, token, expires_at) VALUES (?1, ?2, ?3, ?4)
                ON CONFLICT(name) DO UPDATE SET holder = ?2, token = ?3, expires_at = ?4
                """).execute(arguments: [name, holder, token, now + ttl])
            return Leadership(name: name, holder: holder, token: token, expiresAt: date(micros: now + ttl))
        }
    }

    public func releaseLeadership(_ leadership: Leadership) async throws {
        try await write { db, _ in
            try db.cachedStatement(sql: "UPDATE leaderships SET holder = NULL, expires_at = 0 WHERE name = ? AND token = ?").execute(arguments: [leadership.name, leadership.token])
        }
    }

    public func record(_ key: String) async throws -> VersionedRecord? {
        try await read { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT value, version FROM records WHERE key = ?"), arguments: [key]).map {
                VersionedRecord(key: key, value: $0["value"], version: $0["version"])
            }
        }
    }

    public func compareAndSet(_ key: String, expectedVersion: Int?, value: Data) async throws -> VersionedRecord? {
        try await write { db, _ -> VersionedRecord? in
            let version = try Int.fetchOne(db.cachedStatement(sql: "SELECT version FROM records WHERE key = ?"), arguments: [key])
            guard version == expectedVersion else { return nil }
            let next = (expectedVersion ?? 0) + 1
            try db.cachedStatement(sql: "INSERT INTO records (key, value, version) VALUES (?1, ?2, ?3) ON CONFLICT(key) DO UPDATE SET value = ?2, version = ?3").execute(arguments: [key, value, next])
            return VersionedRecord(key: key, value: value, version: next)
        }
    }

    public func fire(_ fires: [ScheduleFire], as leadership: Leadership) async throws -> [FireResult] {
        for fire in fires { try NewJob.validateDependencies(fire.jobs) }
        let results = try await write { db, now -> [FireResult] in
            try Self.checkLeadership(leadership, db, now: now)
            var results: [FireResult] = []
            for fire in fires {
                if let version = fire.version {
                    let current = try Self.version(of: fire.schedule, db)
                    if current != version {
                        results.append(.outdated(version: current))
                        continue
                    }
                }
                let slot = micros(fire.slot)
                if let last = try Int64.fetchOne(db.cachedStatement(sql: "SELECT last_slot FROM schedule_slots WHERE schedule = ?"), arguments: [fire.schedule]),
                   last >= slot {
                    results.append(.alreadyFired(lastSlot: date(micros: last)))
                    continue
                }
                try db.cachedStatement(sql: "INSERT INTO schedule_slots (schedule, last_slot) VALUES (?1, ?2) ON CONFLICT(schedule) DO UPDATE SET last_slot = ?2").execute(arguments: [fire.schedule, slot])
                let made = fire.jobs.isEmpty ? [] : try Self.insert(fire.jobs, db, now: now)
                if fire.version != nil {
                    try db.cachedStatement(sql: "UPDATE schedules SET next_fire = ? WHERE name = ?").execute(arguments: [fire.nextFire.map(micros), fire.schedule])
                }
                try Self.addHistory(.of(fire, slot: fire.slot, firedAt: date(micros: now), results: made), of: fire.schedule, db)
                results.append(.fired(made))
            }
            return results
        }
        if results.contains(where: { if case .fired(let made) = $0 { !made.isEmpty } else { false } }) { announceWork() }
        return results
    }

    public func fireNow(_ fire: ScheduleFire) async throws -> FireResult {
        try NewJob.validateDependencies(fire.jobs)
        let result = try await write { db, now -> FireResult in
            if let version = fire.version {
                let current = try Self.version(of: fire.schedule, db)
                if current != version { return .outdated(version: current) }
            }
            let made = fire.jobs.isEmpty ? [] : try Self.insert(fire.jobs, db, now: now)
            var entry = ScheduleFireRecord.of(fire, slot: date(micros: now), firedAt: date(micros: now), results: made)
            entry.outcome = .ranNow
            try Self.addHistory(entry, of: fire.schedule, db)
            return .fired(made)
        }
        if case .fired(let made) = result, !made.isEmpty { announceWork() }
        return result
    }

    public func lastFiredSlot(_ schedule: String) async throws -> Date? {
        try await read { db in
            try Int64.fetchOne(db.cachedStatement(sql: "SELECT last_slot FROM schedule_slots WHERE schedule = ?"), arguments: [schedule]).map { date(micros: $0) }
        }
    }

    public func saveSchedule(_ schedule: Schedule, if condition: WriteCondition) async throws -> StoredSchedule? {
        try schedule.validate()
        let definition = try schedule.encodedDefinition()
        return try await write { db, now -> StoredSchedule? in
            guard condition.admits(try Self.version(of: schedule.name, db)) else { return nil }
            let version = try Int.fetchOne(db.cachedStatement(sql: """
                INSERT INTO sequences (name, value) VALUES ('schedule', 1)
                ON CONFLICT(name) DO UPDATE SET value = value + 1 RETURNING value
                """))!
            try db.cachedStatement(sql: """
                INSERT INTO schedules (name, definition, version, created_at, updated_at, next_fire) VALUES (?1, ?2, ?3, ?4, ?4, ?5)
                ON CONFLICT(name) DO UPDATE SET definition = ?2, version = ?3, updated_at = ?4, next_fire = ?5
                """).execute(arguments: [schedule.name, definition, version, now, schedule.isIndexed ? now : nil])
            return try Self.stored(named: schedule.name, db)
        }
    }

    public func schedule(named name: String) async throws -> StoredSchedule? {
        try await read { db in try Self.stored(named: name, db) }
    }

    public func schedules(after name: String?, limit: Int) async throws -> [StoredSchedule] {
        let limit = min(max(0, limit), 10_000)
        return try await read { db in
            let rows = try Row.fetchAll(db.cachedStatement(sql: "\(Self.scheduleColumns) WHERE s.name > ? ORDER BY s.name LIMIT ?"), arguments: [name ?? "", limit])
            return try rows.map { try Self.stored($0, db) }
        }
    }

    public func removeSchedule(named name: String, if condition: WriteCondition) async throws -> Bool {
        try await write { db, _ -> Bool in
            guard let current = try Self.version(of: name, db), condition.admits(current) else { return false }
            try db.cachedStatement(sql: "DELETE FROM schedules WHERE name = ?").execute(arguments: [name])
            try db.cachedStatement(sql: "DELETE FROM schedule_fires WHERE schedule = ?").execute(arguments: [name])
            return true
        }
    }

    public func dueSchedules(limit: Int) async throws -> DueSchedules {
        let limit = min(max(0, limit), 10_000)
        let clock = configuration.clock
        return try await read { db in
            let now = micros(clock.now())
            let rows = try Row.fetchAll(db.cachedStatement(sql: """
                \(Self.scheduleColumns) INDEXED BY schedules_due WHERE s.next_fire IS NOT NULL AND s.next_fire <= ?
                ORDER BY s.next_fire, s.name LIMIT ?
                """), arguments: [now, limit])
            let due = try rows.map { try Self.stored($0, db) }
            let next: Int64?
            if let last = rows.last {
                next = try Int64.fetchOne(db.cachedStatement(sql: """
                    SELECT next_fire FROM schedules INDEXED BY schedules_due
                    WHERE next_fire IS NOT NULL AND (next_fire > ?1 OR (next_fire = ?1 AND name > ?2)) ORDER BY next_fire, name LIMIT 1
                    """), arguments: [last["next_fire"] as Int64, last["name"] as String])
            } else {
                next = try Int64.fetchOne(db.cachedStatement(sql: "SELECT min(next_fire) FROM schedules WHERE next_fire IS NOT NULL"))
            }
            return DueSchedules(now: date(micros: now), schedules: due, nextFire: next.map { date(micros: $0) })
        }
    }

    public func reschedule(_ changes: [ScheduleReschedule], as leadership: Leadership) async throws -> [Bool] {
        try await write { db, now -> [Bool] in
            try Self.checkLeadership(leadership, db, now: now)
            return try changes.map { change in
                try db.cachedStatement(sql: "UPDATE schedules SET next_fire = ? WHERE name = ? AND version = ?").execute(arguments: [change.nextFire.map(micros), change.schedule, change.version])
                return db.changesCount > 0
            }
        }
    }

    public func fireHistory(of schedule: String, limit: Int) async throws -> [ScheduleFireRecord] {
        let limit = min(max(0, limit), ScheduleFireRecord.historyLimit)
        return try await read { db in
            try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM schedule_fires WHERE schedule = ? ORDER BY id DESC LIMIT ?"), arguments: [schedule, limit])
                .map(Self.fireRecord)
        }
    }

    // MARK: Helpers

    private static func checkLeadership(_ leadership: Leadership, _ db: Database, now: Int64) throws {
        let current = try Row.fetchOne(db.cachedStatement(sql: "SELECT token, expires_at FROM leaderships WHERE name = ? AND holder IS NOT NULL"), arguments: [leadership.name])
        guard let current, (current["token"] as Int) == leadership.token, (current["expires_at"] as Int64) > now else {
            throw ConveyorError.notLeader(leadership.name)
        }
    }

    private static func version(of schedule: String, _ db: Database) throws -> Int? {
        try Int.fetchOne(db.cachedStatement(sql: "SELECT version FROM schedules WHERE name = ?"), arguments: [schedule])
    }

    private static func addHistory(_ record: ScheduleFireRecord, of schedule: String, _ db: Database) throws {
        try db.cachedStatement(sql: """
            INSERT INTO schedule_fires (schedule, slot, fired_at, outcome, first_job, batch_id, job_count) VALUES (?, ?, ?, ?, ?, ?, ?)
            """).execute(arguments: [schedule, micros(record.slot), micros(record.firedAt), record.outcome.rawValue,
                             record.firstJob?.rawValue, record.batchID, record.jobCount])
        // Keeps the newest entries: at most one older entry goes per fire, found through the index.
        try db.cachedStatement(sql: """
            DELETE FROM schedule_fires WHERE schedule = ?1 AND id <= (
                SELECT id FROM schedule_fires WHERE schedule = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)
            """).execute(arguments: [schedule, ScheduleFireRecord.historyLimit])
    }

    private static let scheduleColumns = """
        SELECT s.name, s.definition, s.version, s.created_at, s.updated_at, s.next_fire,
               (SELECT last_slot FROM schedule_slots WHERE schedule = s.name) AS last_slot
        FROM schedules s
        """

    private static func stored(named name: String, _ db: Database) throws -> StoredSchedule? {
        try Row.fetchOne(db.cachedStatement(sql: "\(scheduleColumns) WHERE s.name = ?"), arguments: [name]).map { try stored($0, db) }
    }

    private static func stored(_ row: Row, _ db: Database) throws -> StoredSchedule {
        let name: String = row["name"]
        let last = try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM schedule_fires WHERE schedule = ? ORDER BY id DESC LIMIT 1"), arguments: [name])
        return StoredSchedule(
            schedule: try Schedule.decodeDefinition(row["definition"], name: name), version: row["version"],
            createdAt: date(micros: row["created_at"]), updatedAt: date(micros: row["updated_at"]),
            lastSlot: (row["last_slot"] as Int64?).map { date(micros: $0) }, nextFire: (row["next_fire"] as Int64?).map { date(micros: $0) },
            lastFire: last.map(fireRecord))
    }

    private static func fireRecord(_ row: Row) -> ScheduleFireRecord {
        ScheduleFireRecord(
            slot: date(micros: row["slot"]), firedAt: date(micros: row["fired_at"]),
            outcome: ScheduleFireRecord.Outcome(rawValue: row["outcome"]) ?? .fired,
            firstJob: (row["first_job"] as Int64?).map { JobID(rawValue: $0) }, batchID: row["batch_id"], jobCount: row["job_count"])
    }
}
