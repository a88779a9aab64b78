import Conveyor
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import Synchronization

/// The PostgreSQL store: for teams whose data already lives in PostgreSQL. Workers on any
/// number of machines claim with `FOR UPDATE SKIP LOCKED`, hear of new work through
/// `LISTEN`/`NOTIFY` (coalesced, never on a job's own commit), and an application enqueues
/// inside its own transaction (``enqueue(_:in:)``), so a job exists exactly when the rows it
/// refers to were committed.
///
/// ```swift
/// let store = try PostgresBackend(url: "postgres://app@db.internal/app?schema=conveyor")
/// ```
///
/// The store's tables live in one schema (`conveyor` by default), made and migrated at first
/// use. Times are the server's (`clock_timestamp()`), read inside each transaction.
public final class PostgresBackend: JobBackend, @unchecked Sendable {
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        public var username: String
        public var password: String?
        public var database: String
        /// Where the store's tables live: lower-case letters, digits and `_`.
        public var schema: String
        public var tls: TLSMode
        /// Most connections the store opens (one more listens for wake-ups).
        public var maximumConnections: Int
        /// How long finished jobs are kept before maintenance deletes them, a bounded number per
        /// pass; `nil` keeps them until `conveyor purge`. 7 days by default, as on the other stores.
        public var retention: Duration?
        /// Most jobs one call promotes, recovers, deletes by retention or purges.
        public var stepLimit: Int
        /// Shortest time between two wake-up notifications of one kind from this process: a
        /// burst of enqueues costs at most one `NOTIFY` per interval, never one per commit.
        public var notifyInterval: Duration
        /// For tests only: shifts the server's clock by this clock's offset.
        public var clock: ManualStoreClock?

        public enum TLSMode: String, Sendable {
            case disable, prefer, require
        }

        public init(
            host: String = "127.0.0.1", port: Int = 5432, username: String = "postgres", password: String? = nil,
            database: String = "postgres", schema: String = "conveyor", tls: TLSMode = .prefer, maximumConnections: Int = 16,
            retention: Duration? = .seconds(7 * 86_400), stepLimit: Int = 1000, notifyInterval: Duration = .milliseconds(100),
            clock: ManualStoreClock? = nil
        ) {
            self.host = host
            self.port = port
            self.username = username
            self.password = password
            self.database = database
            self.schema = schema
            self.tls = tls
            self.maximumConnections = max(2, maximumConnections)
            self.retention = retention
            self.stepLimit = max(1, stepLimit)
            self.notifyInterval = notifyInterval
            self.clock = clock
        }

