import Conveyor
import ConveyorPostgres
import ConveyorTesting
import Foundation
import Testing

// Each statement costs the PostgreSQL store a loopback round trip through postgres-nio (in a
// debug build, as the tests run), where SQLite calls into its file: on this 2-core machine the
// full runs took 285-578 s (model, 10,000 steps) and 999 s (year, 1,000 schedules). The test
// script runs shorter ones on PostgreSQL, which reach every operation and every kind of
// schedule many times over; `CONVEYOR_MODEL_STEPS=10000` and `CONVEYOR_SCHEDULE_YEAR=1000`
// run the full ones.

/// Long: scripts/test runs it apart from the parallel suites.
@Suite("PostgresBackend model-based (heavy)")
struct PostgresModelTests {
    @Test func randomOperationsMatchTheModel() async throws {
        let url = try PostgresServer.freshStoreURL("m")
        try await BackendConformance.runModel(steps: 3000) { clock in try PostgresConformanceTests.backend(url, clock) }
    }
}

/// Long: scripts/test runs it apart from the parallel suites.
@Suite("PostgresBackend schedule year (heavy)")
struct PostgresScheduleYearTests {
    @Test func everySlotFiresExactlyOnce() async throws {
        let url = try PostgresServer.freshStoreURL("y")
        try await BackendConformance.runScheduleYear(schedules: 150) { clock in try PostgresConformanceTests.backend(url, clock) }
    }
}
