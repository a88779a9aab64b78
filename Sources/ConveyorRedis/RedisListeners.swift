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

// MARK: Wake-ups

/// Blocks on the wake lists of the queues this process claims from and notifies the work
/// signal when a token arrives: an enqueue in any process pushes one.
final class WakeListener: Sendable {
    private struct State {
        var queues: [String] = []
        var task: Task<Void, Never>?
        var stopped = false
    }
    private let state = Mutex(State())
    private let client: RedisConnectionPool
    private let prefix: String
    private let signal: AsyncSignal
    private let logger: Logger

    init(client: RedisConnectionPool, prefix: String, signal: AsyncSignal, logger: Logger) {
        self.client = client
        self.prefix = prefix
        self.signal = signal
        self.logger = logger
    }

    func listen(to queues: [String]) {
        state.withLock { state in
            guard !state.stopped else { return }
            let merged = Array(Set(state.queues + queues)).sorted()
            guard merged != state.queues || state.task == nil else { return }
            state.queues = merged
            if state.task == nil {
                state.task = Task { [self] in await self.run() }
            }
        }
    }

    func stop() {
        state.withLock { state in
            state.stopped = true
            state.task?.cancel()
        }
    }

    private func run() async {
        await retryingWhileRedisFails("wake-up listener", signal: signal, logger: logger) {
            let queues = state.withLock { $0.queues }
            try await client.withDedicatedConnection { connection in
                // Re-read the queue list every second, so queues added later are heard.
                let command: [RESPArgument] = ["BLPOP"] + queues.map { .string(prefix + "wake:" + $0) } + ["1"]
                while !Task.isCancelled {
                    let reply = try await connection.send(command)
                    if !reply.isNull { signal.notify() }
                    if state.withLock({ $0.queues }) != queues { return }
                }
            }
        }
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
