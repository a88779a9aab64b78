import ConveyorIngestHTTP
import ConveyorTestSite
import MetricsTestKit
import Testing

@Suite("Download behaviour: redirects, cancellation, metrics")
struct DownloadBehaviourTests {
    @Test("a redirect is followed to the file")
    func followsRedirects() async throws {
        try await withSiteAndDownloader { site, downloader, _ in
            site.route("/latest.csv", .always(.status(302).with(header: "Location", site.url("/2026-12-04.csv"))))
            site.route("/2026-12-04.csv", .always(.text("d,v\n", contentType: "text/csv")))
            let result = try await downloader.download(site.url("/latest.csv"), to: "latest.csv")
            #expect(result.outcome == .downloaded)
            #expect(result.bytes == 4)
            #expect(site.requests(to: "/2026-12-04.csv").count == 1)
        }
    }

    @Test("a cancelled download throws CancellationError and keeps its partial file")
    func cancellation() async throws {
        try await withSiteAndDownloader { site, downloader, _ in
            site.route("/endless.bin", .always(.generated(size: 100_000_000, etag: "\"e\"").slow(chunkSize: 100_000, pause: .milliseconds(20))))
            let task = Task { try await downloader.download(site.url("/endless.bin"), to: "endless.bin") }
            // Wait until bytes are on disk, then cancel.
            while (try await downloader.store.partial(named: "endless.bin"))?.size ?? 0 < 200_000 {
                try await Task.sleep(for: .milliseconds(10))
            }
            task.cancel()
            let outcome = await task.result
            #expect(throws: CancellationError.self) { try outcome.get() }
            let kept = try await downloader.store.partial(named: "endless.bin")
            #expect((kept?.size ?? 0) >= 200_000)
            #expect(site.requests(to: "/endless.bin").count == 1)
        }
    }

    @Test("outcomes, bytes and retries are counted through swift-metrics")
    func metrics() async throws {
        let metrics = TestMetrics()
        let configuration = testConfiguration { $0.metricsFactory = metrics }
        try await withSiteAndDownloader(configuration: configuration) { site, downloader, _ in
            site.route("/m.bin", .sequence([.status(503), .generated(size: 12_345)]))
            site.route("/m.csv", .always(.htmlErrorPage(contentType: "text/csv")))
            site.route("/gone", .always(.status(404)))
            _ = try await downloader.download(site.url("/m.bin"), to: "m.bin")
            _ = try await downloader.download(site.url("/m.csv"), to: "m.csv")
            _ = try? await downloader.download(site.url("/gone"), to: "gone")
        }
        #expect(try metrics.expectCounter("conveyor_downloads_total", [("outcome", "downloaded")]).totalValue == 1)
        #expect(try metrics.expectCounter("conveyor_downloads_total", [("outcome", "html_error")]).totalValue == 1)
        #expect(try metrics.expectCounter("conveyor_downloads_total", [("outcome", "failed")]).totalValue == 1)
        #expect(try metrics.expectCounter("conveyor_download_retries_total", [("reason", "status")]).totalValue == 1)
        #expect(try metrics.expectCounter("conveyor_download_bytes_total").totalValue == 12_345)
        #expect(try metrics.expectTimer("conveyor_download_duration_seconds").values.count == 3)
    }
}
