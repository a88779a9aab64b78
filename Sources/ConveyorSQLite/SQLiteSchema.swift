import GRDB

/// The tables and indexes of a Conveyor SQLite store.
///
/// Times are microseconds since 1970. States are ``Conveyor/JobState`` raw values:
/// 0 scheduled, 1 ready, 2 active, 3 succeeded, 4 retrying, 5 dead, 6 cancelled, 7 waiting.
///
/// Batch counters (`batches.c_<state>`) move in the same transaction as every state change
/// of a member; ``BatchCounters`` applies them once per batch per transaction.
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
                -- Claims so far, never reset (attempt is, by retry): fences completions and heartbeats.
                lease_token INTEGER NOT NULL DEFAULT 0,
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
                result BLOB,
                -- A waiting job waits for its parent (a chain) or a batch (a callback, a chord);
                -- wait_kind is a BatchCondition: 1 all succeeded, 2 all finished, 3 all succeeded or fail.
                parent_id INTEGER,
                has_children INTEGER NOT NULL DEFAULT 0,
                wait_batch TEXT,
                wait_kind INTEGER
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
            -- Without the state, so that a member's state changes never touch this index.
            CREATE INDEX IF NOT EXISTS jobs_batch ON jobs(batch_id, id) WHERE batch_id IS NOT NULL;
            CREATE INDEX IF NOT EXISTS jobs_waiting ON jobs(wait_batch) WHERE state = 7;
            CREATE INDEX IF NOT EXISTS jobs_children ON jobs(parent_id) WHERE state = 7;
            CREATE TABLE IF NOT EXISTS queues (
                name TEXT PRIMARY KEY,
                paused INTEGER NOT NULL DEFAULT 0
            ) WITHOUT ROWID;
            CREATE TABLE IF NOT EXISTS batches (
                id TEXT PRIMARY KEY,
                name TEXT,
                created_at INTEGER NOT NULL,
                finished_at INTEGER,
                c_scheduled INTEGER NOT NULL DEFAULT 0,
                c_ready INTEGER NOT NULL DEFAULT 0,
                c_active INTEGER NOT NULL DEFAULT 0,
                c_succeeded INTEGER NOT NULL DEFAULT 0,
                c_retrying INTEGER NOT NULL DEFAULT 0,
                c_dead INTEGER NOT NULL DEFAULT 0,
                c_cancelled INTEGER NOT NULL DEFAULT 0,
                c_waiting INTEGER NOT NULL DEFAULT 0,
                on_success_job INTEGER,
                on_complete_job INTEGER
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

    static let stateColumns = ["c_scheduled", "c_ready", "c_active", "c_succeeded", "c_retrying", "c_dead", "c_cancelled", "c_waiting"]

    static func total(_ row: String) -> String {
        stateColumns.map { "\(row).\($0)" }.joined(separator: " + ")
    }
}
