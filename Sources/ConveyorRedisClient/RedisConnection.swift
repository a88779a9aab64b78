import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL

/// Something that runs Redis commands: one `RedisConnection`, or a `RedisConnectionPool`.
public protocol RedisClient: Sendable {
    /// Sends one command and waits for its reply. An error reply throws `RedisServerError`; a
    /// failure of the connection throws `RedisClientError`.
    func send(_ arguments: [RESPArgument]) async throws -> RESPValue

    /// Writes all `commands` at once (one flush) and waits for all their replies, which come
    /// back in order, each a value or the server's error for that command. A failure of the
    /// connection throws `RedisClientError` for the whole batch.
    func pipeline(_ commands: [[RESPArgument]]) async throws -> [Result<RESPValue, RedisServerError>]
}

extension RedisClient {
    /// `send(["SET", "key", 1])` spelled `send("SET", "key", 1)`.
    public func send(_ arguments: RESPArgument...) async throws -> RESPValue {
        try await send(arguments)
    }

    /// Runs `script` with EVALSHA; if the server doesn't have it (NOSCRIPT), loads it with
    /// SCRIPT LOAD and runs it again.
    public func evalScript(
        _ script: RedisScript,
        keys: [RESPArgument] = [],
        arguments: [RESPArgument] = []
    ) async throws -> RESPValue {
        let command = script.command(keys: keys, arguments: arguments)
        do {
            return try await send(command)
        } catch let error as RedisServerError where error.code == "NOSCRIPT" {
            let loaded = try await send(["SCRIPT", "LOAD", .string(script.source)])
            guard loaded.string == script.sha1 else {
                throw RedisClientError(
                    .unexpectedReply,
                    "SCRIPT LOAD answered \(loaded), expected the SHA1 \(script.sha1)"
                )
            }
            do {
                return try await send(command)
            } catch let error as RedisServerError where error.code == "NOSCRIPT" {
                throw RedisClientError(.noScript, "script \(script.sha1) still missing after SCRIPT LOAD: \(error.message)")
            }
        }
    }
}

/// One connection to a Redis server. Any number of tasks may send on it at once: their commands
/// are pipelined and each gets its own reply.
public final class RedisConnection: RedisClient, Sendable {
    public let configuration: RedisConfiguration
    private let channel: any Channel
    private let handler: NIOLoopBound<RedisChannelHandler>
    private let logger: Logger

    private init(configuration: RedisConfiguration, channel: any Channel, handler: NIOLoopBound<RedisChannelHandler>, logger: Logger) {
        self.configuration = configuration
        self.channel = channel
        self.handler = handler
        self.logger = logger
    }