        /// `postgres://user:password@host:port/database?schema=…&sslmode=…` (also `postgresql://`).
        public init(url text: String) throws {
            self.init()
            guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), scheme == "postgres" || scheme == "postgresql" else {
                throw ConveyorError.invalidStoreURL(text, reason: "not a postgres:// or postgresql:// URL")
            }
            if let host = url.host, !host.isEmpty { self.host = host }
            if let port = url.port { self.port = port }
            if let user = url.user, !user.isEmpty { username = user.removingPercentEncoding ?? user }
            password = url.password.map { $0.removingPercentEncoding ?? $0 }
            let path = url.path.hasPrefix("/") ? String(url.path.dropFirst()) : url.path
            if !path.isEmpty { database = path }
            for item in URLComponents(string: text)?.queryItems ?? [] {
                let value = item.value ?? ""
                switch item.name {
                case "schema":
                    schema = value
                case "sslmode":
                    switch value {
                    case "disable": tls = .disable
                    case "allow", "prefer": tls = .prefer
                    case "require", "verify-ca", "verify-full": tls = .require
                    default: throw ConveyorError.invalidStoreURL(text, reason: "sslmode must be disable, prefer or require, not '\(value)'")
                    }
                case "pool":
                    guard let size = Int(value), size >= 2, size <= 500 else {
                        throw ConveyorError.invalidStoreURL(text, reason: "pool must be a number of connections from 2 to 500, not '\(value)'")
                    }
                    maximumConnections = size
                case "retention":
                    if value == "forever" {
                        retention = nil
                    } else {
                        guard let seconds = Int(value), seconds > 0 else {
                            throw ConveyorError.invalidStoreURL(text, reason: "retention must be a whole number of seconds or 'forever', not '\(value)'")
                        }
                        retention = .seconds(seconds)
                    }
                default:
                    throw ConveyorError.invalidStoreURL(
                        text, reason: "unknown option '\(item.name)'; the PostgreSQL store takes schema, sslmode=disable|prefer|require, pool and retention=seconds|forever")
                }
            }
            if let problem = Self.schemaProblem(schema) { throw ConveyorError.invalidStoreURL(text, reason: problem) }
        }

        static func schemaProblem(_ schema: String) -> String? {
            let allowed = Set("abcdefghijklmnopqrstuvwxyz0123456789_")
            guard let first = schema.first, first.isLetter || first == "_", schema.allSatisfy(allowed.contains), schema.count <= 48 else {
                return "schema '\(schema)' must be 1 to 48 lower-case letters, digits or '_', starting with a letter or '_'"
            }
            return nil
        }
    }

    public let configuration: Configuration
    public let workSignal = AsyncSignal()
    public let completionSignal = AsyncSignal()
    let client: PostgresClient
    let logger: Logger
    private let runTask: Task<Void, Never>
    /// The wake-up listener, started once the server has answered (a one-shot command against
    /// a server that is down fails with one clear error, not a listener's warnings too).
    private let listener = Mutex<Task<Void, Never>?>(nil)
    let notifier: Notifier
    /// Set once the schema is known to be migrated.
    private let ready = Mutex<Bool>(false)
    /// Where retention's walk over ids goes on.
    let retentionCursor = Mutex<Int64>(0)
    /// Limit rules by key, as of a version of the rules (sequences row 'limit_rules').
    let limitRuleCache = LimitRuleCache()

    public convenience init(url: String) throws {
        try self.init(configuration: Configuration(url: url))
    }

    /// Opens the store. Nothing is connected until the first call, which also makes and
    /// migrates the schema; a server that is down fails that call, naming the server.
    public init(configuration: Configuration) throws {
        if let problem = Configuration.schemaProblem(configuration.schema) { throw ConveyorError.storeFailure(problem) }
        self.configuration = configuration
        var logger = Logger(label: "conveyor.postgres")
        logger.logLevel = .warning
        self.logger = logger
        var pool = PostgresClient.Configuration(
            host: configuration.host, port: configuration.port, username: configuration.username, password: configuration.password,
            database: configuration.database, tls: Self.tls(configuration.tls))
        pool.options.maximumConnections = configuration.maximumConnections
        pool.options.minimumConnections = 0
        pool.options.additionalStartupParameters = [("search_path", configuration.schema), ("application_name", "conveyor")]
        let client = PostgresClient(configuration: pool, backgroundLogger: logger)
        self.client = client
        runTask = Task { await client.run() }
        notifier = Notifier(client: client, channel: "conveyor_\(configuration.schema)", interval: configuration.notifyInterval, logger: logger)
    }

    var channel: String { "conveyor_\(configuration.schema)" }

    deinit {
        listener.withLock { $0?.cancel() }
        runTask.cancel()
    }

    /// Closes the connections. Calls after it fail.
    public func shutdown() {
        listener.withLock { $0?.cancel() }
        runTask.cancel()
    }

    private func startListening() {
        listener.withLock { task in
            guard task == nil else { return }
            task = Task { [workSignal, completionSignal, configuration, channel, logger] in
                await Self.listen(configuration, channel: channel, work: workSignal, done: completionSignal, logger: logger)
            }
        }
    }

    static func tls(_ mode: Configuration.TLSMode) -> PostgresClient.Configuration.TLS {
        switch mode {
        case .disable: .disable
        case .prefer: .prefer(.makeClientConfiguration())
        case .require: .require(.makeClientConfiguration())
        }
    }

    /// The test clock's shift, µs.
    var offset: Int64 { configuration.clock?.offset.microseconds ?? 0 }

    /// The store's time now (the server's clock), µs since 1970.
    func now() async throws -> Int64 {
        try await withConnection { connection in try await PGTransaction.readNow(connection, offset: self.offset, logger: self.logger) }
    }

    // MARK: Transactions

    /// Runs `body` in one transaction, with the server's time read inside it. Serialization
    /// failures and deadlocks (two transactions that met in the other order) run it again.
    func write<T: Sendable>(_ body: @Sendable (PGTransaction) async throws -> T) async throws -> T {
        try await ensureSchema()
        var attempt = 0
        while true {
            do {
                return try await client.withConnection { connection in
                    try await connection.query("BEGIN", logger: logger)
                    do {
                        let now = try await PGTransaction.readNow(connection, offset: offset, logger: logger)
                        let result = try await body(PGTransaction(connection: connection, now: now, logger: logger))
                        try await connection.query("COMMIT", logger: logger)
                        return result
                    } catch {
                        _ = try? await connection.query("ROLLBACK", logger: logger)
                        throw error
                    }
                }
            } catch let error as PSQLError where Self.isRetryable(error) && attempt < 8 {
                attempt += 1
                try await Task.sleep(for: .milliseconds(Int.random(in: 1...(5 * attempt))))
            } catch {
                throw Self.storeError(error, configuration)
            }
        }
    }

    /// A connection for reads (each statement its own snapshot).
    func withConnection<T: Sendable>(_ body: @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await ensureSchema()
        do {
            return try await client.withConnection { connection in try await body(connection) }
        } catch {
            throw Self.storeError(error, configuration)
        }
    }

    /// Rows of one read.
    func read(_ query: PostgresQuery) async throws -> [PostgresRandomAccessRow] {
        try await withConnection { connection in
            try await connection.query(query, logger: self.logger).collect().map { $0.makeRandomAccess() }
        }
    }

    static func isRetryable(_ error: PSQLError) -> Bool {
        guard let state = error.serverInfo?[.sqlState] else { return false }
        // serialization_failure, deadlock_detected, and a unique key two enqueues raced for.
        return state == "40001" || state == "40P01" || state == "23505"
    }

    /// A ``ConveyorError`` naming the server and what went wrong.
    static func storeError(_ error: any Error, _ configuration: Configuration) -> any Error {
        if error is ConveyorError || error is CancellationError { return error }
        let place = "the PostgreSQL store at \(configuration.host):\(configuration.port)/\(configuration.database) (schema \(configuration.schema))"
        if let error = error as? PSQLError {
            if let message = error.serverInfo?[.message] {
                let state = error.serverInfo?[.sqlState] ?? "?"
                return ConveyorError.storeFailure("\(place) refused a statement: \(message) (SQLSTATE \(state))")
            }
            // The cause (refused, timed out, TLS, authentication) without the query text.
            let cause = error.underlying.map { "\($0)" } ?? "\(error.code)"
            return ConveyorError.storeFailure("cannot reach \(place): \(cause)")
        }
        if "\(type(of: error))".contains("ConnectionPoolError") {
            return ConveyorError.storeFailure("cannot reach \(place): every connection attempt failed")
        }
        return ConveyorError.storeFailure("\(place): \(error)")
    }

    /// Makes and migrates the schema once per process (and waits for another process doing it),
    /// on a connection of its own: a server that is down or refuses the login fails here, once,
    /// within the connect timeout, with the cause (the pool would keep retrying for a minute).
    func ensureSchema() async throws {
        if ready.withLock({ $0 }) { return }
        do {
            let connection = try await PostgresConnection.connect(configuration: Self.connectionConfiguration(configuration), id: 1, logger: logger)
            do {
                try await PostgresSchema.migrate(connection, schema: configuration.schema, logger: logger)
            } catch {
                try? await connection.close()
                throw error
            }
            try? await connection.close()
        } catch {
            throw Self.storeError(error, configuration)
        }
        ready.withLock { $0 = true }
        startListening()
    }

    static func connectionConfiguration(_ configuration: Configuration) -> PostgresConnection.Configuration {
        var connection = PostgresConnection.Configuration(
            host: configuration.host, port: configuration.port, username: configuration.username,
            password: configuration.password, database: configuration.database, tls: connectionTLS(configuration.tls))
        connection.options.connectTimeout = .seconds(10)
        return connection
    }

    // MARK: Wake-ups

    /// Work may have arrived: wake workers here at once, and in other processes with a coalesced `NOTIFY`.
    func announceWork() {
        workSignal.notify()
        notifier.send(.work)
    }

    /// Jobs may have finished: wake result waiters here and in other processes.
    func announceCompletions() {
        completionSignal.notify()
        notifier.send(.done)
    }

    /// Holds one connection that listens on the store's channel and turns its notifications
    /// into the signals; reconnects after a failure (and wakes everyone, in case one was missed).
    static func listen(_ configuration: Configuration, channel: String, work: AsyncSignal, done: AsyncSignal, logger: Logger) async {
        var failures = 0
        while !Task.isCancelled {
            do {
                let connection = try await PostgresConnection.connect(configuration: connectionConfiguration(configuration), id: 0, logger: logger)
                do {
                    try await connection.listen(on: channel) { notifications in
                        failures = 0
                        work.notify()
                        done.notify()
                        for try await notification in notifications {
                            if notification.payload == Notifier.Kind.done.rawValue { done.notify() } else { work.notify() }
                        }
                    }
                } catch {
                    try? await connection.close()
                    throw error
                }
                try? await connection.close()
            } catch {
                if Task.isCancelled { return }
                failures += 1
                if failures == 1 {
                    logger.warning("the PostgreSQL store's wake-up listener lost its connection; workers poll until it is back: \(storeError(error, configuration))")
                }
            }
            try? await Task.sleep(for: .milliseconds(min(5_000, 100 * (1 << min(failures, 6)))))
        }
    }

    static func connectionTLS(_ mode: Configuration.TLSMode) -> PostgresConnection.Configuration.TLS {
        switch mode {
        case .disable: .disable
        case .prefer: .prefer(try! .init(configuration: .makeClientConfiguration()))
        case .require: .require(try! .init(configuration: .makeClientConfiguration()))
        }
    }
}

