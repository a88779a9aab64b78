import Conveyor
import Foundation
import GRDB

extension SQLiteBackend: ScheduleStore {
    public func acquireLeadership(_ name: String, holder: String, ttl: Duration) async throws -> Leadership? {
        let ttl = max(0, ttl.microseconds)
        return try await write { db, now -> Leadership? in
            let row = try Row.fetchOne(db, sql: "SELECT holder, token, expires_at FROM leaderships WHERE name = ?", arguments: [name])
            let currentHolder: String? = row?["holder"]
            let currentToken: Int = row?["token"] ?? 0
            let expiresAt: Int64 = row?["expires_at"] ?? 0
            let running = currentHolder != nil && expiresAt > now
            if running && currentHolder != holder { return nil }
            // Renewing keeps the token; a new holder (or one coming back after expiry) gets the next.
            let token = running ? currentToken : currentToken + 1
            try db.execute(sql: """
                INSERT INTO leaderships (name, holder, token, expires_at) VALUES (?1, ?2, ?3, ?4)
                ON CONFLICT(name) DO UPDATE SET holder = ?2, token = ?3, expires_at = ?4
                """, arguments: [name, holder, token, now + ttl])
            return Leadership(name: name, holder: holder, token: token, expiresAt: date(micros: now + ttl))
        }
    }

    public func releaseLeadership(_ leadership: Leadership) async throws {
        try await write { db, _ in
            try db.execute(sql: "UPDATE leaderships SET holder = NULL, expires_at = 0 WHERE name = ? AND token = ?",
                           arguments: [leadership.name, leadership.token])
        }
    }

    public func record(_ key: String) async throws -> VersionedRecord? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT value, version FROM records WHERE key = ?", arguments: [key]).map {
                VersionedRecord(key: key, value: $0["value"], version: $0["version"])
            }
        }
    }

    public func compareAndSet(_ key: String, expectedVersion: Int?, value: Data) async throws -> VersionedRecord? {
        try await write { db, _ -> VersionedRecord? in
            let version = try Int.fetchOne(db, sql: "SELECT version FROM records WHERE key = ?", arguments: [key])
            guard version == expectedVersion else { return nil }
            let next = (expectedVersion ?? 0) + 1
            try db.execute(sql: "INSERT INTO records (key, value, version) VALUES (?1, ?2, ?3) ON CONFLICT(key) DO UPDATE SET value = ?2, version = ?3",
                           arguments: [key, value, next])
            return VersionedRecord(key: key, value: value, version: next)
        }
    }

    public func fire(_ fires: [ScheduleFire], as leadership: Leadership) async throws -> [FireResult] {
        for fire in fires { try NewJob.validateDependencies(fire.jobs) }
        let results = try await write { db, now -> [FireResult] in
            let current = try Row.fetchOne(db, sql: "SELECT token, expires_at FROM leaderships WHERE name = ? AND holder IS NOT NULL",
                                           arguments: [leadership.name])
            guard let current, (current["token"] as Int) == leadership.token, (current["expires_at"] as Int64) > now else {
                throw ConveyorError.notLeader(leadership.name)
            }
            var results: [FireResult] = []
            for fire in fires {
                let slot = micros(fire.slot)
                if let last = try Int64.fetchOne(db, sql: "SELECT last_slot FROM schedule_slots WHERE schedule = ?", arguments: [fire.schedule]),
                   last >= slot {
                    results.append(.alreadyFired(lastSlot: date(micros: last)))
                    continue
                }
                try db.execute(sql: "INSERT INTO schedule_slots (schedule, last_slot) VALUES (?1, ?2) ON CONFLICT(schedule) DO UPDATE SET last_slot = ?2",
                               arguments: [fire.schedule, slot])
                results.append(.fired(fire.jobs.isEmpty ? [] : try Self.insert(fire.jobs, db, now: now)))
            }
            return results
        }
        if results.contains(where: { if case .fired(let made) = $0 { !made.isEmpty } else { false } }) { announceWork() }
        return results
    }

    public func lastFiredSlot(_ schedule: String) async throws -> Date? {
        try await read { db in
            try Int64.fetchOne(db, sql: "SELECT last_slot FROM schedule_slots WHERE schedule = ?", arguments: [schedule]).map { date(micros: $0) }
        }
    }
}
