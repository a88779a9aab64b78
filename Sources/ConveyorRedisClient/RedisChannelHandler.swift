import Logging
import NIOCore
import NIOSSL

/// A command or a pipeline, on its way to the handler.
struct RedisRequest: Sendable {
    enum Kind: Sendable {
        case single([RESPArgument], EventLoopPromise<RESPValue>)
        case batch([[RESPArgument]], EventLoopPromise<RedisPipelineResults>)
    }

    var kind: Kind
    var deadline: NIODeadline
}

/// Writes commands, parses replies and hands each to the command waiting for it.
///
/// Any number of commands may be in flight (implicit pipelining). Commands enqueued in the same
/// event-loop tick are encoded into one buffer and written with one flush. All methods run on the
/// channel's event loop; `RedisConnection` reaches the handler through `NIOLoopBound`.
final class RedisChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = RedisRequest
    typealias OutboundOut = ByteBuffer

    private var stateMachine = RedisChannelStateMachine()
    private var parser: RESPParser
    private var received: ByteBuffer?
    private var outbound: ByteBuffer?
    private var context: ChannelHandlerContext?
    private var timer: Scheduled<Void>?
    private var timerDeadline: NIODeadline?
    private let endpoint: String
    private let logger: Logger
    private let onPush: (@Sendable (RESPValue) -> Void)?

    init(endpoint: String, limits: RESPParserLimits, logger: Logger, onPush: (@Sendable (RESPValue) -> Void)? = nil) {
        self.endpoint = endpoint
        self.parser = RESPParser(limits: limits)
        self.logger = logger
        self.onPush = onPush
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        shutDown(failing: .connectionClosed(endpoint))
        self.context = nil
    }

    // MARK: Outbound

    /// A request written through the pipeline (`channel.write(RedisRequest)`). `RedisConnection`
    /// calls `enqueue` directly instead, so a request always reaches the state machine even when
    /// the channel is already closed.
    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        enqueue(unwrapOutboundIn(data))
        promise?.succeed(())
    }

    func enqueue(_ request: RedisRequest) {
        let entry: RedisChannelStateMachine.Pending
        switch request.kind {
        case .single(let arguments, let promise):
            entry = .single(promise, deadline: request.deadline, name: arguments.first)
        case .batch(let commands, let promise):
            entry = .batch(promise, count: commands.count, deadline: request.deadline, name: commands.first?.first)
        }
        switch stateMachine.enqueue(entry) {
        case .fail(let error):
            switch request.kind {
            case .single(_, let promise): promise.fail(error)
            case .batch(_, let promise): promise.fail(error)
            }
        case .write:
            guard let context else { return }
            let flushNeeded = outbound == nil
            var buffer = outbound ?? context.channel.allocator.buffer(capacity: 256)
            outbound = nil
            switch request.kind {
            case .single(let arguments, _):
                buffer.writeRESPCommand(arguments)
            case .batch(let commands, _):
                for command in commands { buffer.writeRESPCommand(command) }
            }
            outbound = buffer
            if flushNeeded {
                // Later commands of this tick join the same write.
                context.eventLoop.assumeIsolated().execute { self.flushOutbound() }
            }
            if let timerDeadline, timer != nil, timerDeadline <= request.deadline {
                // The timer will wake up in time for this command too.
            } else {
                timer?.cancel()
                scheduleTimer(at: request.deadline)
            }
        }
    }

    private func flushOutbound() {
        guard let context, let buffer = outbound else { return }
        outbound = nil
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        if received == nil || received!.readableBytes == 0 {
            received = bytes
        } else {
            var incoming = bytes
            received!.writeBuffer(&incoming)
        }
        while var buffer = received {
            received = nil  // keep the buffer uniquely referenced while parsing
            let value: RESPValue?
            do {
                value = try parser.next(from: &buffer)
            } catch {
                logger.error("closing the connection to Redis at \(endpoint): \(error)")
                shutDown(failing: error)
                context.close(promise: nil)
                return
            }
            received = buffer
            guard let value else { break }
            handle(value, context: context)
        }
        if let r = received, r.readerIndex > 64 * 1024, r.readerIndex > r.readableBytes {
            received!.discardReadBytes()
        }
    }

    private func handle(_ value: RESPValue, context: ChannelHandlerContext) {
        switch stateMachine.receive(value) {
        case .none:
            break
        case .push(let message):
            onPush?(message)
        case .succeed(let promise, let value):
            promise.succeed(value)
        case .failWithServerError(let promise, let error):
            promise.fail(error)
        case .completeBatch(let promise, let results):
            promise.succeed(results)
        case .unsolicited:
            let error = RedisClientError.protocolError(
                "a reply arrived with no command waiting for it: \(value)",
                offset: parser.consumedBytes
            )
            logger.error("closing the connection to Redis at \(endpoint): \(error)")
            shutDown(failing: error)
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        shutDown(failing: .connectionClosed(endpoint))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let reason: RedisClientError
        if case NIOSSLError.handshakeFailed(let tlsError) = error {
            reason = RedisClientError(.tlsHandshakeFailed, """
                TLS handshake with Redis at \(endpoint) failed: \(tlsError); check that the trust roots hold the \
                certificate that signed the server's, and that the server name matches it
                """)
        } else {
            reason = RedisClientError(.connectionClosed, "connection to Redis at \(endpoint) failed: \(error)")
        }
        logger.debug("\(reason)")
        // Commands sent later fail with the reason too: a TLS handshake can fail before the
        // connection's first command (`HELLO`, `AUTH`) is even written.
        shutDown(failing: reason, later: reason)
        context.close(promise: nil)
    }

    /// Fails everything waiting with `error`, and everything enqueued later with `later`
    /// ("closed" unless given). Only the first shutdown of a connection counts.
    func shutDown(failing error: RedisClientError, later: RedisClientError? = nil) {
        timer?.cancel()
        timer = nil
        outbound = nil
        for entry in stateMachine.close(laterError: later ?? .connectionClosed(endpoint)) {
            switch entry {
            case .single(let promise, _, _): promise.fail(error)
            case .batch(let promise, _, _, _): promise.fail(error)
            case .abandoned: break
            }
        }
    }

    /// Closes the channel; waiting commands fail with "connection closed".
    func close() {
        shutDown(failing: .connectionClosed(endpoint))
        context?.close(promise: nil)
    }

    // MARK: Timeouts

    private func scheduleTimer(at deadline: NIODeadline) {
        guard let context else { return }
        timerDeadline = deadline
        timer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { self.timerFired() }
    }

    private func timerFired() {
        timer = nil
        let (expired, next) = stateMachine.expire(now: .now(), endpoint: endpoint)
        for item in expired {
            switch item {
            case .single(let promise, let error):
                logger.debug("\(error)")
                promise.fail(error)
            case .batch(let promise, let error):
                logger.debug("\(error)")
                promise.fail(error)
            }
        }
        if let next { scheduleTimer(at: next) }
    }
}
