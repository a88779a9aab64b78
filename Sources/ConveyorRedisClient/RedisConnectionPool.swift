import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A few shared connections to one Redis server, kept open and reopened when they die.
///
/// `send` and `pipeline` go to the shared connections in turn; each connection pipelines any
/// number of concurrent commands, so `poolSize` (default 2) rarely needs to be large. A shared
/// connection that dies is reopened with exponential backoff (`reconnectInitialDelay` doubling up
/// to `reconnectMaxDelay`), each retry logged as "Redis at host:port unreachable, retrying in
/// 400ms". While no shared connection is up, commands wait for one for up to `commandTimeout`.
/// Commands in flight on a connection that dies fail with `.connectionClosed`: they are not
/// retried, since they may have run.
///
/// Blocking commands (BLPOP, BLMOVE, XREAD BLOCK) would hold up a shared connection: open a
/// `RedisConnection` of their own for them (the Redis store's blocking waits do).
public actor RedisConnectionPool: RedisClient {
    public nonisolated let configuration: RedisConfiguration
    private nonisolated let eventLoopGroup: any EventLoopGroup
    private nonisolated let logger: Logger
    /// The shared connections that are up, for the lock-only fast path of `send`.
    private nonisolated let live = NIOLockedValueBox(LiveConnections())

    private var slots: [Task<Void, Never>] = []
    private var waiters: [Int: CheckedContinuation<RedisConnection, any Error>] = [:]
    private var nextWaiterID = 0
    private var lastError: (any Error)?
    private var isShutDown = false

    private struct LiveConnections {
        var bySlot: [Int: RedisConnection] = [:]
        var list: [RedisConnection] = []
        var next: UInt = 0
    }

    /// Creates the pool and starts opening its `configuration.poolSize` shared connections.
    public init(
        configuration: RedisConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "conveyor.redis")
    ) {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        Task { await self.start() }
    }

    private func start() {
        guard !isShutDown, slots.isEmpty else { return }
        for slot in 0..<max(1, configuration.poolSize) {
            slots.append(Task { await self.runSlot(slot) })
        }
    }

    // MARK: Commands

    public nonisolated func send(_ arguments: [RESPArgument]) async throws -> RESPValue {
        try await connection().send(arguments)
    }

    public nonisolated func pipeline(_ commands: [[RESPArgument]]) async throws -> RedisPipelineResults {
        try await connection().pipeline(commands)
    }

    /// A shared connection that is up (round robin), waiting for one if none is.
    private nonisolated func connection() async throws -> RedisConnection {
        let picked: RedisConnection? = live.withLockedValue { live in
            guard !live.list.isEmpty else { return nil }
            live.next &+= 1
            let c = live.list[Int(live.next % UInt(live.list.count))]
            return c.isClosed ? nil : c
        }
        if let picked { return picked }
        return try await waitForConnection()
    }

    private func waitForConnection() async throws -> RedisConnection {
        if let c = live.withLockedValue({ $0.list.first(where: { !$0.isClosed }) }) { return c }
        guard !isShutDown else { throw RedisClientError(.connectionClosed, "the Redis connection pool is closed") }
        if let lastError, Self.isPermanent(lastError) { throw lastError }
        start()
        let id = nextWaiterID
        nextWaiterID += 1
        let timeout = configuration.connectionWaitTimeout
        return try await withCheckedThrowingContinuation { continuation in
            waiters[id] = continuation
            Task {
                try? await Task.sleep(for: timeout)
                self.expireWaiter(id)
            }
        }
    }

    private func expireWaiter(_ id: Int) {
        guard let continuation = waiters.removeValue(forKey: id) else { return }
        let why = lastError.map { "\($0)" } ?? "still connecting"
        continuation.resume(
            throwing: RedisClientError(
                .timeout,
                "no connection to Redis at \(configuration.endpoint) within \(configuration.connectionWaitTimeout): \(why)"
            )
        )
    }

    // MARK: Reconnecting

    /// Errors that retrying cannot cure: a rejected AUTH, a bad configuration.
    private static func isPermanent(_ error: any Error) -> Bool {
        guard let error = error as? RedisClientError else { return false }
        return error.kind == .authenticationFailed || error.kind == .invalidConfiguration
    }

    private func runSlot(_ slot: Int) async {
        var delay = configuration.reconnectInitialDelay
        var failures = 0
        while !isShutDown && !Task.isCancelled {
            do {
                let connection = try await RedisConnection.connect(
                    configuration: configuration,
                    eventLoopGroup: eventLoopGroup,
                    logger: logger
                )
                guard !isShutDown else {
                    await connection.close()
                    return
                }
                if failures > 0 {
                    logger.info("Redis at \(configuration.endpoint) reachable again after \(failures) failed attempts")
                }
                delay = configuration.reconnectInitialDelay
                failures = 0
                lastError = nil
                live.withLockedValue { live in
                    live.bySlot[slot] = connection
                    live.list = Array(live.bySlot.values)
                }
                let ready = waiters
                waiters = [:]
                for continuation in ready.values { continuation.resume(returning: connection) }

                await connection.waitUntilClosed()

                live.withLockedValue { live in
                    live.bySlot[slot] = nil
                    live.list = Array(live.bySlot.values)
                }
                if isShutDown { return }
                logger.warning("connection to Redis at \(configuration.endpoint) closed, reconnecting")
            } catch {
                if isShutDown { return }
                lastError = error
                failures += 1
                // A rejected password will not fix itself by waiting: commands fail at once with
                // the server's answer (the slot keeps retrying, in case the server is changed).
                if Self.isPermanent(error) {
                    let waiting = waiters
                    waiters = [:]
                    for continuation in waiting.values { continuation.resume(throwing: error) }
                }
                logger.warning(
                    "Redis at \(configuration.endpoint) unreachable, retrying in \(milliseconds(delay))ms",
                    metadata: ["error": "\(error)"]
                )
                try? await Task.sleep(for: delay)
                delay = min(delay * 2, configuration.reconnectMaxDelay)
            }
        }
    }

    // MARK: Closing

    /// Closes every connection; commands waiting fail with `.connectionClosed`.
    public func close() async {
        guard !isShutDown else { return }
        isShutDown = true
        for slot in slots { slot.cancel() }
        let error = RedisClientError(.connectionClosed, "the Redis connection pool is closed")
        for continuation in waiters.values { continuation.resume(throwing: error) }
        waiters = [:]
        let open = live.withLockedValue { live in
            defer { live = LiveConnections() }
            return live.list
        }
        for connection in open { await connection.close() }
        for slot in slots { await slot.value }
    }
}

private func milliseconds(_ duration: Duration) -> Int64 {
    let (seconds, attoseconds) = duration.components
    return seconds * 1000 + attoseconds / 1_000_000_000_000_000
}
