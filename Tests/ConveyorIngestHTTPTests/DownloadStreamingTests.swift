import ConveyorIngestHTTP
import ConveyorTestSite
import Foundation
import Testing

@Suite("Streaming downloads")
struct DownloadStreamingTests {
    @Test("a file is streamed to the store with its SHA-256, size and validators")
    func downloadsAFile() async throws {
        try await withSiteAndDownloader { site, downloader, directory in
            let size: Int64 = 5_000_003
            site.route("/data/file.bin", .always(.generated(
                size: size, seed: 3, contentType: "application/octet-stream", etag: "\"v1\"",
                lastModified: "Tue, 01 Dec 2026 10:00:00 GMT")))
            let result = try await downloader.download(site.url("/data/file.bin"), to: "raw/file.bin")

            #expect(result.outcome == .downloaded)
            #expect(result.bytes == size)
            #expect(result.resumedFrom == 0)
            #expect(result.status == 200)
            #expect(result.attempts == 1)
            #expect(result.etag == "\"v1\"")
            #expect(result.lastModified == "Tue, 01 Dec 2026 10:00:00 GMT")
            #expect(result.contentType == "application/octet-stream")
            let expected = expectedSHA256(GeneratedBytes(size: size, seed: 3))
            #expect(result.sha256 == expected)
            #expect(try sha256(ofFile: directory.path + "/raw/file.bin") == expected)
            #expect(try await downloader.store.size(of: "raw/file.bin") == size)
            #expect(try await downloader.store.partial(named: "raw/file.bin") == nil)
        }
    }

    @Test("a download cut in the middle is resumed with Range and If-Range within the call")
    func resumesWithinTheCall() async throws {
        let clock = RecordingClock()
        try await withSiteAndDownloader(clock: clock) { site, downloader, _ in
            let size: Int64 = 8_000_000
            let file = SiteResponse.generated(size: size, seed: 9, etag: "\"cut-1\"")
            site.route("/cut.bin", .sequence([file.truncated(after: 3_000_000), file]))
            let result = try await downloader.download(site.url("/cut.bin"), to: "cut.bin")

            #expect(result.outcome == .downloaded)
            #expect(result.status == 206)
            #expect(result.attempts == 2)
            #expect(result.bytes == size)
            #expect(result.resumedFrom > 0 && result.resumedFrom <= 3_000_000)
            #expect(result.sha256 == expectedSHA256(GeneratedBytes(size: size, seed: 9)))
            let requests = site.requests(to: "/cut.bin")
            #expect(requests.count == 2)
            #expect(requests[0].header("Range") == nil)
            #expect(requests[1].header("Range") == "bytes=\(result.resumedFrom)-")
            #expect(requests[1].header("If-Range") == "\"cut-1\"")
            #expect(clock.sleeps == [.milliseconds(500)])
        }
    }

