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
}
