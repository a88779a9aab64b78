import AsyncHTTPClient
import Crypto
import Logging
import NIOCore
import NIOHTTP1

extension Downloader {
    /// One request: resumes the partial file when there is one, streams the body to the store
    /// while hashing it, and turns every failure into an ``AttemptFailure``.
    func attempt(url: DownloadURL, request: DownloadRequest, deadline: ContinuousClock.Instant?, logger: Logger)
        async throws -> DownloadResult
    {
        do {
            let partial = try await resumablePartial(url: url, name: request.destination)
            var outgoing = HTTPClientRequest(url: url.string)
            outgoing.method = .GET
            outgoing.headers.add(name: "User-Agent", value: configuration.userAgent)
            for header in request.headers { outgoing.headers.add(name: header.name, value: header.value) }
            if let partial {
                outgoing.headers.replaceOrAdd(name: "Range", value: "bytes=\(partial.size)-")
                // If-Range takes a strong ETag or a date; with neither the range is sent bare,
                // as curl -C does, and a site that changed the file answers 200 or 416.
                if let etag = partial.etag, !etag.hasPrefix("W/") {
                    outgoing.headers.replaceOrAdd(name: "If-Range", value: etag)
                } else if let lastModified = partial.lastModified {
                    outgoing.headers.replaceOrAdd(name: "If-Range", value: lastModified)
                }
            } else if let previous = request.previous {
                if let etag = previous.etag { outgoing.headers.replaceOrAdd(name: "If-None-Match", value: etag) }
                if let lastModified = previous.lastModified {
                    outgoing.headers.replaceOrAdd(name: "If-Modified-Since", value: lastModified)
                }
            }
            logger.debug("download attempt", metadata: ["resumingAt": "\(partial?.size ?? 0)"])

            // Before the response head, the read timeout starts once the connect timeout is over.
            let progress = Progress(grace: configuration.connectTimeout)
            let readTimeout = configuration.readTimeout
            let request = request
            let http = outgoing
            return try await withThrowingTaskGroup(of: DownloadResult?.self) { group in
                group.addTask {
                    try await self.transfer(http, url: url, request: request, partial: partial, progress: progress)
                }
                group.addTask {
                    try await Self.watch(progress, readTimeout: readTimeout, deadline: deadline)
                    return nil
                }
                defer { group.cancelAll() }
                while let finished = try await group.next() {
                    if let result = finished { return result }
                }
                throw AttemptFailure.cancelled
            }
        } catch {
            throw classify(error)
        }
    }

    private func resumablePartial(url: DownloadURL, name: String) async throws -> PartialFile? {
        guard let partial = try await store.partial(named: name) else { return nil }
        if !configuration.resumes || partial.source != url.string || partial.size == 0 {
            try await store.discardPartial(named: name)
            return nil
        }
        return partial
    }

