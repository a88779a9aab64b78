import ConveyorIngestHTTP
import ConveyorTestSite
import Testing

@Suite("Download failures: timeouts and bad input")
struct DownloadFailureTests {
    @Test("a body that stalls longer than the read timeout fails naming the URL and the read timeout")
    func readTimeout() async throws {
        let configuration = testConfiguration {
            $0.readTimeout = .seconds(1)
            $0.maxAttempts = 1
        }
        try await withSiteAndDownloader(configuration: configuration) { site, downloader, _ in
            site.route("/stall.bin", .always(.generated(size: 1_000_000).slow(chunkSize: 10_000, pause: .seconds(30))))
            let started = ContinuousClock.now
            let error = await #expect(throws: DownloadError.self) {
                try await downloader.download(site.url("/stall.bin"), to: "stall.bin")
            }
            guard case .timedOut(let url, .read, .seconds(1))? = error else {
                Issue.record("expected a read timeout, got \(String(describing: error))")
                return
            }
            #expect(url == site.url("/stall.bin"))
            #expect(error?.description.contains("read timeout") == true)
            #expect(ContinuousClock.now - started < .seconds(10))
            // The bytes that came are kept for a later resume.
            let kept = try await downloader.store.partial(named: "stall.bin")
            #expect(kept?.size == 10_000)
        }
    }

    @Test("a read timeout is retried and the retry resumes")
    func readTimeoutRetried() async throws {
        let configuration = testConfiguration { $0.readTimeout = .seconds(1) }
        try await withSiteAndDownloader(configuration: configuration) { site, downloader, _ in
            let file = SiteResponse.generated(size: 200_000, seed: 11, etag: "\"s\"")
            site.route("/stall-once.bin", .sequence([file.slow(chunkSize: 50_000, pause: .seconds(30)), file]))
            let result = try await downloader.download(site.url("/stall-once.bin"), to: "stall-once.bin")
            #expect(result.attempts == 2)
            #expect(result.resumedFrom == 50_000)
            #expect(result.sha256 == expectedSHA256(GeneratedBytes(size: 200_000, seed: 11)))
        }
    }

    @Test("a download slower than the total timeout fails with the total timeout")
    func totalTimeout() async throws {
        let configuration = testConfiguration {
            $0.readTimeout = .seconds(5)
            $0.totalTimeout = .milliseconds(600)
        }
        try await withSiteAndDownloader(configuration: configuration) { site, downloader, _ in
            site.route("/trickle.bin", .always(.generated(size: 1_000_000).slow(chunkSize: 1000, pause: .milliseconds(100))))
            let error = await #expect(throws: DownloadError.self) {
                try await downloader.download(site.url("/trickle.bin"), to: "trickle.bin")
            }
            guard case .timedOut(_, .total, _)? = error else {
                Issue.record("expected the total timeout, got \(String(describing: error))")
                return
            }
            #expect(error?.description.contains("total timeout") == true)
        }
    }

    @Test("a malformed URL or an unsupported scheme is an error naming the URL, and nothing is sent", arguments: [
        ("", "empty"),
        ("ftp://files.example.org/a.csv", "scheme \"ftp\""),
        ("example.org/a.csv", "no scheme"),
        ("http//example.org/a.csv", "no scheme"),
        ("http:/example.org", "\"//\""),
        ("http:///a.csv", "no host"),
        ("http://exa mple.org/a.csv", "a space"),
        ("http://example.org:99999/a.csv", "port"),
        ("http://example.org:http/a.csv", "port"),
        ("https://bad_host!/x", "host"),
    ])
    func malformedURL(url: String, reason: String) async throws {
        try await withSiteAndDownloader { _, downloader, _ in
            let error = await #expect(throws: DownloadError.self) {
                try await downloader.download(url, to: "x.csv")
            }
            guard case .invalidURL(let named, let why)? = error else {
                Issue.record("expected invalidURL, got \(String(describing: error))")
                return
            }
            #expect(named == url)
            #expect(why.contains(reason))
            #expect(error?.description.contains("\"\(url)\"") == true)
            guard case .permanent? = error?.jobError else {
                Issue.record("a bad URL should be a permanent job error")
                return
            }
        }
    }

    @Test("a missing download directory is an error naming it")
    func missingDirectory() throws {
        let error = #expect(throws: FileStoreError.self) {
            try DirectoryFileStore("/tmp/conveyor-no-such-directory/raw")
        }
        guard case .missingDirectory(let path)? = error else {
            Issue.record("expected missingDirectory, got \(String(describing: error))")
            return
        }
        #expect(path == "/tmp/conveyor-no-such-directory/raw")
        #expect(error?.description.contains("/tmp/conveyor-no-such-directory/raw") == true)
    }

    @Test("a directory removed after the store was made is reported when a download writes")
    func directoryRemovedLater() async throws {
        try await withSiteAndDownloader { site, downloader, directory in
            site.route("/a.csv", .always(.text("a\n")))
            directory.remove()
            let error = await #expect(throws: FileStoreError.self) {
                try await downloader.download(site.url("/a.csv"), to: "a.csv", expecting: .anyContent)
            }
            #expect(error?.description.contains(directory.path) == true)
        }
    }

    @Test("a file name that leaves the store is refused", arguments: ["../escape.csv", "/etc/passwd", "a//b.csv", "dir/", "./a.csv"])
    func invalidName(name: String) async throws {
        try await withSiteAndDownloader { site, downloader, _ in
            site.route("/a.csv", .always(.text("a\n")))
            let error = await #expect(throws: FileStoreError.self) {
                try await downloader.download(site.url("/a.csv"), to: name)
            }
            guard case .invalidName(name, _)? = error else {
                Issue.record("expected invalidName, got \(String(describing: error))")
                return
            }
        }
    }
}
