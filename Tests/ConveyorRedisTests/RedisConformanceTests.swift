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
        let base = try RedisBackend.Configuration(url: server.url)
        try await BackendConformance.run(name) { clock in Self.backend(base, clock) }
    }

    /// The same suite with the Lua run as scripts (`EVALSHA`), as on a Redis before 7.0.
    @Test(arguments: BackendConformance.names)
    func conformanceAsScripts(_ name: String) async throws {
        let server = try RedisServer()
        defer { server.stop() }
        var scripts = try RedisBackend.Configuration(url: server.url)
        scripts.useFunctions = false
        let base = scripts
        try await BackendConformance.run(name) { clock in Self.backend(base, clock) }
    }

    /// A store on Redis's clock shifted by the suite's.
    static func backend(_ base: RedisBackend.Configuration, _ clock: ManualStoreClock) -> RedisBackend {
        var configuration = base
        configuration.clock = clock
        configuration.stepLimit = BackendConformance.stepLimit
        return RedisBackend(configuration: configuration)
    }
}

@Suite("RedisBackend circuits across connections")
struct RedisCircuitRaceTests {
    @Test func oneProbeAcrossThreeStoresOnOneRedis() async throws {
        let server = try RedisServer()
        defer { server.stop() }
        let base = try RedisBackend.Configuration(url: server.url)
        let clock = ManualStoreClock()
        try await BackendConformance.probeRace((0..<3).map { _ in RedisConformanceTests.backend(base, clock) }, clock: clock)
    }
}

/// Long: scripts/test runs it apart from the parallel suites.
@Suite("RedisBackend model-based (heavy)")
struct RedisModelTests {
    @Test(arguments: [true, false])
    func randomOperationsMatchTheModel(useFunctions: Bool) async throws {
        let server = try RedisServer()
        defer { server.stop() }
        var base = try RedisBackend.Configuration(url: server.url)
        base.useFunctions = useFunctions
        let configuration = base
        try await BackendConformance.runModel { clock in RedisConformanceTests.backend(configuration, clock) }
    }
}

/// Long: scripts/test runs it apart from the parallel suites. Half-way redis-server is killed
/// and started again on its append-only file, and the store reconnects. (Each write reaches
/// the file before Redis replies, so a killed process loses none; fsync matters only to the OS.)
@Suite("RedisBackend schedule year (heavy)")
struct RedisScheduleYearTests {
    @Test func everySlotFiresExactlyOnce() async throws {
        let server = try RedisServer(appendOnly: true)
        defer { server.stop() }
        let base = try RedisBackend.Configuration(url: server.url)
        try await BackendConformance.runScheduleYear(
            makeBackend: { clock in RedisConformanceTests.backend(base, clock) },
            restart: { try server.restart() })
    }
}
