import Conveyor
import ConveyorRedisClient
import Foundation
import Logging
import NIOCore
import Synchronization

/// The store for many machines: every worker, on any host, points at one Redis.
///
/// Each contract operation is one Lua script call for the whole bulk (see ``RedisScripts``),
/// so a claim of 500 jobs or a completion of 500 outcomes is one round trip, applied
/// atomically. Idle workers block on Redis (`BLPOP` on a wake list per queue, with the claim
/// pipelined behind it), so a job enqueued on one host starts on another within about a
/// millisecond, with no polling.
///
/// Durability is Redis's: with AOF `appendfsync always` an acknowledged enqueue survives a
/// Redis crash; with `everysec` (Redis's default when AOF is on) up to a second of writes can
/// be lost; with persistence off, a Redis restart loses everything. Finished jobs and their
/// results are deleted after ``Configuration/retention``.
///
/// ```swift
/// let store = try RedisBackend(url: "redis://10.0.0.5:6379/0")
/// ```
public final class RedisBackend: JobBackend {
    public struct Configuration: Sendable {
        public var redis: RedisConfiguration
        /// Keeps several Conveyor installations apart in one Redis; it is the keys' hash tag,
        /// so on Redis Cluster all of one namespace's keys live in one slot.
        public var namespace: String
        /// How long succeeded, dead and cancelled jobs (and their results) are kept; a finished
        /// batch goes once its jobs have.
        public var retention: Duration
        /// How many ids (or batch members) one listing or purge script looks at before it hands
        /// back a cursor to continue from, so walking millions of jobs never holds Redis long.
        public var listingBudget = 5000
        /// Call the store's Lua as a Redis Functions library (`FCALL`, Redis 7+); off, or on an
        /// older Redis, as scripts (`EVALSHA`). Default on.
        public var useFunctions = true
        /// The longest an idle worker blocks on Redis before it looks again (it also wakes
        /// for work, for its next scheduled job, and when it stops). Default 2 s.
        public var longestWait: Duration = .seconds(2)
        /// Most expired leases one recovery call returns and most finished jobs one retention
        /// pass deletes, so no call holds Redis for long. Default 2,000.
        public var stepLimit = 2000
        /// For tests only: shifts Redis's clock (every script reads `TIME`) by this clock's
        /// offset, so a suite moves the store's time without sleeping. `nil` in production.
        public var clock: ManualStoreClock?

        public init(redis: RedisConfiguration, namespace: String = "conveyor", retention: Duration = .seconds(7 * 86_400)) {
            self.redis = redis
            self.namespace = namespace
            self.retention = retention
        }

        /// `redis://[[user]:password@]host[:port][/db][?namespace=name&retention=seconds]`
        /// (`rediss://` for TLS).
        public init(url: String) throws {
            let shown = Self.redacted(url)
            var location = url
            var namespace = "conveyor"
            var retention = Duration.seconds(7 * 86_400)
            if let mark = url.firstIndex(of: "?") {
                location = String(url[..<mark])
                for pair in url[url.index(after: mark)...].split(separator: "&") {
                    let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
                    let value = parts.count > 1 ? parts[1] : ""
                    switch parts[0] {
                    case "namespace" where !value.isEmpty && !value.contains("{") && !value.contains("}"):
                        namespace = value
                    case "retention":
                        guard let seconds = Int(value), seconds > 0 else {
                            throw ConveyorError.invalidStoreURL(shown, reason: "retention must be a whole number of seconds, not '\(value)'")
                        }
                        retention = .seconds(seconds)
                    default:
                        throw ConveyorError.invalidStoreURL(
                            shown, reason: "unknown option '\(pair)'; the Redis store takes namespace=name (no braces) and retention=seconds")
                    }
                }
            }
            let redis: RedisConfiguration
            do {
                redis = try RedisConfiguration(url: location)
            } catch {
                throw ConveyorError.invalidStoreURL(shown, reason: error.message.replacingOccurrences(of: url, with: shown))
            }
            self.init(redis: redis, namespace: namespace, retention: retention)
        }

        /// The URL with its password replaced by `***`, for messages and logs.
        public static func redacted(_ url: String) -> String {
            guard let scheme = url.range(of: "://"), let at = url[scheme.upperBound...].firstIndex(of: "@") else { return url }
            let userInfo = url[scheme.upperBound..<at]
            guard let colon = userInfo.firstIndex(of: ":") else { return url }
            return String(url[..<url.index(after: colon)]) + "***" + String(url[at...])
        }
    }

