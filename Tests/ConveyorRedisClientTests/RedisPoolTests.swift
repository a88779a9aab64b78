import ConveyorRedisClient
import ConveyorTesting
import NIOCore
import NIOPosix
import Testing

@Suite("RedisConnectionPool against a real redis-server")
struct RedisPoolTests {
    @Test("a server down when the pool starts: the pool retries, says so, and works once it is up")
    func serverDownAtStart() async throws {
        let server = try RedisServer()
        let port = server.port
        server.stop(cleanUp: false)
        let log = LogRecorder()
        let pool = RedisConnectionPool(
            configuration: try server.configuration { $0.reconnectInitialDelay = .milliseconds(20) },
            logger: log.logger
        )
        let message = await log.message(containing: "unreachable, retrying in")
        #expect(message.contains("Redis at 127.0.0.1:\(port) unreachable, retrying in 20ms"))
        _ = await log.message(containing: "unreachable, retrying in 40ms")  // exponential backoff
        try server.restart()
        #expect(try await pool.send("PING") == .simpleString("PONG"))
        _ = await log.message(containing: "reachable again")
        await pool.close()
    }

    @Test("a server killed mid-use: in-flight commands fail, later ones succeed after reconnect")
    func killedMidUse() async throws {
        let server = try RedisServer(appendOnly: true, appendfsync: "always")
        let log = LogRecorder()
        let pool = RedisConnectionPool(
            configuration: try server.configuration {
                $0.poolSize = 1
                $0.reconnectInitialDelay = .milliseconds(20)
            },
            logger: log.logger
        )
        #expect(try await pool.send("SET", "kept", "yes") == .simpleString("OK"))
        let inFlight = Task { try await pool.send("BLPOP", "nothing", 0) }
        try await waitForBlockedClients(1, on: server)
        server.kill()
        await #expect {
            try await inFlight.value
        } throws: { error in
            (error as? RedisClientError)?.kind == .connectionClosed
        }
        _ = await log.message(containing: "closed, reconnecting")
        try server.restart()
        #expect(try await pool.send("GET", "kept").string == "yes")  // AOF replayed
        let results = try await pool.pipeline([["INCR", "n"], ["INCR", "n"]])
        #expect(try results.map { try $0.get() } == [.integer(1), .integer(2)])
        await pool.close()
    }

    @Test("scripts through the pool")
    func poolScripts() async throws {
        let server = try RedisServer()
        let pool = RedisConnectionPool(configuration: try server.configuration())
        let script = RedisScript("return #KEYS + #ARGV")
        #expect(try await pool.evalScript(script, keys: ["a", "b"], arguments: [1, 2, 3]) == .integer(5))
        _ = try await pool.send("SCRIPT", "FLUSH")
        #expect(try await pool.evalScript(script, keys: ["a"]) == .integer(1))
        await pool.close()
    }
}

@Suite("A fake server that sends garbage")
struct GarbageServerTests {
    /// Answers every read with `reply`.
    final class ReplyHandler: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let reply: String
        init(reply: String) { self.reply = reply }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: reply)), promise: nil)
        }
    }

    func fakeServer(replying reply: String) async throws -> any Channel {
        try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ReplyHandler(reply: reply))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    @Test(
        "protocol errors close the connection",
        arguments: [
            ("@garbage\r\n", "unknown type byte '@'", 0),
            ("+OK\r\n\u{7}\u{0}junk", "unknown type byte 0x7", 5),
            ("*99999999999\r\n", "exceeds the limit", 1),
            (String(repeating: "*1\r\n", count: 200), "nested deeper than 64", 256),
            ("$5\r\nhello!!", "not followed by CRLF", 9),
        ]
    )
    func garbage(reply: String, message: String, offset: Int) async throws {
        let fake = try await fakeServer(replying: reply)
        let port = fake.localAddress!.port!
        let redis = try await RedisConnection.connect(configuration: RedisConfiguration(port: port))
        // One pipeline: both commands are in flight when the reply arrives, so the garbage after
        // a good first reply always meets a waiting command (two separate sends raced here).
        var errors: [RedisClientError] = []
        do {
            _ = try await redis.pipeline([["GET", "a"], ["GET", "b"]])
        } catch let error as RedisClientError {
            errors.append(error)
        }
        #expect(errors.contains { $0.kind == .protocolError && $0.message.contains(message) && $0.offset == offset }, "\(errors)")
        await redis.waitUntilClosed()
        #expect(redis.isClosed)
        await #expect {
            try await redis.send("PING")
        } throws: { error in
            (error as? RedisClientError)?.kind == .connectionClosed
        }
        try await fake.close()
    }

    @Test("a reply nobody asked for is a protocol error")
    func unsolicited() async throws {
        let fake = try await fakeServer(replying: "+OK\r\n+EXTRA\r\n")
        let redis = try await RedisConnection.connect(configuration: RedisConfiguration(port: fake.localAddress!.port!))
        #expect(try await redis.send("PING") == .simpleString("OK"))
        await redis.waitUntilClosed()
        try await fake.close()
    }
}
