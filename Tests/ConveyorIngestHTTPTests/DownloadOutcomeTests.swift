import ConveyorIngestHTTP
import ConveyorTestSite
import Testing

@Suite("Download outcomes: HTML error pages and conditional requests")
struct DownloadOutcomeTests {
    @Test("an HTML error page with status 200 where CSV was expected is an htmlError outcome", arguments: [
        "text/csv", "text/html; charset=utf-8", "application/octet-stream",
    ])
    func htmlErrorPage(contentType: String) async throws {
        try await withSiteAndDownloader { site, downloader, _ in
            site.route("/report.csv", .always(.htmlErrorPage(contentType: contentType)))
            let result = try await downloader.download(site.url("/report.csv"), to: "pos/report.csv")
            guard case .htmlError(let status, let snippet) = result.outcome else {
                Issue.record("expected htmlError, got \(result.outcome)")
                return
            }
            #expect(status == 200)
            #expect(snippet.hasPrefix("<!doctype html>"))
            #expect(snippet.utf8.count <= 512)
            #expect(result.sha256 == nil)
            #expect(try await downloader.store.size(of: "pos/report.csv") == nil)
            #expect(try await downloader.store.partial(named: "pos/report.csv") == nil)
        }
    }

    @Test("an HTML page is spotted after a byte-order mark and whitespace, in any case")
    func htmlAfterBOM() async throws {
        try await withSiteAndDownloader { site, downloader, _ in
            site.route("/bom.csv", .always(.html("\u{FEFF}\r\n   <HTML><body>maintenance</body></HTML>", contentType: "text/csv")))
            let result = try await downloader.download(site.url("/bom.csv"), to: "bom.csv")
            guard case .htmlError(200, let snippet) = result.outcome else {
                Issue.record("expected htmlError, got \(result.outcome)")
                return
            }
            #expect(snippet.contains("maintenance"))
        }
    }

    @Test("a long HTML page keeps only its first 512 bytes as the snippet")
    func snippetIsBounded() async throws {
        try await withSiteAndDownloader { site, downloader, _ in
            let page = "<!DOCTYPE html><html><body>" + String(repeating: "<p>busy</p>", count: 20_000) + "</body></html>"
            site.route("/long.csv", .always(.html(page, contentType: "text/csv")))
            let result = try await downloader.download(site.url("/long.csv"), to: "long.csv")
            guard case .htmlError(_, let snippet) = result.outcome else {
                Issue.record("expected htmlError, got \(result.outcome)")
                return
            }
            #expect(snippet.utf8.count == 512)
        }
    }

    @Test("HTML is a file like any other when the caller expects any content")
    func htmlWhenExpected() async throws {
        try await withSiteAndDownloader { site, downloader, _ in
            site.route("/index.html", .always(.htmlErrorPage()))
            let result = try await downloader.download(site.url("/index.html"), to: "index.html", expecting: .anyContent)
            #expect(result.outcome == .downloaded)
            #expect(result.bytes > 0)
        }
    }

    @Test("CSV that mentions <html> later is data")
    func csvIsData() async throws {
        try await withSiteAndDownloader { site, downloader, _ in
            site.route("/ok.csv", .always(.text("id,markup\n1,<html>\n", contentType: "text/csv")))
            let result = try await downloader.download(site.url("/ok.csv"), to: "ok.csv")
            #expect(result.outcome == .downloaded)
        }
    }

    @Test("a 304 to If-None-Match is notModified and writes nothing")
    func notModifiedByETag() async throws {
        try await withSiteAndDownloader { site, downloader, _ in
            site.route("/prices.csv", .always(.generated(size: 100_000, etag: "\"prices-42\"")))
            let first = try await downloader.download(site.url("/prices.csv"), to: "prices.csv")
            #expect(first.outcome == .downloaded)
            #expect(first.validators.etag == "\"prices-42\"")

            let second = try await downloader.download(site.url("/prices.csv"), to: "prices-2.csv", ifChangedSince: first.validators)
            #expect(second.outcome == .notModified)
            #expect(second.status == 304)
            #expect(second.bytes == 0)
            #expect(second.sha256 == nil)
            #expect(site.requests(to: "/prices.csv")[1].header("If-None-Match") == "\"prices-42\"")
            #expect(try await downloader.store.size(of: "prices-2.csv") == nil)
        }
    }

    @Test("a 304 to If-Modified-Since is notModified")
    func notModifiedByDate() async throws {
        try await withSiteAndDownloader { site, downloader, _ in
            let stamp = "Wed, 02 Dec 2026 06:00:00 GMT"
            site.route("/daily.csv", .always(.text("a\n", contentType: "text/csv").lastModified(stamp)))
            let result = try await downloader.download(
                site.url("/daily.csv"), to: "daily.csv", ifChangedSince: Validators(lastModified: stamp))
            #expect(result.outcome == .notModified)
            #expect(site.requests(to: "/daily.csv")[0].header("If-Modified-Since") == stamp)
        }
    }

    @Test("a changed resource is downloaded despite old validators")
    func changedResource() async throws {
        try await withSiteAndDownloader { site, downloader, _ in
            site.route("/v.csv", .always(.generated(size: 1000, etag: "\"v2\"")))
            let result = try await downloader.download(site.url("/v.csv"), to: "v.csv", ifChangedSince: Validators(etag: "\"v1\""))
            #expect(result.outcome == .downloaded)
            #expect(result.etag == "\"v2\"")
        }
    }
}

extension SiteResponse {
    func lastModified(_ value: String) -> SiteResponse {
        var copy = self
        copy.lastModified = value
        return copy
    }
}
