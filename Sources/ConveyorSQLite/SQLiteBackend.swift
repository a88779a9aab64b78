import Conveyor
import Foundation
import GRDB
import Logging
import Synchronization

/// The embedded default store: one SQLite file in WAL mode, shared safely by any number
/// of processes on one machine.
///
/// Durability: with `synchronous = .normal` (the default) a committed enqueue survives a
/// crash of any process; with `.full` it also survives a power loss, at some cost in speed.
///
/// ```swift
/// let store = try SQLiteBackend(path: "conveyor.sqlite")
/// ```
public final class SQLiteBackend: JobBackend {
    public struct Configuration: Sendable {
        public enum Synchronous: String, Sendable {
            /// Survives process crashes; a power loss may drop the last transactions.
            case normal = "NORMAL"
            /// Survives power loss: every commit is fsynced.
            case full = "FULL"
        }
        public var path: String
        public var synchronous: Synchronous
        /// How long a writer waits for another process's write to finish.
        public var busyTimeout: Duration
        /// Watch the database for other processes' enqueues (inotify), so idle workers wake at once.
        public var crossProcessWakeUps: Bool
        /// How long finished jobs (succeeded, dead, cancelled) are kept before workers delete
        /// them, a bounded number per recovery pass; `nil` keeps them until `conveyor purge`.
        /// 7 days by default, as on Redis.
        public var retention: Duration?
        /// Most jobs one call promotes, recovers, deletes by retention or purges, so no call
        /// holds the single writer for long.
        public var stepLimit: Int
        /// Where the store reads the time, inside each write transaction.
        public var clock: any StoreClock

        public init(
            path: String, synchronous: Synchronous = .normal, busyTimeout: Duration = .seconds(30), crossProcessWakeUps: Bool = true,
            retention: Duration? = .seconds(7 * 86_400), stepLimit: Int = 1000, clock: any StoreClock = SystemClock()
        ) {
            self.path = path
            self.synchronous = synchronous
            self.busyTimeout = busyTimeout
            self.crossProcessWakeUps = crossProcessWakeUps
            self.retention = retention
            self.stepLimit = max(1, stepLimit)
            self.clock = clock
        }
    }

    public let configuration: Configuration
    let database: DatabaseQueue
    public let workSignal = AsyncSignal()
    public let completionSignal = AsyncSignal()
    /// Where retention's walk over ids goes on (see `deleteExpiredFinished`).
    let retentionCursor = Mutex<Int64>(0)
    /// Limit rules by key, as of a version of the rules table (sequences row 'limit_rules').
    let limitRuleCache = LimitRuleCache()
    private let workFile: WakeFile
    private let doneFile: WakeFile

    public convenience init(path: String) throws {
        try self.init(configuration: Configuration(path: path))
    }

    public init(configuration: Configuration) throws {
        self.configuration = configuration
        var grdb = GRDB.Configuration()
        grdb.busyMode = .timeout(configuration.busyTimeout.seconds)
        grdb.label = "conveyor.sqlite"
        let synchronous = configuration.synchronous.rawValue
        grdb.prepareDatabase { db in
            try db.execute(sql: "PRAGMA journal_mode = WAL")
            try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
        }
        do {
            database = try DatabaseQueue(path: configuration.path, configuration: grdb)
            try SQLiteSchema.migrate(database, path: configuration.path)
        } catch let error as ConveyorError {
            throw error
        } catch {
            throw ConveyorError.storeFailure("cannot open the SQLite store at \(configuration.path): \(error)")
        }
        let watch = configuration.crossProcessWakeUps
        workFile = try WakeFile(path: configuration.path + "-work", signal: workSignal, watch: watch)
        doneFile = try WakeFile(path: configuration.path + "-done", signal: completionSignal, watch: watch)
    }

    /// Runs `body` in one IMMEDIATE transaction on the store's own queue, off the cooperative
    /// pool, with the store's time read once the transaction holds the write lock (µs since 1970):
    /// a wait for another process's write never shortens a lease granted here.
    func write<T: Sendable>(_ body: @escaping @Sendable (Database, _ now: Int64) throws -> T) async throws -> T {
        let clock = configuration.clock
        return try await database.writeWithoutTransaction { db in
            var result: T?
            try db.inTransaction(.immediate) {
                result = try body(db, micros(clock.now()))
                return .commit
            }
            return result!
        }
    }

    /// The store's time now, µs since 1970.
    var now: Int64 { micros(configuration.clock.now()) }

    func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try await database.read(body)
    }

    /// Work may have arrived: wake workers here and in other processes.
    func announceWork() {
        workSignal.notify()
        if configuration.crossProcessWakeUps { workFile.touch() }
    }

    /// Jobs may have finished: wake result waiters here and in other processes.
    func announceCompletions() {
        completionSignal.notify()
        if configuration.crossProcessWakeUps { doneFile.touch() }
    }
}
