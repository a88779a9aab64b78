import Conveyor
import ConveyorSQLite
import ConveyorTesting
import Testing

@Suite("SQLiteBackend conformance")
struct SQLiteConformanceTests {
    @Test(arguments: BackendConformance.names)
    func conformance(_ name: String) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try await BackendConformance.run(name) { clock in
            try SQLiteBackend(configuration: .init(path: directory.file("store.sqlite"), stepLimit: BackendConformance.stepLimit, clock: clock))
        }
    }
}

@Suite("SQLiteBackend circuits across connections")
struct SQLiteCircuitRaceTests {
    @Test func oneProbeAcrossThreeConnectionsToTheFile() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let clock = ManualStoreClock()
        let stores = try (0..<3).map { _ in try SQLiteBackend(configuration: .init(path: directory.file("store.sqlite"), clock: clock)) }
        try await BackendConformance.probeRace(stores, clock: clock)
    }
}

/// Long: scripts/test runs it apart from the parallel suites.
@Suite("SQLiteBackend model-based (heavy)")
struct SQLiteModelTests {
    @Test func randomOperationsMatchTheModel() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try await BackendConformance.runModel { clock in
            try SQLiteBackend(configuration: .init(path: directory.file("store.sqlite"), stepLimit: BackendConformance.stepLimit, clock: clock))
        }
    }
}

/// Long: scripts/test runs it apart from the parallel suites. Half-way the store is opened
/// again from its file, as after a restart.
@Suite("SQLiteBackend schedule year (heavy)")
struct SQLiteScheduleYearTests {
    @Test func everySlotFiresExactlyOnce() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        try await BackendConformance.runScheduleYear { clock in
            try SQLiteBackend(configuration: .init(path: directory.file("store.sqlite"), stepLimit: BackendConformance.stepLimit, clock: clock))
        }
    }
}
