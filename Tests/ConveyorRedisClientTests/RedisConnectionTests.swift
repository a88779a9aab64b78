import ConveyorRedisClient
import ConveyorTesting
import NIOCore
import Testing

@Suite("RedisConnection against a real redis-server")
struct RedisConnectionTests {
    @Test("SET, GET, INCR, DEL, and server errors as RedisServerError")
    func basics() async throws {
        let server = try RedisServer()
        let redis = try await server.connect()
        #expect(try await redis.send("SET", "greeting", "hello") == .simpleString("OK"))
        #expect(try await redis.send("GET", "greeting").string == "hello")
        #expect(try await redis.send("GET", "missing").isNull)
        #expect(try await redis.send("INCR", "counter") == .integer(1))
        #expect(try await redis.send(["INCRBY", "counter", .int(41)]).int == 42)
        #expect(try await redis.send(["SET", "bin", RESPArgument([0, 13, 10, 255])]) == .simpleString("OK"))
        #expect(try await redis.send("GET", "bin").bytes == [0, 13, 10, 255])
        await #expect {
            try await redis.send("INCR", "greeting")
        } throws: { error in
            (error as? RedisServerError)?.message == "ERR value is not an integer or out of range"
        }
        // The connection is fine after an error reply.
        #expect(try await redis.send("PING") == .simpleString("PONG"))
        await redis.close()
        #expect(redis.isClosed)
        await #expect {
            try await redis.send("PING")
        } throws: { error in
            (error as? RedisClientError)?.kind == .connectionClosed
        }
    }

    @Test("10,000 concurrent sends from 64 tasks share one connection")
    func concurrentSends() async throws {
        let server = try RedisServer()
        let redis = try await server.connect()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<64 {
                group.addTask { () async throws in
                    for i in 0..<(10_000 / 64 + (task < 10_000 % 64 ? 1 : 0)) {
                        let key = "k:\(task):\(i)"
                        if i % 2 == 0 {
                            #expect(try await redis.send(["SET", .string(key), .int(i)]) == .simpleString("OK"))
                        } else {
                            #expect(try await redis.send("INCR", "total").int != nil)
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let sets = try await redis.send("DBSIZE").int! - 1
        let incrs = try await redis.send("GET", "total").int!
        #expect(sets + incrs == 10_000)
        #expect(try await redis.send("GET", "k:5:4").int == 4)
        await redis.close()
    }

    @Test("a 1,000-command pipeline, with a per-command error in it")
    func pipeline() async throws {
        let server = try RedisServer()
        let redis = try await server.connect()
        var commands: [[RESPArgument]] = (0..<500).map { ["SET", .string("p\($0)"), .int($0)] }
        commands += (0..<499).map { ["GET", .string("p\($0)")] }
        commands.append(["HGET", "p1", "field"])  // WRONGTYPE
        let results = try await redis.pipeline(commands)
        #expect(results.count == 1_000)
        #expect(try results[0].get() == .simpleString("OK"))
        #expect(try results[500].get().int == 0)
        #expect(try results[998].get().int == 498)
        guard case .failure(let error) = results[999] else {
            Issue.record("expected WRONGTYPE, got \(results[999])")
            return
        }
        #expect(error.code == "WRONGTYPE")
        #expect(try await redis.pipeline([]).isEmpty)
        await redis.close()
    }

    @Test("EVALSHA loads the script on NOSCRIPT, also after SCRIPT FLUSH")
    func scripts() async throws {
        let server = try RedisServer()
        let redis = try await server.connect()
        let script = RedisScript("redis.call('RPUSH', KEYS[1], ARGV[1]); return redis.call('LLEN', KEYS[1])")
        #expect(try await redis.send("SCRIPT", "EXISTS", .string(script.sha1)) == .array([.integer(0)]))
        #expect(try await redis.evalScript(script, keys: ["list"], arguments: ["a"]) == .integer(1))
        #expect(try await redis.send("SCRIPT", "EXISTS", .string(script.sha1)) == .array([.integer(1)]))
        #expect(try await redis.evalScript(script, keys: ["list"], arguments: ["b"]) == .integer(2))
        #expect(try await redis.send("SCRIPT", "FLUSH") == .simpleString("OK"))
        #expect(try await redis.evalScript(script, keys: ["list"], arguments: ["c"]) == .integer(3))
        // A script error is a server error, not a retry.
        await #expect(throws: RedisServerError.self) {
            try await redis.evalScript(RedisScript("return redis.call('NOPE')"))
        }
        await redis.close()
    }

    @Test("FCALL loads the function library when it is missing, also after FUNCTION FLUSH or a load by another client")
    func functions() async throws {
        let server = try RedisServer()
        let redis = try await server.connect()
        let other = try await server.connect()
        let library = RedisFunctionLibrary(name: "testlib", source: """
            #!lua name=testlib
            local function push(keys, args) redis.call('RPUSH', keys[1], args[1]); return redis.call('LLEN', keys[1]) end
            redis.register_function('testlib_push', push)
            redis.register_function('testlib_fail', function() return redis.call('NOPE') end)
            """)
        #expect(try await redis.callFunction("testlib_push", in: library, keys: ["list"], arguments: ["a"]) == .integer(1))
        #expect(try await redis.callFunction("testlib_push", in: library, keys: ["list"], arguments: ["b"]) == .integer(2))
        #expect(try await redis.send("FUNCTION", "FLUSH") == .simpleString("OK"))
        #expect(try await redis.callFunction("testlib_push", in: library, keys: ["list"], arguments: ["c"]) == .integer(3))
        // Loaded by someone else meanwhile: "already exists" is not an error.
        #expect(try await redis.send("FUNCTION", "FLUSH") == .simpleString("OK"))
        _ = try await other.send("FUNCTION", "LOAD", .string(library.source))
        #expect(try await redis.callFunction("testlib_push", in: library, keys: ["list"], arguments: ["d"]) == .integer(4))
        // An error inside the function is a server error, not a reload.
        await #expect(throws: RedisServerError.self) { try await redis.callFunction("testlib_fail", in: library) }
        // A function the library does not define: a clear client error after one load.
        await #expect(throws: RedisClientError.self) { try await redis.callFunction("testlib_nope", in: library) }
        await redis.close()
        await other.close()
    }

    @Test("AUTH with a password, with an ACL user, and a clear WRONGPASS")
    func auth() async throws {
        let server = try RedisServer(password: "s3cret")
        let redis = try await server.connect()
        #expect(try await redis.send("PING") == .simpleString("PONG"))
        #expect(
            try await redis.send("ACL", "SETUSER", "worker", "on", ">w0rk", "~*", "+@all") == .simpleString("OK")
        )
        let worker = try await server.connect {
            $0.username = "worker"
            $0.password = "w0rk"
        }
        #expect(try await worker.send("ACL", "WHOAMI").string == "worker")

        for wrong: (String?, String) in [(nil, "wrong"), ("worker", "nope")] {
            await #expect {
                _ = try await server.connect {
                    $0.username = wrong.0
                    $0.password = wrong.1
                }
            } throws: { error in
                guard let error = error as? RedisClientError else { return false }
                return error.kind == .authenticationFailed && error.description.contains("WRONGPASS invalid username-password pair")
            }
        }
        await #expect {
            _ = try await server.connect { $0.password = nil }.send("GET", "x")
        } throws: { error in
            (error as? RedisServerError)?.code == "NOAUTH"
        }
        // RESP3: HELLO 3 with AUTH.
        let resp3 = try await server.connect { $0.useRESP3 = true }
        _ = try await resp3.send("HSET", "h", "f", "v")
        #expect(try await resp3.send("HGETALL", "h") == .map([RESPPair(.bulkString(ByteBuffer(string: "f")), .bulkString(ByteBuffer(string: "v")))]))
        await redis.close()
        await worker.close()
        await resp3.close()
    }

    @Test("SELECT from the URL's database")
    func select() async throws {
        let server = try RedisServer()
        let db3 = try await RedisConnection.connect(configuration: RedisConfiguration(url: server.url + "/3"))
        _ = try await db3.send("SET", "where", "three")
        let db0 = try await server.connect()
        #expect(try await db0.send("GET", "where").isNull)
        _ = try await db0.send("SELECT", 3)
        #expect(try await db0.send("GET", "where").string == "three")
        await db0.close()
        await db3.close()
    }

    @Test("a command that times out fails, and its late reply is dropped")
    func timeout() async throws {
        let server = try RedisServer()
        let redis = try await server.connect { $0.commandTimeout = .milliseconds(200) }
        // BLPOP on an empty list answers nil after 1 s: a timeout error (not a nil value) shows the
        // client's 200 ms deadline fired first, without timing the test by the wall clock.
        await #expect {
            try await redis.send("BLPOP", "empty", 1)
        } throws: { error in
            guard let error = error as? RedisClientError else { return false }
            return error.kind == .timeout && error.description.contains("BLPOP")
        }
        // PING waits behind the BLPOP on the server, then gets its own reply, not BLPOP's nil.
        #expect(try await redis.send(["PING", "after"], timeout: .seconds(5)).string == "after")
        await #expect {
            try await redis.pipeline([["BLPOP", "empty", 1], ["PING"]])
        } throws: { error in
            (error as? RedisClientError)?.description.contains("pipeline of 2 commands starting with BLPOP") == true
        }
        #expect(try await redis.send(["ECHO", "still fine"], timeout: .seconds(5)).string == "still fine")
        await redis.close()
    }

    @Test("connection refused names host and port")
    func refused() async throws {
        let server = try RedisServer()
        let port = server.port
        server.stop()
        await #expect {
            _ = try await RedisConnection.connect(configuration: RedisConfiguration(port: port))
        } throws: { error in
            guard let error = error as? RedisClientError else { return false }
            return error.kind == .connectionRefused && error.description.contains("127.0.0.1:\(port)")
        }
    }

    @Test("a server killed mid-command fails in-flight commands with connection closed")
    func killed() async throws {
        let server = try RedisServer()
        let redis = try await server.connect()
        let blocked = Task { try await redis.send("BLPOP", "nothing", 0) }
        try await waitForBlockedClients(1, on: server)
        server.kill()
        await #expect {
            try await blocked.value
        } throws: { error in
            (error as? RedisClientError)?.kind == .connectionClosed
        }
        await redis.waitUntilClosed()
        #expect(redis.isClosed)
    }
}
