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