    /// Opens a connection and runs the handshake: `HELLO 3` (when `useRESP3`), `AUTH`,
    /// `SELECT`, `CLIENT SETNAME`, as configured. Throws `RedisClientError`: `.connectionRefused`
    /// naming host:port, `.timeout`, or `.authenticationFailed` with the server's message.
    ///
    /// `onPush` receives RESP3 out-of-band pushes (pub/sub messages after `SUBSCRIBE`, with
    /// `useRESP3`), on the connection's event loop; keep it short.
    public static func connect(
        configuration: RedisConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger = Logger(label: "conveyor.redis"),
        onPush: (@Sendable (RESPValue) -> Void)? = nil
    ) async throws -> RedisConnection {
        let endpoint = configuration.endpoint
        let sslContext: NIOSSLContext?
        do {
            sslContext = try configuration.tls.map { try NIOSSLContext(configuration: $0) }
        } catch {
            throw RedisClientError(.invalidConfiguration, "TLS configuration for Redis at \(endpoint) is not valid: \(error)")
        }
        let serverName = configuration.tlsServerName ?? (isIPAddress(configuration.host) ? nil : configuration.host)
        let limits = configuration.parserLimits
        // The initializer runs once per connection attempt (a host name may resolve to several
        // addresses). Each attempt's handler is kept, so the connected channel's is at hand even
        // when that channel has closed already: a TLS handshake can fail that early, and the
        // handler holds the reason.
        let handlers = NIOLockedValueBox([ObjectIdentifier: NIOLoopBound<RedisChannelHandler>]())
        let bootstrap = ClientBootstrap(group: eventLoopGroup)
            .connectTimeout(TimeAmount(configuration.connectTimeout))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let sslContext {
                        let tls = try NIOSSLClientHandler(context: sslContext, serverHostname: serverName)
                        try channel.pipeline.syncOperations.addHandler(tls)
                    }
                    let handler = RedisChannelHandler(endpoint: endpoint, limits: limits, logger: logger, onPush: onPush)
                    try channel.pipeline.syncOperations.addHandler(handler)
                    let bound = NIOLoopBound(handler, eventLoop: channel.eventLoop)
                    handlers.withLockedValue { $0[ObjectIdentifier(channel)] = bound }
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: configuration.host, port: configuration.port).get()
        } catch ChannelError.connectTimeout {
            throw RedisClientError(.timeout, "connecting to Redis at \(endpoint) timed out after \(configuration.connectTimeout)")
        } catch {
            throw RedisClientError(.connectionRefused, "cannot connect to Redis at \(endpoint): \(error)")
        }
        guard let handler = handlers.withLockedValue({ $0[ObjectIdentifier(channel)] }) else {
            channel.close(promise: nil)
            throw RedisClientError(.connectionClosed, "connection to Redis at \(endpoint) was set up without its handler")
        }
        let connection = RedisConnection(configuration: configuration, channel: channel, handler: handler, logger: logger)
        do {
            try await connection.handshake()
        } catch {
            await connection.close()
            throw error
        }
        return connection
    }

    private func handshake() async throws {
        let c = configuration
        let timeout = c.connectTimeout
        func authFailed(_ error: RedisServerError) -> RedisClientError {
            RedisClientError(.authenticationFailed, "authentication to Redis at \(c.endpoint) failed: \(error.message)")
        }
        var commands: [[RESPArgument]] = []
        var authIndex: Int?
        if c.useRESP3 {
            var hello: [RESPArgument] = ["HELLO", 3]
            if let password = c.password {
                hello += ["AUTH", .string(c.username ?? "default"), .string(password)]
                authIndex = 0
            }
            commands.append(hello)
        } else if let password = c.password {
            authIndex = commands.count
            commands.append(c.username.map { ["AUTH", .string($0), .string(password)] } ?? ["AUTH", .string(password)])
        }
        if c.database != 0 { commands.append(["SELECT", .int(c.database)]) }
        if let name = c.clientName { commands.append(["CLIENT", "SETNAME", .string(name)]) }
        guard !commands.isEmpty else { return }
        let results = try await pipeline(commands, timeout: timeout)
        for (i, result) in results.enumerated() {
            if case .failure(let error) = result {
                if i == authIndex || error.code == "NOAUTH" || error.code == "WRONGPASS" { throw authFailed(error) }
                throw RedisClientError(.unexpectedReply, "\(commands[i].commandName) during the handshake with Redis at \(c.endpoint) failed: \(error.message)")
            }
        }
    }

    /// The connection is closed (by `close()`, the server, or an error); every command fails.
    public var isClosed: Bool { !channel.isActive }

    public func send(_ arguments: [RESPArgument]) async throws -> RESPValue {
        try await send(arguments, timeout: configuration.commandTimeout)
    }

    /// `send` with its own timeout instead of `configuration.commandTimeout` (for blocking
    /// commands: give BLPOP's own timeout plus a margin).
    public func send(_ arguments: [RESPArgument], timeout: Duration) async throws -> RESPValue {
        let promise = channel.eventLoop.makePromise(of: RESPValue.self)
        submit(RedisRequest(kind: .single(arguments, promise), deadline: .now() + TimeAmount(timeout)))
        return try await promise.futureResult.get()
    }

    public func pipeline(_ commands: [[RESPArgument]]) async throws -> RedisPipelineResults {
        try await pipeline(commands, timeout: configuration.commandTimeout)
    }

    /// `pipeline` with its own timeout for the whole batch.
    public func pipeline(_ commands: [[RESPArgument]], timeout: Duration) async throws -> RedisPipelineResults {
        guard !commands.isEmpty else { return [] }
        let promise = channel.eventLoop.makePromise(of: RedisPipelineResults.self)
        submit(RedisRequest(kind: .batch(commands, promise), deadline: .now() + TimeAmount(timeout)))
        return try await promise.futureResult.get()
    }

    private func submit(_ request: RedisRequest) {
        let handler = self.handler
        if channel.eventLoop.inEventLoop {
            handler.value.enqueue(request)
        } else {
            channel.eventLoop.execute { handler.value.enqueue(request) }
        }
    }

    /// Closes the connection; commands still waiting fail with `.connectionClosed`.
    public func close() async {
        let handler = self.handler
        channel.eventLoop.execute { handler.value.close() }
        try? await channel.closeFuture.get()
    }

    /// Returns when the connection has closed, for whatever reason.
    public func waitUntilClosed() async {
        try? await channel.closeFuture.get()
    }
}

private func isIPAddress(_ host: String) -> Bool {
    host.contains(":") || host.allSatisfy { $0.isNumber || $0 == "." }
}
