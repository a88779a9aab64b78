import Conveyor
import ConveyorTesting
import Synchronization
import Testing

@Suite("MemoryBackend conformance")
struct MemoryBackendConformanceTests {
    @Test(arguments: BackendConformance.names)
    func conformance(_ name: String) async throws {
        try await BackendConformance.run(name) { clock in MemoryBackend(clock: clock, stepLimit: BackendConformance.stepLimit) }
    }
}

/// Long: scripts/test runs it apart from the parallel suites.
@Suite("MemoryBackend model-based (heavy)")
struct MemoryBackendModelTests {
    @Test func randomOperationsMatchTheModel() async throws {
        try await BackendConformance.runModel { clock in MemoryBackend(clock: clock, stepLimit: BackendConformance.stepLimit) }
    }
}

/// Long: scripts/test runs it apart from the parallel suites. The memory store cannot restart,
/// so its "restart" gives the same store back.
@Suite("MemoryBackend schedule year (heavy)")
struct MemoryScheduleYearTests {
    @Test func everySlotFiresExactlyOnce() async throws {
        let store = Mutex<MemoryBackend?>(nil)
        try await BackendConformance.runScheduleYear { clock in
            store.withLock { current in
                if let current { return current }
                let made = MemoryBackend(clock: clock, stepLimit: BackendConformance.stepLimit)
                current = made
                return made
            }
        }
    }
}
