import Conveyor
import ConveyorTesting
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
