import NIOCore
import NIOHTTP1

extension TestSite {
    typealias Connection = NIOAsyncChannel<HTTPServerRequestPart, HTTPServerResponsePart>

    /// Answers the requests of one keep-alive connection in order.
    func serve(_ connection: Connection) async {
        try? await connection.executeThenClose { inbound, _ in
            var head: HTTPRequestHead?
            for try await part in inbound {
                switch part {
                case .head(let received): head = received
                case .body: break
                case .end:
                    guard let request = head else { continue }
                    head = nil
                    var writer = ResponseWriter(channel: connection.channel)
                    let keepOpen = try await answer(request, &writer, allocator: connection.channel.allocator)
                    try await writer.drain()
                    if !keepOpen || !request.isKeepAlive { return }
                }
            }
        }
    }

    /// Writes the response to one request; false when the connection must close after it.
    private func answer(
        _ head: HTTPRequestHead, _ outbound: inout ResponseWriter, allocator: ByteBufferAllocator
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
                    if count <= 0 { try await outbound.drain(); return false }
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
            if let cut = response.closeAfterBytes, sent >= cut {
                try await outbound.drain()
                return false
            }
        }
        try await outbound.write(.end(nil))
        return true
    }
}

/// Writes a response's parts with at most a few in flight. The async channel's own writer
/// hands every part to the event loop at once, so a fast body piles up there (tens of MB in
/// the 2 GiB test); waiting on the oldest write keeps the site's memory to 16 chunks (1 MiB).
struct ResponseWriter {
    private let channel: any Channel
    private var inFlight: [EventLoopFuture<Void>] = []
    private static let window = 16

    init(channel: any Channel) {
        self.channel = channel
    }

    mutating func write(_ part: HTTPServerResponsePart) async throws {
        inFlight.append(channel.writeAndFlush(part))
        if inFlight.count > Self.window { try await inFlight.removeFirst().get() }
    }

    /// Waits until every part written so far is on the socket (before a deliberate close).
    mutating func drain() async throws {
        let pending = inFlight
        inFlight = []
        for write in pending { try await write.get() }
    }
}
