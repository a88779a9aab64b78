import ConveyorIngestHTTP
import Foundation

/// The child: one download into `directory`, then one line `bytes seconds sha256 vmhwm-kib`.
enum DownloadChild {
    static func run(url: String, directory: String) async throws {
        let store = try DirectoryFileStore(directory, synchronizesOnFinalize: false)
        var configuration = Downloader.Configuration()
        configuration.maxAttempts = 1
        let result = try await Downloader.withDownloader(store: store, configuration: configuration) { downloader in
            try await downloader.download(url, to: "downloader.bin")
        }
        print("\(result.bytes) \(result.duration.seconds) \(result.sha256 ?? "-") \(ProcessMemory.peakKiB())")
    }
}

enum ProcessMemory {
    /// VmHWM of this process, in KiB.
    static func peakKiB() -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }
}

extension Duration {
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
