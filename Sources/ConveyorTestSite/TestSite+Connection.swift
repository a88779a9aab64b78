import NIOCore
import NIOHTTP1

extension TestSite {
    typealias Connection = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>

    /// Answers the requests of one keep-alive connection in order.
    func serve(_ connection: Connection) async {
        try? await connection.executeThenClose { inbound, outbound in
            var head: HTTPRequestHead?
            for try await part in inbound {
                switch part {
                case .head(let received): head = received
                case .body: break
                case .end:
                    guard let request = head else { continue }
                    head = nil
                    let keepOpen = try await answer(request, outbound, allocator: connection.channel.allocator)
                    if !keepOpen || !request.isKeepAlive { return }
                }
            }
        }
    }

    /// Writes the response to one request; false when the connection must close after it.
    private func answer(
        _ head: HTTPRequestHead, _ outbound: NIOAsyncChannelOutboundWriter<HTTPServerResponsePart>,
        allocator: ByteBufferAllocator
    ) async throws -> Bool {
        let (request, response) = respond(
            method: head.method.rawValue, uri: head.uri, headers: head.headers.map { ($0.name, $0.value) })
        let plan = ResponsePlan(response: response, request: request)

        var headers = HTTPHeaders(response.headers.map { ($0.name, $0.value) })
        headers.replaceOrAdd(name: "Date", value: HTTPDate.format(secondsSince1970: HTTPDate.now()))
        if let etag = response.etag { headers.replaceOrAdd(name: "ETag", value: etag) }
        if let lastModified = response.lastModified { headers.replaceOrAdd(name: "Last-Modified", value: lastModified) }
        switch response.retryAfter {
        case .seconds(let seconds)?: headers.replaceOrAdd(name: "Retry-After", value: "\(seconds)")
        case .date(let seconds)?:
            headers.replaceOrAdd(name: "Retry-After", value: HTTPDate.format(secondsSince1970: HTTPDate.now() + Int64(seconds)))
        case nil: break
        }
        if response.acceptsRanges, plan.status == 200 || plan.status == 206 {
            headers.replaceOrAdd(name: "Accept-Ranges", value: "bytes")
        }
        if let contentRange = plan.contentRange { headers.replaceOrAdd(name: "Content-Range", value: contentRange) }
        if plan.status != 304 {
            headers.replaceOrAdd(name: "Content-Length", value: "\(plan.range.count)")
        }
        if plan.status == 304 || plan.status == 416 { headers.remove(name: "Content-Type") }
        if !head.isKeepAlive { headers.replaceOrAdd(name: "Connection", value: "close") }

        try await outbound.write(.head(HTTPResponseHead(
            version: .http1_1, status: HTTPResponseStatus(statusCode: plan.status), headers: headers)))
        if head.method != .HEAD, !plan.range.isEmpty {
            let chunkSize = max(1, response.chunkSize)
            var offset = plan.range.lowerBound
            var sent: Int64 = 0
            while offset < plan.range.upperBound {
                if sent > 0, let pause = response.pauseBetweenChunks { try await Task.sleep(for: pause) }
                var count = Int(min(Int64(chunkSize), plan.range.upperBound - offset))
                if let cut = response.closeAfterBytes {
                    count = Int(min(Int64(count), cut - sent))
                    if count <= 0 { return false }
                }
                var buffer = allocator.buffer(capacity: count)
                switch response.body {
                case .empty: break
                case .bytes(let bytes):
                    buffer.writeBytes(bytes[Int(offset)..<Int(offset) + count])
                case .generated(let generated):
                    buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { raw in
                        generated.copy(from: offset, count: count, into: raw.baseAddress!)
                        return count
                    }
                }
                try await outbound.write(.body(.byteBuffer(buffer)))
                offset += Int64(count)
                sent += Int64(count)
            }
            if let cut = response.closeAfterBytes, sent >= cut { return false }
        }
        try await outbound.write(.end(nil))
        return true
    }
}

/// The status, byte range and Content-Range a response gets once the request's conditional
/// and Range headers are applied.
struct ResponsePlan {
    var status: Int
    var range: Range<Int64>
    var contentRange: String?

    init(response: SiteResponse, request: SiteRequest) {
        let total = response.body.count
        status = response.status
        range = 0..<total
        guard response.status == 200 else { return }

        if Self.notModified(response, request) {
            status = 304
            range = 0..<0
            return
        }
        guard response.acceptsRanges, let header = request.header("Range"),
              let (start, end) = Self.parseRange(header), Self.ifRangeHolds(response, request)
        else { return }
        if start >= total {
            status = 416
            range = 0..<0
            contentRange = "bytes */\(total)"
            return
        }
        let last = min(end ?? (total - 1), total - 1)
        status = 206
        range = start..<(last + 1)
        contentRange = "bytes \(start)-\(last)/\(total)"
    }

    private static func notModified(_ response: SiteResponse, _ request: SiteRequest) -> Bool {
        if let ifNoneMatch = request.header("If-None-Match") {
            guard let etag = response.etag else { return false }
            let tags = ifNoneMatch.split(separator: ",").map { $0.trimmingSpaces() }
            return tags.contains("*") || tags.contains { weakForm($0) == weakForm(etag) }
        }
        if let since = request.header("If-Modified-Since"), let lastModified = response.lastModified {
            return since == lastModified
        }
        return false
    }

    /// If-Range with a strong ETag or the exact Last-Modified keeps the range; anything else
    /// means the client's partial copy is of another version, so it gets the whole body.
    private static func ifRangeHolds(_ response: SiteResponse, _ request: SiteRequest) -> Bool {
        guard let ifRange = request.header("If-Range") else { return true }
        if ifRange.hasPrefix("\"") { return ifRange == response.etag }
        return ifRange == response.lastModified
    }

    private static func weakForm(_ tag: String) -> String {
        tag.hasPrefix("W/") ? String(tag.dropFirst(2)) : tag
    }

    /// `bytes=N-` or `bytes=N-M`; other forms (suffixes, several ranges) are ignored.
    static func parseRange(_ header: String) -> (Int64, Int64?)? {
        guard header.hasPrefix("bytes=") else { return nil }
        let spec = header.dropFirst("bytes=".count)
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-"),
              let start = Int64(spec[..<dash]) else { return nil }
        let endText = spec[spec.index(after: dash)...]
        if endText.isEmpty { return (start, nil) }
        guard let end = Int64(endText), end >= start else { return nil }
        return (start, end)
    }
}

extension Substring {
    func trimmingSpaces() -> String {
        String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
    }
}
