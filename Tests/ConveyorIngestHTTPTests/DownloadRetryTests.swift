import Conveyor
import ConveyorIngestHTTP
import ConveyorTestSite
import Testing

@Suite("Download retries")
struct DownloadRetryTests {
    @Test("429 with Retry-After in seconds waits that long, then downloads")
    func retryAfterSeconds() async throws {
        let clock = RecordingClock()
        try await withSiteAndDownloader(clock: clock) { site, downloader, _ in
            site.route("/busy.csv", .sequence([.busy(status: 429, retryAfter: .seconds(7)), .text("a,b\n", contentType: "text/csv")]))
            let result = try await downloader.download(site.url("/busy.csv"), to: "busy.csv")
            #expect(result.outcome == .downloaded)
            #expect(result.attempts == 2)
            #expect(clock.sleeps == [.seconds(7)])
        }
    }

    @Test("503 with Retry-After as an HTTP-date waits until that date, measured on the response's Date")
    func retryAfterDate() async throws {
        let clock = RecordingClock()
        try await withSiteAndDownloader(clock: clock) { site, downloader, _ in
            site.route("/date.csv", .sequence([.busy(status: 503, retryAfter: .date(secondsFromNow: 3)), .text("a\n")]))
            let result = try await downloader.download(site.url("/date.csv"), to: "date.csv")
            #expect(result.attempts == 2)
            #expect(clock.sleeps == [.seconds(3)])
        }
    }

    @Test("a real 1 s Retry-After is honoured end to end")
    func retryAfterOnTheRealClock() async throws {
        try await withSiteAndDownloader(clock: ContinuousClock()) { site, downloader, _ in
            site.route("/slowdown", .sequence([.busy(status: 429, retryAfter: .seconds(1)), .text("ok\n")]))
            let result = try await downloader.download(site.url("/slowdown"), to: "slowdown", expecting: .anyContent)
            #expect(result.attempts == 2)
            let requests = site.requests(to: "/slowdown")
            #expect(requests.count == 2)
            #expect(requests[1].receivedAt - requests[0].receivedAt >= .milliseconds(950))
        }
    }

    @Test("5xx without Retry-After backs off exponentially")
    func backoffOn503() async throws {
        let clock = RecordingClock()
        try await withSiteAndDownloader(clock: clock) { site, downloader, _ in
            site.route("/flaky", .sequence([.status(503), .status(502), .status(500), .text("done\n")]))
            let result = try await downloader.download(site.url("/flaky"), to: "flaky", expecting: .anyContent)
            #expect(result.attempts == 4)
            #expect(clock.sleeps == [.milliseconds(500), .seconds(1), .seconds(2)])
        }
    }

    @Test("jitter keeps each backoff within its band and under the maximum")
    func jitteredBackoff() async throws {
        let clock = RecordingClock()
        let configuration = testConfiguration {
            $0.jitter = 0.5
            $0.maximumBackoff = .milliseconds(1500)
        }
        try await withSiteAndDownloader(configuration: configuration, clock: clock) { site, downloader, _ in
            site.route("/jitter", .sequence([.status(503), .status(503), .status(503), .text("done\n")]))
            _ = try await downloader.download(site.url("/jitter"), to: "jitter", expecting: .anyContent)
            let sleeps = clock.sleeps
            #expect(sleeps.count == 3)
            #expect((Duration.milliseconds(250)...Duration.milliseconds(750)).contains(sleeps[0]))
            #expect((Duration.milliseconds(500)...Duration.milliseconds(1500)).contains(sleeps[1]))
            #expect((Duration.milliseconds(1000)...Duration.milliseconds(1500)).contains(sleeps[2]))
        }
    }

    @Test("404 is not retried")
    func notFoundIsFinal() async throws {
        let clock = RecordingClock()
        try await withSiteAndDownloader(clock: clock) { site, downloader, _ in
            site.route("/gone.csv", .always(.status(404)))
            let error = await #expect(throws: DownloadError.self) {
                try await downloader.download(site.url("/gone.csv"), to: "gone.csv")
            }
            guard case .httpStatus(let url, 404, 1)? = error else {
                Issue.record("expected HTTP 404 after one attempt, got \(String(describing: error))")
                return
            }
            #expect(url == site.url("/gone.csv"))
            #expect(error?.description.contains("HTTP 404") == true)
            #expect(site.requests(to: "/gone.csv").count == 1)
            #expect(clock.sleeps.isEmpty)
            guard case .permanent? = error?.jobError else {
                Issue.record("a 404 should map to a permanent job error")
                return
            }
        }
    }

    @Test("retries exhausted on 429 with Retry-After become upstreamBusy on the host's limit key")
    func exhaustedRetriesAreUpstreamBusy() async throws {
        let clock = RecordingClock()
        let configuration = testConfiguration { $0.maxAttempts = 3 }
        try await withSiteAndDownloader(configuration: configuration, clock: clock) { site, downloader, _ in
            site.route("/always-busy", .always(.busy(status: 429, retryAfter: .seconds(2))))
            let error = await #expect(throws: DownloadError.self) {
                try await downloader.download(site.url("/always-busy"), to: "always-busy")
            }
            guard case .upstreamBusy(_, 429, let retryAfter, 3)? = error else {
                Issue.record("expected upstreamBusy after 3 attempts, got \(String(describing: error))")
                return
            }
            #expect(retryAfter == .seconds(2))
            #expect(site.requests(to: "/always-busy").count == 3)
            #expect(clock.sleeps == [.seconds(2), .seconds(2)])
            guard case .upstreamBusy(let wait, let key, _)? = error?.jobError else {
                Issue.record("expected JobError.upstreamBusy")
                return
            }
            #expect(wait == .seconds(2))
            #expect(key == "host:127.0.0.1")
            let limitKey = try Downloader.limitKey(for: site.url("/always-busy"))
            #expect(limitKey == "host:127.0.0.1")
        }
    }

    @Test("a Retry-After longer than the maximum ends the call at once")
    func longRetryAfterIsNotWaited() async throws {
        let clock = RecordingClock()
        try await withSiteAndDownloader(clock: clock) { site, downloader, _ in
            site.route("/come-back-tomorrow", .always(.busy(status: 503, retryAfter: .seconds(86_400))))
            let error = await #expect(throws: DownloadError.self) {
                try await downloader.download(site.url("/come-back-tomorrow"), to: "x")
            }
            guard case .upstreamBusy(_, 503, .seconds(86_400), 1)? = error else {
                Issue.record("expected upstreamBusy at once, got \(String(describing: error))")
                return
            }
            #expect(clock.sleeps.isEmpty)
        }
    }

    @Test("a refused connection is retried, then reported naming the URL")
    func connectionRefused() async throws {
        // A port bound but not listening, held for the whole test: a connection to it is
        // refused, and no other test's server can take the port meanwhile (a stopped site's
        // port could be given to one, which then answered or kept silent).
        let closed = try BoundPort()
        defer { closed.close() }
        let url = "http://127.0.0.1:\(closed.port)/nothing-listens"
        let clock = RecordingClock()
        let configuration = testConfiguration { $0.maxAttempts = 2 }
        try await withSiteAndDownloader(configuration: configuration, clock: clock) { _, downloader, _ in
            let error = await #expect(throws: DownloadError.self) {
                try await downloader.download(url, to: "nothing")
            }
            guard case .connection(let failedURL, _, 2)? = error else {
                Issue.record("expected a connection error after 2 attempts, got \(String(describing: error))")
                return
            }
            #expect(failedURL == url)
            #expect(clock.sleeps == [.milliseconds(500)])
        }
    }
}
