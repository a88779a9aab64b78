@testable import ConveyorIngestHTTP
import Testing

@Suite("Download header parsing")
struct DownloadParsingTests {
    @Test("Retry-After in seconds and in the three HTTP-date forms")
    func retryAfter() {
        let date = "Sun, 06 Nov 1994 08:49:37 GMT"
        #expect(HTTPDateParser.secondsSince1970(date) == 784_111_777)
        #expect(HTTPDateParser.secondsSince1970("Sunday, 06-Nov-94 08:49:37 GMT") == 784_111_777)
        #expect(HTTPDateParser.secondsSince1970("Sun Nov  6 08:49:37 1994") == 784_111_777)
        #expect(HTTPDateParser.secondsSince1970("soon") == nil)
        #expect(RetryAfter.parse(" 120 ", responseDate: nil, now: { 0 }) == .seconds(120))
        #expect(RetryAfter.parse("Sun, 06 Nov 1994 08:50:07 GMT", responseDate: date, now: { 0 }) == .seconds(30))
        #expect(RetryAfter.parse("Sun, 06 Nov 1994 08:50:07 GMT", responseDate: nil, now: { 784_111_777 }) == .seconds(30))
        #expect(RetryAfter.parse("Sun, 06 Nov 1994 08:40:00 GMT", responseDate: date, now: { 0 }) == .zero)
        #expect(RetryAfter.parse("later", responseDate: nil, now: { 0 }) == nil)
    }

    @Test("HTML sniffing by Content-Type and by first bytes")
    func sniffing() {
        #expect(HTMLSniffer.isHTMLContentType("text/html"))
        #expect(HTMLSniffer.isHTMLContentType("Text/HTML; charset=ISO-8859-1"))
        #expect(!HTMLSniffer.isHTMLContentType("text/csv"))
        #expect(!HTMLSniffer.isHTMLContentType(nil))
        #expect(HTMLSniffer.looksLikeHTML(Array("<!DOCTYPE html>".utf8)))
        #expect(HTMLSniffer.looksLikeHTML(Array("\u{FEFF} \n\t<html lang=en>".utf8)))
        #expect(!HTMLSniffer.looksLikeHTML(Array("id,name\n".utf8)))
        #expect(!HTMLSniffer.looksLikeHTML(Array("<!doc".utf8)))
        #expect(!HTMLSniffer.looksLikeHTML([UInt8]()))
    }

    @Test("Content-Range")
    func contentRange() {
        let range = ContentRange("bytes 100-199/1000")
        #expect(range?.start == 100)
        #expect(range?.end == 199)
        #expect(range?.total == 1000)
        #expect(ContentRange("bytes 5-9/*")?.total == nil)
        #expect(ContentRange("bytes */1000") == nil)
    }

    @Test("URLs: host, port and the host limit key")
    func urls() throws {
        let url = try DownloadURL("HTTPS://user@TradeStat.Commerce.gov.in:8443/eidb?hs=0901#top")
        #expect(url.scheme == "https")
        #expect(url.host == "tradestat.commerce.gov.in")
        #expect(url.port == 8443)
        #expect(url.pathAndQuery == "/eidb?hs=0901")
        #expect(url.limitKey == "host:tradestat.commerce.gov.in")
        #expect(try DownloadURL("http://[::1]:8080/x").host == "::1")
        #expect(try DownloadURL("http://example.org").pathAndQuery == "/")
    }

    @Test("backoff grows by the multiplier up to the maximum")
    func backoff() async throws {
        var configuration = Downloader.Configuration()
        configuration.jitter = 0
        configuration.initialBackoff = .seconds(1)
        configuration.maximumBackoff = .seconds(5)
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let downloader = Downloader(store: try directory.store(), configuration: configuration)
        #expect((1...5).map { downloader.backoff(afterAttempt: $0) } == [.seconds(1), .seconds(2), .seconds(4), .seconds(5), .seconds(5)])
        try await downloader.shutdown()
    }
}
