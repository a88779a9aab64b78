import Conveyor
import Foundation
import Logging
import PostgresNIO

/// Jobs enqueued in the same transaction as the application's own rows.
///
/// ```swift
/// try await client.withTransaction(logger: logger) { connection in
///     try await connection.query("INSERT INTO sources (key, url) VALUES (\(key), \(url))", logger: logger)
///     try await store.enqueue([NewJob(name: "source.check", payload: payload)], in: connection)
/// }   // both or neither
/// ```
extension PostgresBackend: TransactionalEnqueue {
    /// Stores the jobs, as ``enqueue(_:)`` would, inside the open transaction on `connection`
    /// (the application's own connection to the same database). The store's tables are found in
    /// its schema whatever the connection's `search_path`, which is left as it was. Workers hear
    /// of the jobs through the coalesced notifications that follow (and their fallback timer):
    /// no `NOTIFY` is added to the caller's commit.
    ///
    /// - Throws: a ``ConveyorError`` for invalid jobs, or when `connection` is not inside a
    ///   transaction (the jobs would be committed on their own).
    @discardableResult
    public func enqueue(_ jobs: [NewJob], in connection: PostgresConnection) async throws -> [EnqueueResult] {
        guard !jobs.isEmpty else { return [] }
        try Self.validate(jobs)
        try await ensureSchema()
        do {
            // A savepoint exists only inside a transaction block (SQLSTATE 25P01 outside one).
            do {
                try await connection.query("SAVEPOINT conveyor_enqueue", logger: logger)
                try await connection.query("RELEASE SAVEPOINT conveyor_enqueue", logger: logger)
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == "25P01" {
                throw ConveyorError.storeFailure("enqueue(_:in:) needs a connection inside an open transaction (BEGIN, or client.withTransaction)")
            }
            let previousPath = try await connection.query("SELECT current_setting('search_path')", logger: logger).collect()[0].decode(String.self)
            try await connection.query("SELECT set_config('search_path', \(configuration.schema), true)", logger: logger)
            let now = try await PGTransaction.readNow(connection, offset: offset, logger: logger)
            let results = try await Self.insert(jobs, PGTransaction(connection: connection, now: now, logger: logger))
            try await connection.query("SELECT set_config('search_path', \(previousPath), true)", logger: logger)
            // Workers are told now and again shortly, once the caller has most likely committed.
            announceWork()
            Task { [self] in
                try? await Task.sleep(for: .milliseconds(250))
                announceWork()
            }
            return results
        } catch {
            throw Self.storeError(error, configuration)
        }
    }

    /// Runs `body` in one transaction on a connection of the store's pool, for the
    /// application's own rows and ``enqueue(_:in:)`` together: it commits when `body` returns
    /// and rolls back when it throws.
    public func transaction<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        try await ensureSchema()
        do {
            return try await client.withTransaction(logger: logger) { connection in try await body(connection) }
        } catch let error as PostgresTransactionError {
            // The body's own error, once the rollback went through, is the caller's to see as thrown.
            if let thrown = error.closureError, error.rollbackError == nil { throw thrown }
            throw Self.storeError(error.beginError ?? error.commitError ?? error.rollbackError ?? error, configuration)
        }
    }
}