    public let configuration: Configuration
    let client: RedisConnectionPool
    /// `{namespace}:`, the start of every key.
    let prefix: String
    /// Notified by this process's own changes; also interrupts its workers' blocking waits.
    public let workSignal: AsyncSignal
    public let completionSignal = AsyncSignal()
    let waits: BlockingWaits
    private let completions: CompletionListener
    let logger: Logger
    /// Whether to call the function library (Redis 7+); false once Redis says it has no FCALL,
    /// or when ``Configuration/useFunctions`` is off.
    let useFunctions: Atomic<Bool>
    /// Whether this namespace's record layout was found to be ours (checked once).
    private let layoutChecked = Atomic<Bool>(false)

    /// The version of the record layout this store reads and writes (see ``RedisScripts``).
    public static let layoutVersion = 2

    public convenience init(url: String, logger: Logger = Logger(label: "conveyor.redis")) throws {
        try self.init(configuration: Configuration(url: url), logger: logger)
    }

    public init(configuration: Configuration, logger: Logger = Logger(label: "conveyor.redis")) {
        self.configuration = configuration
        self.logger = logger
        useFunctions = Atomic(configuration.useFunctions)
        prefix = "{\(configuration.namespace)}:"
        client = RedisConnectionPool(configuration: configuration.redis, logger: logger)
        let waits = BlockingWaits(configuration: configuration.redis, pool: client, logger: logger)
        self.waits = waits
        workSignal = AsyncSignal(onNotify: { waits.interrupt() })
        completions = CompletionListener(configuration: configuration.redis, channel: prefix + "done", signal: completionSignal, logger: logger)
    }

    deinit {
        completions.stop()
        let client = client, waits = waits
        Task {
            await waits.close()
            await client.close()
        }
    }

    /// Stops the completion listener and closes the connections.
    public func close() async {
        completions.stop()
        await waits.close()
        await client.close()
    }

    // MARK: Calling Redis

    /// Runs `script` with the namespace as its key; a store-level error becomes a
    /// `ConveyorError` naming Redis and the operation.
    ///
    /// On Redis 7 and later it calls the operation's function in ``RedisScripts/library``
    /// (loaded on first use); an older Redis, which does not know `FCALL`, gets the same Lua as
    /// a script (`EVALSHA`) from then on.
    func run(_ script: StoreScript, _ operation: String, _ arguments: [RESPArgument]) async throws -> RESPValue {
        if !layoutChecked.load(ordering: .relaxed) { try await checkLayout() }
        return try await call(script, operation, arguments)
    }

    /// Refuses a namespace whose records another version of Conveyor wrote in a layout this one
    /// does not know, instead of misreading (and then corrupting) its jobs.
    private func checkLayout() async throws {
        let reply = try await call(RedisScripts.layout, "check the record layout", [clockOffset, .int(Self.layoutVersion)])
        guard let found = reply.string.flatMap({ Int($0) }) else { throw unexpected("check the record layout", reply) }
        guard found == Self.layoutVersion else {
            throw ConveyorError.storeFailure(
                "Redis at \(configuration.redis.endpoint), namespace '\(configuration.namespace)', holds jobs in record layout \(found); "
                    + "this version of Conveyor reads layout \(Self.layoutVersion) only. "
                    + (found < Self.layoutVersion
                        ? "Drain it with the version that wrote it, or use another namespace (?namespace=name)."
                        : "Run a version at least as new as the one that wrote it."))
        }
        layoutChecked.store(true, ordering: .relaxed)
    }

    /// `ARGV[1]` of every script: the test clock's offset in µs, or '' (Redis's clock as it is).
    var clockOffset: RESPArgument {
        guard let offset = configuration.clock?.offset, offset != .zero else { return "" }
        return .string(String(offset.microseconds))
    }

