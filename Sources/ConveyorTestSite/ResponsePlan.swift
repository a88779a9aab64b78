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
