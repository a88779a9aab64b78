import Conveyor
import ConveyorRedis
import ConveyorTesting
import Foundation
import Testing

@Suite("RedisBackend conformance")
struct RedisConformanceTests {
    /// Each case gets its own real redis-server on an ephemeral loopback port; a missing
    /// redis-server fails the case (`RedisServer.NotInstalled`), it never skips.
    @Test(arguments: BackendConformance.names)
    func conformance(_ name: String) async throws {
        let server = try RedisServer()
        defer { server.stop() }
        let backend = try RedisBackend(url: server.url)
        try await BackendConformance.run(name) { backend }
        await backend.close()
    }

    /// The same suite with the Lua run as scripts (`EVALSHA`), as on a Redis before 7.0.
    @Test(arguments: BackendConformance.names)
    func conformanceAsScripts(_ name: String) async throws {
        let server = try RedisServer()
        defer { server.stop() }
        var configuration = try RedisBackend.Configuration(url: server.url)
        configuration.useFunctions = false
        let backend = RedisBackend(configuration: configuration)
        try await BackendConformance.run(name) { backend }
        await backend.close()
    }
}