    private func call(_ script: StoreScript, _ operation: String, _ arguments: [RESPArgument]) async throws -> RESPValue {
        let lua = try Self.lua()
        // The source that ran, for the file and line of an error Redis reports.
        var lines = lua.libraryLines
        do {
            if useFunctions.load(ordering: .relaxed) {
                do {
                    return try await client.callFunction(
                        lua.functionName(script), in: lua.library, keys: [.string(prefix)], arguments: arguments)
                } catch let error as RedisServerError where error.isUnknownCommand {
                    useFunctions.store(false, ordering: .relaxed)
                    logger.notice("Redis has no FCALL (before 7.0); running the store's Lua as scripts", metadata: [
                        "redis": "\(configuration.redis.endpoint)",
                    ])
                }
            }
            let compiled = lua.script(script)
            lines = compiled.lines
            return try await client.evalScript(compiled.eval, keys: [.string(prefix)], arguments: arguments)
        } catch let error as RedisServerError {
            if error.message.hasPrefix("NOJOB "), let id = JobID(String(error.message.dropFirst(6))) {
                throw ConveyorError.jobNotFound(id)
            }
            throw refused(operation, error, lua: lines)
        } catch let error as RedisClientError {
            throw ConveyorError.storeFailure("Redis at \(configuration.redis.endpoint) failed during \(operation): \(error.message)")
        }
    }

    /// The store's Lua, read from the module's resources at first use.
    static func lua() throws -> StoreLua {
        do {
            return try RedisScripts.loaded()
        } catch {
            throw ConveyorError.storeFailure(error.description)
        }
    }

    /// The server's error, with a hint when it is about a missing password: an unauthenticated
    /// client gets NOAUTH, or for a long command a protocol error that does not say why. An
    /// error of the store's Lua (`lua`, the source that ran) names the file and line it came from.
    func refused(_ operation: String, _ error: RedisServerError, lua: LuaLineMap? = nil) -> ConveyorError {
        if error.code == "NOAUTH" || error.message.contains("unauthenticated") {
            return ConveyorError.storeFailure(
                "Redis at \(configuration.redis.endpoint) requires a password (NOAUTH: \(error.message)); "
                    + "put it in the store URL: redis://:password@host:port/db")
        }
        let message = lua.map { $0.explain(error.message) } ?? error.message
        return ConveyorError.storeFailure("Redis at \(configuration.redis.endpoint) refused \(operation): \(message)")
    }

    func send(_ operation: String, _ arguments: [RESPArgument]) async throws -> RESPValue {
        do {
            return try await client.send(arguments)
        } catch let error as RedisServerError {
            throw refused(operation, error)
        } catch let error as RedisClientError {
            throw ConveyorError.storeFailure("Redis at \(configuration.redis.endpoint) failed during \(operation): \(error.message)")
        }
    }

    func pipeline(_ operation: String, _ commands: [[RESPArgument]]) async throws -> [RESPValue] {
        let results: RedisPipelineResults
        do {
            results = try await client.pipeline(commands)
        } catch let error as RedisClientError {
            throw ConveyorError.storeFailure("Redis at \(configuration.redis.endpoint) failed during \(operation): \(error.message)")
        }
        return try results.map { result in
            switch result {
            case .success(let value): return value
            case .failure(let error):
                throw refused(operation, error)
            }
        }
    }

    func key(_ suffix: String) -> RESPArgument { .string(prefix + suffix) }

    /// Someone reads jobs or batches, maybe to wait for them: hear other processes' completions.
    func startCompletionListener() {
        completions.start()
    }
}

// MARK: Encoding

/// Microseconds since 1970, as the decimal string the scripts store.
func micros(_ date: Date) -> String {
    String(Int64((date.timeIntervalSince1970 * 1_000_000).rounded()))
}

func date(micros text: String) -> Date? {
    guard let value = Int64(text) else { return nil }
    return Date(timeIntervalSince1970: Double(value) / 1_000_000)
}

extension RESPArgument {
    init(_ data: Data) {
        self = .bytes(ByteBuffer(bytes: data))
    }
}

extension RESPValue {
    var data: Data? { buffer.map { Data($0.readableBytesView) } }
    /// A bulk string's bytes, without copying them.
    var buffer: ByteBuffer? {
        switch self {
        case .bulkString(let b), .verbatimString(_, let b): b
        case .simpleString(let s): ByteBuffer(string: s)
        case .attributed(_, let v): v.buffer
        default: nil
        }
    }
    /// The string, with an empty string as nil (the scripts clear fields by emptying them).
    var text: String? {
        guard let string, !string.isEmpty else { return nil }
        return string
    }
}
