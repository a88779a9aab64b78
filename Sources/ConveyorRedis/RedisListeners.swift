import Conveyor
import ConveyorRedisClient
import Logging
import Synchronization

/// Runs `body` again and again until the task is cancelled: when it returns (a connection
/// closed) at once, when it throws (Redis down or restarting) after a backoff of 100 ms
/// doubling to 2 s, each time notifying `signal` so its waiters look for themselves.
func retryingWhileRedisFails(
    _ what: String, signal: AsyncSignal, logger: Logger, _ body: () async throws -> Void
) async {
    var failures = 0
    while !Task.isCancelled {
        let started = ContinuousClock.now
        do {
            try await body()
            failures = 0
        } catch {
            if Task.isCancelled { return }
            // A connection that served a while before failing starts the backoff afresh.
            if ContinuousClock.now - started > .seconds(5) { failures = 0 }
            failures += 1
            signal.notify()
            let delay = Duration.milliseconds(min(2000, 50 << min(failures, 6)))
            if failures == 1 || failures % 20 == 0 {
                logger.warning("\(what) lost Redis; retrying", metadata: ["error": "\(error)", "in": "\(delay)"])
            }
            try? await Task.sleep(for: delay)
        }
    }
}

// MARK: Waiting for work

/// The connections idle workers block on, and a way to interrupt them.
///
/// A worker with nothing to do sends, on a connection of its own, `BLPOP` on its queues' wake
/// lists (an enqueue anywhere pushes a token) with the claim pipelined behind it. Redis runs
/// the claim the moment the pop returns, so the worker's process wakes once, with its jobs
/// (as a Sidekiq worker's `BRPOP` returns its job), instead of hearing a token and then
/// asking for work. A notification in this process (a worker stopping) interrupts the pops
/// with `CLIENT UNBLOCK`.
final class BlockingWaits: Sendable {
    struct Waiter: Sendable {
        let connection: RedisConnection
        /// The connection's `CLIENT ID`, for `CLIENT UNBLOCK`.
        let clientID: Int
    }

    private struct State {
        var idle: [Waiter] = []
        var open: [ObjectIdentifier: RedisConnection] = [:]
        /// Waits in progress: their connections' client ids.
        var blocked: [UInt64: Int] = [:]
        var nextToken: UInt64 = 0
        var closed = false
    }
    private let state = Mutex(State())
    private let configuration: RedisConfiguration
    private let pool: RedisConnectionPool
    private let logger: Logger
    /// Set when Redis refuses `CLIENT UNBLOCK` (an ACL user without it): waits then end at
    /// their own timeout, at most ``RedisBackend/Configuration/longestWait``.
    private let unblockRefused = Atomic<Bool>(false)

    init(configuration: RedisConfiguration, pool: RedisConnectionPool, logger: Logger) {
        self.configuration = configuration
        self.pool = pool
        self.logger = logger
    }

    /// An idle blocking connection, or a new one.
    func take() async throws -> Waiter {
        let reused = state.withLock { state -> Waiter? in
            while let waiter = state.idle.popLast() {
                if !waiter.connection.isClosed { return waiter }
                state.open[ObjectIdentifier(waiter.connection)] = nil
            }
            return nil
        }
        if let reused { return reused }
        let connection = try await RedisConnection.connect(configuration: configuration, logger: logger)
        let clientID: Int
        do {
            let reply = try await connection.send(["CLIENT", "ID"])
            guard let id = reply.int else {
                throw RedisClientError(.unexpectedReply, "CLIENT ID answered \(reply), expected an integer")
            }
            clientID = id
        } catch {
            await connection.close()
            throw error
        }
        let closed = state.withLock { state -> Bool in
            if !state.closed { state.open[ObjectIdentifier(connection)] = connection }
            return state.closed
        }
        if closed {
            await connection.close()
            throw RedisClientError(.connectionClosed, "the Redis store is closed")
        }
        return Waiter(connection: connection, clientID: clientID)
    }

