import Conveyor
import GRDB

/// Jobs enqueued in the same transaction as the application's own rows, in the store's file.
///
/// ```swift
/// try await store.transaction { db in
///     try db.execute(sql: "INSERT INTO sources (key, url) VALUES (?, ?)", arguments: [key, url])
///     try store.enqueue([NewJob(name: "source.check", payload: payload)], in: db)
/// }   // both or neither
/// ```
extension SQLiteBackend: TransactionalEnqueue {
    /// Stores the jobs inside `db`'s open write transaction: the caller's own (a GRDB
    /// connection of its own to this file works too) or one from ``transaction(_:)``. The
    /// time is read from the store's clock now; workers are woken when the transaction
    /// commits, and a rollback drops the jobs with everything else.
    ///
    /// - Throws: a ``ConveyorError`` for invalid jobs, or when `db` is not inside a
    ///   transaction (the jobs would be committed on their own).
    @discardableResult
    public func enqueue(_ jobs: [NewJob], in db: Database) throws -> [EnqueueResult] {
        guard db.isInsideTransaction else {
            throw ConveyorError.storeFailure("enqueue(_:in:) needs an open write transaction; use transaction { db in … } or your own db.inTransaction")
        }
        guard !jobs.isEmpty else { return [] }
        try NewJob.validateDependencies(jobs)
        let results = try Self.insert(jobs, db, now: micros(configuration.clock.now()))
        db.afterNextTransaction(onCommit: { [weak self] _ in self?.announceWork() })
        return results
    }

    /// Runs `body` in one write transaction of the store's file (IMMEDIATE, so it waits its
    /// turn instead of failing on a busy writer), for the application's own rows and
    /// ``enqueue(_:in:)`` together. It commits when `body` returns and rolls back when it throws.
    public func transaction<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await write { db, _ in try body(db) }
    }
}
