import GRDB

/// The tables and indexes of a Conveyor SQLite store.
///
/// Times are microseconds since 1970. States are ``Conveyor/JobState`` raw values:
/// 0 scheduled, 1 ready, 2 active, 3 succeeded, 4 retrying, 5 dead, 6 cancelled.
enum SQLiteSchema {
    static let version = 1

    static func migrate(_ db: Database) throws {
        let current = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
        guard current < version else { return }
        try db.execute(sql: """
            CREATE TABLE IF NOT EXISTS jobs (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                name TEXT NOT NULL,
                queue TEXT NOT NULL,
                payload BLOB NOT NULL,
                priority INTEGER NOT NULL,
                state INTEGER NOT NULL,
                attempt INTEGER NOT NULL DEFAULT 0,
                max_attempts INTEGER NOT NULL,
                timeout_us INTEGER NOT NULL,
                run_at INTEGER NOT NULL,
                created_at INTEGER NOT NULL,
                started_at INTEGER,
                finished_at INTEGER,
                unique_key TEXT,
                batch_id TEXT,
                worker_id TEXT,
                lease_expires_at INTEGER,
                error_kind INTEGER,
                error_message TEXT,
                result BLOB
            );
            -- Serves claims without a sort: the first ready rows of a queue, highest priority, oldest first.
            CREATE INDEX IF NOT EXISTS jobs_claim ON jobs(queue, state, priority DESC, id);
            -- Due scheduled and retrying jobs.
            CREATE INDEX IF NOT EXISTS jobs_due ON jobs(run_at) WHERE state IN (0, 4);
            -- Expired leases.
            CREATE INDEX IF NOT EXISTS jobs_lease ON jobs(lease_expires_at) WHERE state = 2;
            -- A unique key is held while its job is not dead or cancelled.
            CREATE UNIQUE INDEX IF NOT EXISTS jobs_unique ON jobs(unique_key)
                WHERE unique_key IS NOT NULL AND state NOT IN (5, 6);
            CREATE INDEX IF NOT EXISTS jobs_batch ON jobs(batch_id, state) WHERE batch_id IS NOT NULL;
            CREATE TABLE IF NOT EXISTS queues (
                name TEXT PRIMARY KEY,
                paused INTEGER NOT NULL DEFAULT 0
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS batches (
                id TEXT PRIMARY KEY,
                created_at INTEGER NOT NULL
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS workers (
                id TEXT PRIMARY KEY,
                hostname TEXT NOT NULL,
                pid INTEGER NOT NULL,
                queues TEXT NOT NULL,
                concurrency INTEGER NOT NULL,
                started_at INTEGER NOT NULL,
                last_seen_at INTEGER NOT NULL,
                running INTEGER NOT NULL
            ) WITHOUT ROWID;
            PRAGMA user_version = \(version);
            """)
    }
}
