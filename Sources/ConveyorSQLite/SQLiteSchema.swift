import Conveyor
import GRDB

/// The tables and indexes of a Conveyor SQLite store.
///
/// Times are microseconds since 1970. States are ``Conveyor/JobState`` raw values:
/// 0 scheduled, 1 ready, 2 active, 3 succeeded, 4 retrying, 5 dead, 6 cancelled, 7 waiting.
///
/// Batch counters (`batches.c_<state>`) move in the same transaction as every state change
/// of a member; ``BatchCounters`` applies them once per batch per transaction.
///
/// The schema grows through GRDB's `DatabaseMigrator`: each change is a named migration,
/// applied once, in order, to any file an earlier version made. Never edit a registered
/// migration; add one.
enum SQLiteSchema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        // Files made before the migrator have these tables already (`user_version` 1): every
        // statement is IF NOT EXISTS, so this migration only records them.
        migrator.registerMigration("v1 jobs, queues, batches, workers") { db in
            try db.execute(sql: v1)
        }
        migrator.registerMigration("v2 retention indexes") { db in
            try db.execute(sql: """
                -- Retention of finished batches, oldest first. (Finished jobs have no index of
                -- their own: one on finished_at cost every enqueue and completion 30-40 %;
                -- retention and purges walk ids in bounded windows instead.)
                CREATE INDEX IF NOT EXISTS batches_finished ON batches(finished_at) WHERE finished_at IS NOT NULL;
                PRAGMA user_version = 2;
                """)
        }
        migrator.registerMigration("v3 job headers") { db in
            try db.execute(sql: """
                -- A small string map carried to every attempt, as a JSON object ('' when empty).
                ALTER TABLE jobs ADD COLUMN headers TEXT NOT NULL DEFAULT '';
                PRAGMA user_version = 3;
                """)
        }
        migrator.registerMigration("v4 coordination and schedule slots") { db in
            try db.execute(sql: """
                -- A named leadership: its holder until expires_at; token grows with every new holder
                -- (the row stays after a release, holder NULL, so tokens never go back).
                CREATE TABLE IF NOT EXISTS leaderships (
                    name TEXT PRIMARY KEY,
                    holder TEXT,
                    token INTEGER NOT NULL,
                    expires_at INTEGER NOT NULL
                ) WITHOUT ROWID;
                -- Records changed by compare-and-set on their version.
                CREATE TABLE IF NOT EXISTS records (
                    key TEXT PRIMARY KEY,
                    value BLOB NOT NULL,
                    version INTEGER NOT NULL
                ) WITHOUT ROWID;
                -- Each schedule's last fired slot, kept apart from its jobs (which retention deletes).
                CREATE TABLE IF NOT EXISTS schedule_slots (
                    schedule TEXT PRIMARY KEY,
                    last_slot INTEGER NOT NULL
                ) WITHOUT ROWID;
                PRAGMA user_version = 4;
                """)
        }
        migrator.registerMigration("v5 queue counters") { db in
            // Each queue's jobs by state, kept by every transaction (as the batches' are), so
            // `queueStats` reads a row per queue. Filled once here from the jobs a file holds.
            try db.execute(sql: "INSERT OR IGNORE INTO queues (name) SELECT DISTINCT queue FROM jobs")
            for column in stateColumns {
                try db.execute(sql: "ALTER TABLE queues ADD COLUMN \(column) INTEGER NOT NULL DEFAULT 0")
            }
            for (state, column) in stateColumns.enumerated() {
                try db.execute(sql: "UPDATE queues SET \(column) = (SELECT count(*) FROM jobs WHERE jobs.queue = queues.name AND jobs.state = \(state))")
            }
            try db.execute(sql: "PRAGMA user_version = 5")
        }
        migrator.registerMigration("v6 dependency indexes") { db in
            try db.execute(sql: """
                -- Chain steps by parent and callbacks by batch, in every state: a retry looks for
                -- the steps its job's stop cancelled (state 6) and the callbacks its batch failed
                -- (state 5), which the waiting-only indexes did not cover, so every retried job
                -- scanned the table (a million-job file took minutes per 1,000 retries). Only
                -- chain steps and callbacks have these columns, so plain jobs pay nothing.
                CREATE INDEX IF NOT EXISTS jobs_parent ON jobs(parent_id) WHERE parent_id IS NOT NULL;
                CREATE INDEX IF NOT EXISTS jobs_callbacks ON jobs(wait_batch) WHERE wait_batch IS NOT NULL;
                DROP INDEX IF EXISTS jobs_children;
                DROP INDEX IF EXISTS jobs_waiting;
                PRAGMA user_version = 6;
                """)
        }
        migrator.registerMigration("v7 stored schedules") { db in
            try db.execute(sql: """
                -- Schedule definitions (JSON), each write taking the next number of one sequence
                -- (sequences row 'schedule'), so a version never comes back after a remove. The
                -- scheduler finds what is due through the partial index on next_fire: paused and
                -- on-demand schedules (next_fire NULL) are not in it.
                CREATE TABLE IF NOT EXISTS schedules (
                    name TEXT PRIMARY KEY,
                    definition BLOB NOT NULL,
                    version INTEGER NOT NULL,
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER NOT NULL,
                    next_fire INTEGER
                ) WITHOUT ROWID;
                CREATE INDEX IF NOT EXISTS schedules_due ON schedules(next_fire, name) WHERE next_fire IS NOT NULL;
                CREATE TABLE IF NOT EXISTS sequences (
                    name TEXT PRIMARY KEY,
                    value INTEGER NOT NULL
                ) WITHOUT ROWID;
                -- Each schedule's fire history, the newest \(ScheduleFireRecord.historyLimit) kept.
                CREATE TABLE IF NOT EXISTS schedule_fires (
                    id INTEGER PRIMARY KEY,
                    schedule TEXT NOT NULL,
                    slot INTEGER NOT NULL,
                    fired_at INTEGER NOT NULL,
                    outcome TEXT NOT NULL,
                    first_job INTEGER,
                    batch_id TEXT,
                    job_count INTEGER NOT NULL
                );
                CREATE INDEX IF NOT EXISTS schedule_fires_by_schedule ON schedule_fires(schedule, id);
                PRAGMA user_version = 7;
                """)
        }
        migrator.registerMigration("v8 flow control") { db in
            try db.execute(sql: """
                -- A job's limit keys, joined by spaces (NULL for none), and the key a held-back
                -- ready job waits on (state 8, read as ready: out of jobs_claim's range, so claims
                -- never look at it while it waits).
                ALTER TABLE jobs ADD COLUMN limit_keys TEXT;
                ALTER TABLE jobs ADD COLUMN parked_on TEXT;
                CREATE INDEX IF NOT EXISTS jobs_held ON jobs(parked_on, priority DESC, id) WHERE state = 8;
                -- Limits by key, prefix ('host:*') or '*': LimitSettings.storedForm.
                CREATE TABLE IF NOT EXISTS limit_rules (
                    pattern TEXT PRIMARY KEY,
                    settings TEXT NOT NULL,
                    updated_at INTEGER NOT NULL
                ) WITHOUT ROWID;
                -- Each busy key: its rate's theoretical arrival time, active jobs, the upstream's
                -- wait, and when its held jobs may go. Idle keys have no row.
                CREATE TABLE IF NOT EXISTS limit_cells (
                    key TEXT PRIMARY KEY,
                    tat INTEGER NOT NULL DEFAULT 0,
                    active INTEGER NOT NULL DEFAULT 0,
                    blocked_until INTEGER NOT NULL DEFAULT 0,
                    wake_at INTEGER
                ) WITHOUT ROWID;
                CREATE INDEX IF NOT EXISTS limit_cells_wake ON limit_cells(wake_at) WHERE wake_at IS NOT NULL;
                PRAGMA user_version = 8;
                """)
        }
        migrator.registerMigration("v9 limit cells know their held jobs") { db in
            try db.execute(sql: """
                -- 1 once the key has held jobs (until a release finds none left), so a completion
                -- frees its slot and wakes the key in one statement, without looking for them.
                ALTER TABLE limit_cells ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
                UPDATE limit_cells SET held = 1 WHERE EXISTS (SELECT 1 FROM jobs WHERE parked_on = limit_cells.key AND state = 8);
                PRAGMA user_version = 9;
                """)
        }
        migrator.registerMigration("v10 circuit breakers and sliding windows") { db in
            try db.execute(sql: """
                -- Each key's circuit (CircuitPhase), until when it is open, the probe's job id
                -- while half-open, and the wave under way while its held jobs go.
                ALTER TABLE limit_cells ADD COLUMN circuit INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE limit_cells ADD COLUMN open_until INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE limit_cells ADD COLUMN probe INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE limit_cells ADD COLUMN wave_at INTEGER NOT NULL DEFAULT 0;
                ALTER TABLE limit_cells ADD COLUMN wave_used INTEGER NOT NULL DEFAULT 0;
                -- The outcomes a key's breaker and reliability score count (CircuitStats).
                CREATE TABLE IF NOT EXISTS circuits (
                    key TEXT PRIMARY KEY,
                    failures INTEGER NOT NULL DEFAULT 0,
                    recent TEXT NOT NULL DEFAULT '',
                    since_close INTEGER NOT NULL DEFAULT 0,
                    decayed_successes REAL NOT NULL DEFAULT 0,
                    decayed_total REAL NOT NULL DEFAULT 0,
                    decayed_at INTEGER NOT NULL DEFAULT 0,
                    changed_at INTEGER NOT NULL DEFAULT 0
                ) WITHOUT ROWID;
                -- Every change of a key's circuit with its reason, the last 100 per key.
                CREATE TABLE IF NOT EXISTS circuit_log (
                    id INTEGER PRIMARY KEY,
                    key TEXT NOT NULL,
                    at INTEGER NOT NULL,
                    from_phase INTEGER NOT NULL,
                    to_phase INTEGER NOT NULL,
                    reason TEXT NOT NULL
                );
                CREATE INDEX IF NOT EXISTS circuit_log_key ON circuit_log(key, id);
                -- Sliding-window rates: when each recent start of a key leaves its window (µs).
                -- Counted per key while in the window; recovery's maintenance deletes the rest.
                CREATE TABLE IF NOT EXISTS limit_window (
                    key TEXT NOT NULL,
                    frees_at INTEGER NOT NULL
                );
                CREATE INDEX IF NOT EXISTS limit_window_key ON limit_window(key, frees_at);
                CREATE INDEX IF NOT EXISTS limit_window_frees ON limit_window(frees_at);
                PRAGMA user_version = 10;
                """)
        }
        return migrator
    }

    /// Brings the file's schema up to date. Refuses a file that a newer version of Conveyor
    /// migrated further than this one knows, instead of writing jobs it may not understand.
    static func migrate(_ database: DatabaseQueue, path: String) throws {
        let migrator = Self.migrator
        let superseded = try database.read { db in
            try db.tableExists("grdb_migrations") ? try migrator.hasBeenSuperseded(db) : false
        }
        if superseded {
            let known = Set(migrator.migrations)
            let all = try database.read { try String.fetchAll($0, sql: "SELECT identifier FROM grdb_migrations") }
            throw ConveyorError.storeFailure(
                "the SQLite store at \(path) was upgraded by a newer version of Conveyor (schema changes this one does not know: "
                    + all.filter { !known.contains($0) }.joined(separator: ", ") + "); run a version at least as new")
        }
        // Processes opening one new file at the same moment may race to apply a migration: the
        // loser's attempt fails on the record the winner wrote, and a second look finds it done.
        var attempt = 0
        while true {
            do {
                try migrator.migrate(database)
                return
            } catch {
                attempt += 1
                if attempt >= 3 { throw error }
            }
        }
    }

    /// The first schema, as files made before the migrator have it.
    static let v1 = """
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
            PRAGMA user_version = 1;
            """

    /// The stored state of a ready job held back by a limit key (read as ``JobState/ready``).
    static let heldState = 8

    /// The state a stored value stands for.
    static func state(_ stored: Int) -> JobState? {
        stored == heldState ? .ready : JobState(rawValue: stored)
    }

    /// The stored values of `states`, for an `IN (...)` list.
    static func storedValues(_ states: some Sequence<JobState>) -> [Int] {
        states.flatMap { $0 == .ready ? [$0.rawValue, heldState] : [$0.rawValue] }
    }

    static let stateColumns = ["c_scheduled", "c_ready", "c_active", "c_succeeded", "c_retrying", "c_dead", "c_cancelled", "c_waiting"]

    static func total(_ row: String) -> String {
        stateColumns.map { "\(row).\($0)" }.joined(separator: " + ")
    }
}
