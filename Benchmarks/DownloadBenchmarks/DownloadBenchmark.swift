import ConveyorIngestHTTP
import ConveyorTestSite
import Crypto
import Foundation
import Subprocess

struct DownloadBenchmark {
    var sizeMiB = 1024
    var rounds = 5
    var directory = "/tmp"

    init(arguments: [String]) throws {
        var rest = arguments[...]
        while let flag = rest.popFirst() {
            guard let value = rest.popFirst() else { throw BenchError.usage("\(flag) needs a value") }
            switch flag {
            case "--size-mib": sizeMiB = try Self.positive(value, flag)
            case "--rounds": rounds = try Self.positive(value, flag)
            case "--dir": directory = value
            default: throw BenchError.usage("unknown option \(flag)")
            }
        }
    }

    private static func positive(_ text: String, _ flag: String) throws -> Int {
        guard let value = Int(text), value > 0 else { throw BenchError.usage("\(flag) takes a positive number, not \(text)") }
        return value
    }

    /// One tool's measurements over the rounds.
    struct Series {
        var name: String
        var megabytesPerSecond: [Double] = []
        var peakRSSMiB: [Double] = []
    }

    func run() async throws {
        let size = Int64(sizeMiB) << 20
        let generated = GeneratedBytes(size: size, seed: 42)
        let site = try await TestSite.start()
        // Large chunks, so the site (in this process, on the same two cores) is not the bottleneck.
        var file = SiteResponse.generated(size: size, seed: 42, etag: "\"bench\"")
        file.chunkSize = 256 * 1024
        site.route("/bench.bin", .always(file))
        let work = directory + "/conveyor-download-bench-\(getpid())"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let timeAvailable = FileManager.default.isExecutableFile(atPath: "/usr/bin/time")
        let me = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")

        print("expected digest: computing…")
        var hasher = SHA256()
        generated.forEachChunk(chunkSize: 4 << 20) { hasher.update(bufferPointer: $0) }
        let expected = hasher.finalize().map { String(format: "%02x", $0) }.joined()

        var downloader = Series(name: "Downloader")
        var curl = Series(name: "curl -o")
        // curl does not hash: the same work as the Downloader is curl, then sha256sum of the file.
        var curlThenHash = Series(name: "curl -o, then sha256sum")
        let url = site.url("/bench.bin")
        print("\(sizeMiB) MiB over loopback, \(rounds) rounds; /usr/bin/time \(timeAvailable ? "found" : "missing: RSS of curl not measured")")
        for round in 1...rounds {
            // Alternate which goes first, so neither always finds the page cache warmer.
            let order = round % 2 == 1 ? [true, false] : [false, true]
            for isDownloader in order {
                let command = isDownloader ? [me, "download", url, work] : ["curl", "-s", "-S", "-f", "-o", work + "/curl.bin", url]
                let run = try await measure(command, timed: timeAvailable)
                let megabytes = Double(size) / 1_000_000
                if isDownloader {
                    let fields = run.standardOutput.split(separator: " ")
                    guard fields.count == 4, Int64(fields[0]) == size else {
                        throw BenchError.failed("the downloader child printed \(run.standardOutput)")
                    }
                    if String(fields[2]) != expected { throw BenchError.failed("the downloader's SHA-256 \(fields[2]) is not \(expected)") }
                    downloader.megabytesPerSecond.append(megabytes / run.seconds)
                    downloader.peakRSSMiB.append(Double(run.maxRSSKiB ?? Int(fields[3]) ?? 0) / 1024)
                    try? FileManager.default.removeItem(atPath: work + "/downloader.bin")
                } else {
                    let attributes = try FileManager.default.attributesOfItem(atPath: work + "/curl.bin")
                    guard (attributes[.size] as? NSNumber)?.int64Value == size else { throw BenchError.failed("curl wrote a short file") }
                    curl.megabytesPerSecond.append(megabytes / run.seconds)
                    if let rss = run.maxRSSKiB { curl.peakRSSMiB.append(Double(rss) / 1024) }
                    let hash = try await measure(["sha256sum", work + "/curl.bin"], timed: timeAvailable)
                    if !hash.standardOutput.hasPrefix(expected) { throw BenchError.failed("curl's file has another SHA-256") }
                    curlThenHash.megabytesPerSecond.append(megabytes / (run.seconds + hash.seconds))
                    if let rss = run.maxRSSKiB, let hashRSS = hash.maxRSSKiB {
                        curlThenHash.peakRSSMiB.append(Double(max(rss, hashRSS)) / 1024)
                    }
                    try? FileManager.default.removeItem(atPath: work + "/curl.bin")
                }
                print(String(format: "round %d %@: %.0f MB/s, peak RSS %@", round, isDownloader ? "Downloader" : "curl",
                             megabytes / run.seconds, run.maxRSSKiB.map { String(format: "%.1f MiB", Double($0) / 1024) } ?? "n/a"))
            }
        }
        await site.stop()

        print("")
        print("| tool | MB/s median | MB/s min–max | peak RSS median | peak RSS min–max |")
        print("| --- | ---: | ---: | ---: | ---: |")
        for series in [downloader, curl, curlThenHash] {
            guard let speed = Stats(series.megabytesPerSecond) else { continue }
            let rss = Stats(series.peakRSSMiB)
            print(String(format: "| %@ | %.0f | %.0f–%.0f | %@ | %@ |", series.name, speed.median, speed.min, speed.max,
                         rss.map { String(format: "%.1f MiB", $0.median) } ?? "n/a",
                         rss.map { String(format: "%.1f–%.1f MiB", $0.min, $0.max) } ?? "n/a"))
        }
    }

    struct Run {
        var seconds: Double
        var maxRSSKiB: Int?
        var standardOutput: String
    }

    /// Runs `command` (under `/usr/bin/time -f "%M"` when it can) and times it from the parent.
    private func measure(_ command: [String], timed: Bool) async throws -> Run {
        let started = ContinuousClock.now
        let result = timed
            ? try await Subprocess.run(.path("/usr/bin/time"), arguments: Arguments(["-f", "maxrss-kib %M"] + command),
                                       output: .string(limit: 1 << 16), error: .string(limit: 1 << 16))
            : try await Subprocess.run(.name(command[0]), arguments: Arguments(Array(command.dropFirst())),
                                       output: .string(limit: 1 << 16), error: .string(limit: 1 << 16))
        let seconds = (ContinuousClock.now - started).seconds
        guard case .exited(0) = result.terminationStatus else {
            throw BenchError.failed("\(command.joined(separator: " ")) ended with \(result.terminationStatus): \(result.standardError)")
        }
        let rss = (result.standardError).split(separator: "\n")
            .last { $0.hasPrefix("maxrss-kib ") }
            .flatMap { Int($0.dropFirst("maxrss-kib ".count)) }
        return Run(seconds: seconds, maxRSSKiB: rss,
                   standardOutput: result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}

struct Stats {
    var median: Double
    var min: Double
    var max: Double

    init?(_ values: [Double]) {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        median = sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        min = sorted.first!
        max = sorted.last!
    }
}

enum BenchError: Error, CustomStringConvertible {
    case usage(String)
    case failed(String)

    var description: String {
        switch self {
        case .usage(let message): "usage: conveyor-download-bench [--size-mib N] [--rounds N] [--dir PATH]: \(message)"
        case .failed(let message): message
        }
    }
}