    /// Returns a connection after a wait; one that failed is closed instead.
    func giveBack(_ waiter: Waiter, reusable: Bool) async {
        let kept = state.withLock { state -> Bool in
            if reusable, !state.closed, !waiter.connection.isClosed {
                state.idle.append(waiter)
                return true
            }
            state.open[ObjectIdentifier(waiter.connection)] = nil
            return false
        }
        if !kept { await waiter.connection.close() }
    }

    /// Marks `waiter` as blocking until ``ended(_:)``, so ``interrupt()`` reaches it.
    func begin(_ waiter: Waiter) -> UInt64 {
        state.withLock { state in
            state.nextToken &+= 1
            state.blocked[state.nextToken] = waiter.clientID
            return state.nextToken
        }
    }

    func ended(_ token: UInt64) {
        _ = state.withLock { $0.blocked.removeValue(forKey: token) }
    }

    /// Ends every wait in progress (a pop that ends this way returns nothing, as on its
    /// timeout, and the claim behind it still runs). Costs nothing when no one waits.
    func interrupt() {
        let ids = state.withLock { Array($0.blocked.values) }
        guard !ids.isEmpty, !unblockRefused.load(ordering: .relaxed) else { return }
        Task { [self] in
            for id in ids {
                do {
                    _ = try await pool.send(["CLIENT", "UNBLOCK", .int(id)])
                } catch let error as RedisServerError {
                    if !unblockRefused.exchange(true, ordering: .relaxed) {
                        logger.notice("Redis refused CLIENT UNBLOCK; idle workers stop within their wait's timeout", metadata: [
                            "error": "\(error.message)",
                        ])
                    }
                    return
                } catch {
                    return  // Redis is gone: the pops fail by themselves.
                }
            }
        }
    }

    func close() async {
        let connections = state.withLock { state -> [RedisConnection] in
            state.closed = true
            state.idle = []
            defer { state.open = [:] }
            return Array(state.open.values)
        }
        for connection in connections { await connection.close() }
    }
}

/// Hears other processes' completions: the scripts that finish jobs publish on
/// `{namespace}:done`, and this subscriber (one RESP3 connection of its own, reopened when it
/// drops) notifies the completion signal, so `waitUntilFinished` and batch progress in one
/// process follow workers on other hosts at once. It starts with the first read of a job or
/// a batch, which every wait begins with.
final class CompletionListener: Sendable {
    private struct State {
        var task: Task<Void, Never>?
        var connection: RedisConnection?
        var stopped = false
    }
    private let state = Mutex(State())
    private let configuration: RedisConfiguration
    private let channel: String
    private let signal: AsyncSignal
    private let logger: Logger

    init(configuration: RedisConfiguration, channel: String, signal: AsyncSignal, logger: Logger) {
        var configuration = configuration
        configuration.useRESP3 = true
        self.configuration = configuration
        self.channel = channel
        self.signal = signal
        self.logger = logger
    }

    func start() {
        state.withLock { state in
            guard !state.stopped, state.task == nil else { return }
            state.task = Task { [self] in await self.run() }
        }
    }

    func stop() {
        let connection = state.withLock { state -> RedisConnection? in
            state.stopped = true
            state.task?.cancel()
            return state.connection
        }
        if let connection { Task { await connection.close() } }
    }

    private func run() async {
        await retryingWhileRedisFails("completion listener", signal: signal, logger: logger) {
            let signal = signal
            let connection = try await RedisConnection.connect(configuration: configuration, logger: logger) { _ in signal.notify() }
            let stopped = state.withLock { state in
                state.connection = connection
                return state.stopped
            }
            if stopped {
                await connection.close()
                return
            }
            _ = try await connection.send(["SUBSCRIBE", .string(channel)])
            // Completions published while it was not subscribed were not heard: tell waiters to look.
            signal.notify()
            await connection.waitUntilClosed()
        }
    }
}