    private func transfer(
        _ http: HTTPClientRequest, url: DownloadURL, request: DownloadRequest, partial: PartialFile?,
        progress: Progress
    ) async throws -> DownloadResult {
        // The watchdog enforces the read and total timeouts; the client's own deadline stays open.
        let response: HTTPClientResponse
        do {
            response = try await client.execute(http, deadline: .distantFuture, logger: logger)
        } catch let error as HTTPClientError where error == .connectTimeout || error == .readTimeout {
            throw error
        } catch {
            if Task.isCancelled { throw error }
            let port = url.port.map { ":\($0)" } ?? ""
            throw AttemptFailure.connection("no response from \(url.host)\(port) (\(error))")
        }
        progress.touch()
        let status = Int(response.status.code)
        let headers = response.headers
        let etag = headers.first(name: "ETag")
        let lastModified = headers.first(name: "Last-Modified")
        let contentType = headers.first(name: "Content-Type")

        func result(_ outcome: DownloadResult.Outcome, bytes: Int64 = 0, resumedFrom: Int64 = 0, sha256: String? = nil)
            -> DownloadResult
        {
            DownloadResult(
                outcome: outcome, url: url.string, destination: request.destination, bytes: bytes,
                resumedFrom: resumedFrom, sha256: sha256, status: status, etag: etag, lastModified: lastModified,
                contentType: contentType, duration: .zero, attempts: 0)
        }

        switch status {
        case 304:
            return result(.notModified)
        case 200, 206:
            break
        case 416 where partial != nil:
            throw AttemptFailure.restart("416 to Range: bytes=\(partial!.size)-")
        case 429, 500, 502...504, 506...599:
            let retryAfter = headers.first(name: "Retry-After").flatMap {
                RetryAfter.parse($0, responseDate: headers.first(name: "Date"), now: wallClock)
            }
            throw AttemptFailure.retryableStatus(status, retryAfter: retryAfter)
        default:
            throw AttemptFailure.finalStatus(status)
        }

        var offset: Int64 = 0
        var expectedLength = headers.first(name: "Content-Length").flatMap { Int64($0) }
        if status == 206 {
            let contentRange = headers.first(name: "Content-Range") ?? ""
            guard let partial else {
                throw AttemptFailure.final(DownloadError.unexpectedRange(url: url.string, contentRange: contentRange))
            }
            guard let range = ContentRange(contentRange), range.start == partial.size else {
                throw AttemptFailure.restart(contentRange)
            }
            offset = partial.size
            if let total = range.total { expectedLength = total - range.start }
        }

        var body = response.body.makeAsyncIterator()
        var held: [ByteBuffer] = []
        let isHTMLType = HTMLSniffer.isHTMLContentType(contentType)
        if request.expecting == .data, status == 200 || isHTMLType {
            // Hold the first bytes back until they are known not to be an HTML error page.
            let limit = max(16, configuration.htmlSnippetBytes)
            var count = 0
            while count < limit, let chunk = try await body.next() {
                progress.touch()
                held.append(chunk)
                count += chunk.readableBytes
            }
            var prefix: [UInt8] = []
            prefix.reserveCapacity(limit)
            for chunk in held where prefix.count < limit {
                prefix.append(contentsOf: chunk.readableBytesView.prefix(limit - prefix.count))
            }
            if isHTMLType || HTMLSniffer.looksLikeHTML(prefix) {
                logger.notice("an HTML page came where data was expected", metadata: ["status": "\(status)"])
                return result(.htmlError(status: status, snippet: String(decoding: prefix, as: UTF8.self)))
            }
        }

        var hasher = SHA256()
        let writer: any FileStoreWriter
        if status == 206, let partial {
            var kept: Int64 = 0
            try await store.readPartial(named: request.destination, chunkSize: configuration.partialReadChunkSize) {
                hasher.update(bufferPointer: $0)
                kept += Int64($0.count)
                progress.touch()
            }
            guard kept == partial.size else { throw AttemptFailure.restart("the partial file changed size while resuming") }
            writer = try await store.resumePartial(named: request.destination)
        } else {
            writer = try await store.startPartial(
                named: request.destination,
                info: PartialFile(source: url.string, etag: etag, lastModified: lastModified))
        }

        var received: Int64 = 0
        do {
            for chunk in held {
                chunk.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
                try await writer.write(chunk)
                received += Int64(chunk.readableBytes)
            }
            held = []
            while let chunk = try await body.next() {
                progress.touch()
                chunk.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
                try await writer.write(chunk)
                received += Int64(chunk.readableBytes)
            }
            try await writer.close()
            metrics.bytes.increment(by: Int(received))
        } catch {
            try? await writer.close()
            metrics.bytes.increment(by: Int(received))
            if error is FileStoreError || Task.isCancelled { throw error }
            let of = expectedLength.map { " of \(offset + $0)" } ?? ""
            throw AttemptFailure.connection("the connection failed after \(offset + received)\(of) bytes (\(error))")
        }
        if let expectedLength, received != expectedLength {
            throw AttemptFailure.truncated(expected: offset + expectedLength, received: offset + received)
        }
        try await store.finalize(named: request.destination)
        let digest = hasher.finalize()
        return result(.downloaded, bytes: offset + received, resumedFrom: offset, sha256: hex(digest))
    }

    /// Maps what an attempt threw onto the retry decision.
    private func classify(_ error: any Error) -> AttemptFailure {
        switch error {
        case let failure as AttemptFailure: return failure
        case is CancellationError: return .cancelled
        case let error as FileStoreError: return .final(error)
        case let error as DownloadError: return .final(error)
        case let error as HTTPClientError:
            if error == .connectTimeout { return .timedOut(.connect) }
            if error == .readTimeout { return .timedOut(.read) }
            if error == .deadlineExceeded { return .timedOut(.total) }
            if error == .cancelled, Task.isCancelled { return .cancelled }
            return .connection("\(error)")
        default:
            if Task.isCancelled { return .cancelled }
            return .connection("\(error)")
        }
    }
}

func hex(_ digest: some Sequence<UInt8>) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var bytes: [UInt8] = []
    for byte in digest {
        bytes.append(digits[Int(byte >> 4)])
        bytes.append(digits[Int(byte & 0x0F)])
    }
    return String(decoding: bytes, as: UTF8.self)
}