/// One transaction's connection and the store's time in it (µs since 1970).
struct PGTransaction: Sendable {
    let connection: PostgresConnection
    let now: Int64
    let logger: Logger

    @discardableResult
    func rows(_ query: PostgresQuery) async throws -> [PostgresRandomAccessRow] {
        try await connection.query(query, logger: logger).collect().map { $0.makeRandomAccess() }
    }

    func execute(_ query: PostgresQuery) async throws {
        _ = try await connection.query(query, logger: logger).collect()
    }

    static func readNow(_ connection: PostgresConnection, offset: Int64, logger: Logger) async throws -> Int64 {
        let rows = try await connection.query(
            "SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::int8 + \(offset)", logger: logger).collect()
        return try rows[0].decode(Int64.self)
    }
}

/// Coalesced `NOTIFY`s: at most one of each kind per interval from this process, sent on a
/// pooled connection outside any job's transaction (a `NOTIFY` inside one would take the
/// server's global notify lock at every commit).
final class Notifier: Sendable {
    enum Kind: String, Sendable { case work = "w", done = "d" }

    private struct State {
        var lastSent: [Kind: ContinuousClock.Instant] = [:]
        var pending: Set<Kind> = []
    }

    private let client: PostgresClient
    private let channel: String
    private let interval: Duration
    private let logger: Logger
    private let state = Mutex(State())

    init(client: PostgresClient, channel: String, interval: Duration, logger: Logger) {
        self.client = client
        self.channel = channel
        self.interval = interval
        self.logger = logger
    }

    func send(_ kind: Kind) {
        let now = ContinuousClock.now
        let delay: Duration? = state.withLock { state in
            if state.pending.contains(kind) { return nil }
            state.pending.insert(kind)
            guard let last = state.lastSent[kind] else { return .zero }
            return max(.zero, last + interval - now)
        }
        guard let delay else { return }
        Task { [self] in
            if delay > .zero { try? await Task.sleep(for: delay) }
            state.withLock { state in
                state.pending.remove(kind)
                state.lastSent[kind] = ContinuousClock.now
            }
            do {
                _ = try await client.query("SELECT pg_notify(\(channel), \(kind.rawValue))", logger: logger).collect()
            } catch {
                logger.debug("NOTIFY failed (workers poll instead): \(error)")
            }
        }
    }
}