    @Test("a partial file kept by a failed call is resumed by the next call")
    func resumesInALaterCall() async throws {
        let configuration = testConfiguration { $0.maxAttempts = 1 }
        try await withSiteAndDownloader(configuration: configuration) { site, downloader, _ in
            let size: Int64 = 6_000_000
            let file = SiteResponse.generated(size: size, seed: 4, lastModified: "Mon, 30 Nov 2026 08:00:00 GMT")
            site.route("/later.bin", .sequence([file.truncated(after: 2_500_000), file]))

            let error = await #expect(throws: DownloadError.self) {
                try await downloader.download(site.url("/later.bin"), to: "later.bin")
            }
            #expect(error?.description.contains(site.url("/later.bin")) == true)
            let partial = try #require(try await downloader.store.partial(named: "later.bin"))
            #expect(partial.size > 0 && partial.size <= 2_500_000)
            #expect(partial.lastModified == "Mon, 30 Nov 2026 08:00:00 GMT")

            let result = try await downloader.download(site.url("/later.bin"), to: "later.bin")
            #expect(result.resumedFrom == partial.size)
            #expect(result.sha256 == expectedSHA256(GeneratedBytes(size: size, seed: 4)))
            let second = site.requests(to: "/later.bin")[1]
            #expect(second.header("Range") == "bytes=\(partial.size)-")
            #expect(second.header("If-Range") == "Mon, 30 Nov 2026 08:00:00 GMT")
        }
    }

    @Test("a server that ignores Range (200) starts the file over")
    func startsOverOn200() async throws {
        try await withSiteAndDownloader { site, downloader, _ in
            let size: Int64 = 3_000_000
            let file = SiteResponse.generated(size: size, seed: 5).ignoringRanges()
            site.route("/norange.bin", .sequence([file.truncated(after: 1_000_000), file]))
            let result = try await downloader.download(site.url("/norange.bin"), to: "norange.bin")
            #expect(result.status == 200)
            #expect(result.resumedFrom == 0)
            #expect(result.bytes == size)
            #expect(result.sha256 == expectedSHA256(GeneratedBytes(size: size, seed: 5)))
            #expect(site.requests(to: "/norange.bin")[1].header("Range") != nil)
        }
    }

    @Test("a changed file (If-Range fails) is downloaded whole, not spliced")
    func changedFileIsNotSpliced() async throws {
        try await withSiteAndDownloader { site, downloader, _ in
            let old = SiteResponse.generated(size: 2_000_000, seed: 6, etag: "\"old\"")
            let new = SiteResponse.generated(size: 2_500_000, seed: 7, etag: "\"new\"")
            site.route("/changing.bin", .sequence([old.truncated(after: 700_000), new]))
            let result = try await downloader.download(site.url("/changing.bin"), to: "changing.bin")
            #expect(result.status == 200)
            #expect(result.etag == "\"new\"")
            #expect(result.sha256 == expectedSHA256(GeneratedBytes(size: 2_500_000, seed: 7)))
        }
    }

    @Test("a partial file longer than the file on the server (416) is dropped and the file fetched whole")
    func rangeNotSatisfiable() async throws {
        try await withSiteAndDownloader { site, downloader, _ in
            // No validators, so the resume sends a bare Range and the shorter new file gets a 416.
            let long = SiteResponse.generated(size: 3_000_000, seed: 1)
            let short = SiteResponse.generated(size: 1_000_000, seed: 2)
            site.route("/shrunk.bin", .sequence([long.truncated(after: 2_000_000), short]))
            let result = try await downloader.download(site.url("/shrunk.bin"), to: "shrunk.bin")
            #expect(result.status == 200)
            #expect(result.bytes == 1_000_000)
            #expect(result.sha256 == expectedSHA256(GeneratedBytes(size: 1_000_000, seed: 2)))
            let requests = site.requests(to: "/shrunk.bin")
            #expect(requests.count == 3)
            #expect(requests[1].header("Range") != nil)
            #expect(requests[2].header("Range") == nil)
        }
    }

    @Test("concurrent downloads share the downloader's client")
    func concurrentDownloads() async throws {
        try await withSiteAndDownloader { site, downloader, _ in
            for index in 0..<6 {
                site.route("/many/\(index).bin", .always(.generated(size: Int64(400_000 + index), seed: UInt64(index))))
            }
            let digests = try await withThrowingTaskGroup(of: (Int, String?).self) { group in
                for index in 0..<6 {
                    group.addTask {
                        (index, try await downloader.download(site.url("/many/\(index).bin"), to: "many/\(index).bin").sha256)
                    }
                }
                return try await group.reduce(into: [Int: String?]()) { $0[$1.0] = $1.1 }
            }
            for index in 0..<6 {
                #expect(digests[index] == expectedSHA256(GeneratedBytes(size: Int64(400_000 + index), seed: UInt64(index))))
            }
        }
    }

    @Test("seed 002's flow: a comma-separated file list, then each file")
    func fileListThenFiles() async throws {
        try await withSiteAndDownloader { site, downloader, directory in
            site.route("/fetch_list2.php", .always(.fileList(["b17_1.csv", "b17_2.csv"])))
            site.route("/files/b17_1.csv", .always(.text("sku,qty\n1,2\n", contentType: "text/csv")))
            site.route("/files/b17_2.csv", .always(.text("sku,qty\n3,4\n", contentType: "text/csv")))
            let list = try await downloader.download(site.url("/fetch_list2.php"), to: "lists/b17.txt", expecting: .anyContent)
            #expect(list.outcome == .downloaded)
            let names = try String(contentsOfFile: directory.path + "/lists/b17.txt", encoding: .utf8)
                .split(separator: ",").map(String.init)
            #expect(names == ["b17_1.csv", "b17_2.csv"])
            for name in names {
                let file = try await downloader.download(site.url("/files/\(name)"), to: "pos/\(name)")
                #expect(file.outcome == .downloaded)
                #expect(file.contentType == "text/csv")
            }
            #expect(try String(contentsOfFile: directory.path + "/pos/b17_2.csv", encoding: .utf8) == "sku,qty\n3,4\n")
        }
    }
}
