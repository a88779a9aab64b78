import Conveyor
import ConveyorPostgres
import ConveyorTesting
import Foundation
import Testing

/// The flow-control cases (limits, circuit breakers) the PostgreSQL store does not pass yet:
/// it refuses jobs with limit keys and has no FlowControlStore (issue 16). Each is run and
/// recorded as a known issue, so the day one passes the test says so.
let pendingOnPostgres: Set<String> = Set(BackendConformance.limitCaseNames + BackendConformance.circuitCaseNames)

@Suite("PostgresBackend conformance")
struct PostgresConformanceTests {
    /// Each case gets a store in a schema of its own on the test process's PostgreSQL (a real
    /// server from Debian's binaries on an ephemeral loopback port); a missing PostgreSQL fails
    /// the case (`PostgresServer.NotInstalled`), it never skips.
    @Test(arguments: BackendConformance.names)
    func conformance(_ name: String) async throws {
        let url = try PostgresServer.freshStoreURL("c")
        let run = {
            try await BackendConformance.run(name) { clock in try Self.backend(url, clock) }
        }
        if pendingOnPostgres.contains(name) {
            await withKnownIssue("flow control is not on the PostgreSQL store yet (issue 16)") { try await run() }
        } else {
            try await run()
        }
    }

    static func backend(_ url: String, _ clock: ManualStoreClock) throws -> PostgresBackend {
        var configuration = try PostgresBackend.Configuration(url: url)
        configuration.clock = clock
        configuration.stepLimit = BackendConformance.stepLimit
        return try PostgresBackend(configuration: configuration)
    }
}

/// Long: scripts/test runs it apart from the parallel suites.
@Suite("PostgresBackend model-based (heavy)")
struct PostgresModelTests {
    @Test func randomOperationsMatchTheModel() async throws {
        let url = try PostgresServer.freshStoreURL("m")
        try await BackendConformance.runModel { clock in try PostgresConformanceTests.backend(url, clock) }
    }
}

/// Long: scripts/test runs it apart from the parallel suites.
@Suite("PostgresBackend schedule year (heavy)")
struct PostgresScheduleYearTests {
    @Test func everySlotFiresExactlyOnce() async throws {
        let url = try PostgresServer.freshStoreURL("y")
        try await BackendConformance.runScheduleYear { clock in try PostgresConformanceTests.backend(url, clock) }
    }
}
