import Conveyor
@testable import ConveyorRedis
import ConveyorRedisClient
import ConveyorTesting
import Foundation
import Testing

/// The store's Lua files: how they are assembled, what errors in them read like, and the
/// prelude's helpers run on a real redis-server through `EVAL`.
@Suite("The Redis store's Lua")
struct RedisLuaTests {
    @Test func aMissingFileIsAnErrorNamingIt() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let files = LuaFiles(directory: URL(fileURLWithPath: directory.path))
        let error = #expect(throws: LuaResourceError.self) { try StoreLua(files: files) }
        #expect(error == .missingFile("scriptState.lua", directory: directory.path))
        #expect(error?.description.contains("Lua file scriptState.lua is missing from \(directory.path)") == true)
    }

    @Test func everyOperationIsBundledAndTheLibraryIsNamedByItsSource() throws {
        let lua = try RedisScripts.loaded()
        #expect(lua.library.name.hasPrefix("conveyor_") && lua.library.name.count == "conveyor_".count + 12)
        #expect(lua.library.source.hasPrefix("#!lua name=\(lua.library.name)\n"))
        for operation in RedisScripts.all {
            #expect(lua.library.source.contains("redis.register_function('\(lua.functionName(operation))', function(KEYS, ARGV)"))
            #expect(lua.script(operation).eval.source.hasPrefix(RedisScripts.messageTemplates))
        }
    }

    @Test func linesOfTheWholeMapToTheirParts() {
        var lua = AssembledLua()
        lua.append("local a = 1\nlocal b = 2\n", from: "Lua/first.lua")
        lua.append("local c = 3", from: "Lua/second.lua")
        lua.append("return c\n", from: "Lua/third.lua")
        #expect(lua.text == "local a = 1\nlocal b = 2\nlocal c = 3\nreturn c\n")
        #expect(lua.lines.location(ofLine: 2)! == ("Lua/first.lua", 2))
        #expect(lua.lines.location(ofLine: 3)! == ("Lua/second.lua", 1))
        #expect(lua.lines.location(ofLine: 4)! == ("Lua/third.lua", 1))
        #expect(lua.lines.location(ofLine: 5) == nil)
        #expect(lua.lines.explain("ERR user_script:3: boom script: 0f, on @user_script:3.")
            == "ERR user_script:3: boom script: 0f, on @user_script:3. (user_script:3 is Lua/second.lua:1)")
        #expect(lua.lines.explain("ERR something else") == "ERR something else")
    }

    /// A script error, here from a record that is not MessagePack, names the file and line of
    /// the Lua it came from, for the function library and for scripts alike.
    @Test(arguments: [true, false])
    func aScriptErrorNamesItsFileAndLine(useFunctions: Bool) async throws {
        let server = try RedisServer()
        defer { server.stop() }
        var configuration = try RedisBackend.Configuration(url: server.url)
        configuration.useFunctions = useFunctions
        let backend = RedisBackend(configuration: configuration)
        let id = try await backend.enqueue(NewJob(name: "test.job")).id
        let probe = try await RedisConnection.connect(configuration: RedisConfiguration(url: server.url))
        _ = try await probe.send("HSET", "{conveyor}:J:m", .string(id.description), RESPArgument([0xc1]))
        await probe.close()

        let error = await #expect(throws: ConveyorError.self) { try await backend.job(id) }
        let message = error.map { String(describing: $0) } ?? ""
        let unpackLine = try Self.line(of: "munpack(raw)", in: "records.lua")
        #expect(message.contains("Bad data format in input."), "\(message)")
        #expect(message.contains(" is Lua/records.lua:\(unpackLine))"), "\(message)")
        await backend.close()
    }

    // MARK: Messages: the Lua's wording is Swift's

    @Test func messageTemplatesHoldNamedPlaceholdersOnly() {
        let templates = RedisScripts.messageTemplates
        for sentinel in ["777000777", "600000006", "700000007", "100000001", "300000003", "400000004"] {
            #expect(!templates.contains(sentinel))
        }
        for placeholder in ["{parent}", "{reason}", "{failed}", "{total}", "{dead}", "{cancelled}", "{batch}", "{worker}"] {
            #expect(templates.contains(placeholder))
        }
    }

    @Test func chainStoppedMessagesAreSwifts() async throws {
        let redis = try LuaHarness()
        defer { redis.stop() }
        for (state, code) in [(JobState.dead, 5), (.cancelled, 6)] {
            let reasons: [String?] = [
                nil, "source returned 404", "100% {parent} \\1", "Zürich\u{1}9 ok", JobFailure.chainStoppedPrefix + " job 3 ended dead",
            ]
            for reason in reasons {
                let argument = reason.map { RedisScripts.lua($0) } ?? "nil"
                let lua = try await redis.run("return chainStopped('42', \(code), \(argument))")
                #expect(lua == JobFailure.chainStopped(parent: JobID(42), state: state, reason: reason).message)
            }
        }
    }

    @Test func chordFailedAndLeaseExpiredMessagesAreSwifts() async throws {
        let redis = try LuaHarness()
        defer { redis.stop() }
        let chord = try await redis.run(
            "return fill(CHORD_FAILED, { failed = '3', total = '10', dead = '2', cancelled = '1', batch = 'b-%1{total}' })")
        #expect(chord == JobFailure.chordFailed(batch: "b-%1{total}", total: 10, succeeded: 7, dead: 2, cancelled: 1).message)
        let lease = try await redis.run("return fill(LEASE_EXPIRED, { worker = 'host-1:4242' })")
        #expect(lease == JobFailure.leaseExpired(worker: "host-1:4242").message)
    }

    /// A strict chord's callback ends dead with the whole of Swift's message, end to end.
    @Test func aFailedChordsCallbackCarriesSwiftsMessage() async throws {
        let server = try RedisServer()
        defer { server.stop() }
        let backend = try RedisBackend(url: server.url)
        let client = JobClient(backend: backend)
        let ids = try await client.enqueue(.chord(
            [.job(NewJob(name: "a", maxAttempts: 1)), .job(NewJob(name: "b"))], then: NewJob(name: "merge"))).map(\.id)
        let claimed = try await backend.claim(queues: ["default"], limit: 10, lease: .seconds(30), workerID: "w")
        try await backend.complete([
            .succeeded(claimed[0].lease, output: Data()),
            .failed(claimed[1].lease, JobFailure(.permanent, "no"), retryAfter: nil),
        ])
        let merge = try #require(try await backend.job(ids[2]))
        let batch = try #require(merge.waitedForBatch)
        #expect(merge.state == .dead)
        #expect(merge.lastError?.message == JobFailure.chordFailed(batch: batch, total: 2, succeeded: 1, dead: 1, cancelled: 0).message)
        await backend.close()
    }

    /// The number of the first line of Lua file `file` that contains `text`.
    static func line(of text: String, in file: String) throws -> Int {
        let source = try LuaFiles.bundled().read(file)
        let lines = source.split(separator: "\n", omittingEmptySubsequences: false)
        return try #require(lines.firstIndex { $0.contains(text) }) + 1
    }
}

/// Runs Lua after the store's templates, state and prelude, as an operation would, on a
/// redis-server of its own: for tests of one helper.
struct LuaHarness {
    let server: RedisServer

    init() throws {
        server = try RedisServer()
    }

    /// The string `body` returns.
    func run(_ body: String) async throws -> String? {
        let script = try StoreLua.script(body, named: "the test", files: LuaFiles.bundled())
        let connection = try await RedisConnection.connect(configuration: RedisConfiguration(url: server.url))
        defer { Task { await connection.close() } }
        do {
            return try await connection.evalScript(script.eval, keys: ["{test}:"], arguments: [""]).string
        } catch let error as RedisServerError {
            Issue.record("\(script.lines.explain(error.message))")
            throw error
        }
    }

    func stop() { server.stop() }
}
