import ConveyorIngestHTTP
import ConveyorTestSite
import Foundation
import Testing

/// Alone in its file and suite: peak RSS is per process, so run it by itself
/// (`swift test --filter DownloadMemoryTests`).
@Suite("Download memory")
struct DownloadMemoryTests {
    @Test("a 2 GiB file streams to disk with the right SHA-256 and under 50 MB of peak RSS growth")
    func twoGiBWithBoundedMemory() async throws {
        let size: Int64 = 2 << 30
        let site = try await TestSite.start()
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        site.route("/big.bin", .always(.generated(size: size, seed: 2026, etag: "\"big\"")))
        let downloader = Downloader(store: try directory.store(), configuration: testConfiguration {
            $0.maxAttempts = 1
            $0.totalTimeout = .seconds(600)
        })

        let before = try MemoryReading.current()
        try MemoryReading.resetPeak()
        let result: DownloadResult
        do {
            result = try await downloader.download(site.url("/big.bin"), to: "big.bin")
        } catch {
            try? await downloader.shutdown()
            await site.stop()
            throw error
        }
        let after = try MemoryReading.current()
        try await downloader.shutdown()
        await site.stop()

        let growth = after.peakKiB - before.residentKiB
        print("2 GiB download: \(result.duration), RSS before \(before.residentKiB) KiB, peak after \(after.peakKiB) KiB, growth \(growth) KiB")
        #expect(result.outcome == .downloaded)
        #expect(result.bytes == size)
        #expect(growth < 50 * 1024, "peak RSS grew by \(growth) KiB")
        #expect(result.sha256 == expectedSHA256(GeneratedBytes(size: size, seed: 2026)))
        try FileManager.default.removeItem(atPath: directory.path + "/big.bin")
    }
}

/// VmRSS and VmHWM from /proc/self/status; writing 5 to /proc/self/clear_refs resets VmHWM.
struct MemoryReading {
    var residentKiB: Int
    var peakKiB: Int

    static func current() throws -> MemoryReading {
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        func field(_ name: String) -> Int {
            let line = status.split(separator: "\n").first { $0.hasPrefix(name + ":") } ?? ""
            return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
        }
        return MemoryReading(residentKiB: field("VmRSS"), peakKiB: field("VmHWM"))
    }

    static func resetPeak() throws {
        try "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
    }
}
