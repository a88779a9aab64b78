/// One file to download: where from, under which name in the store, and what is expected.
///
/// ```swift
/// let request = DownloadRequest(url: "https://example.org/pos/b17.csv", to: "pos/b17.csv",
///                               ifChangedSince: lastResult?.validators)
/// ```
public struct DownloadRequest: Sendable {
    /// What the body should be; data that turns out to be an HTML page is an
    /// ``DownloadResult/Outcome/htmlError(status:snippet:)`` outcome, not a file.
    public enum Expectation: Sendable, Equatable {
        /// A data file (CSV, JSON, an archive…): an HTML page in its place is an error page.
        case data
        /// Anything, HTML included.
        case anyContent
    }

    public var url: String
    /// The file's name in the store, a relative path.
    public var destination: String
    public var expecting: Expectation
    /// Validators from the last download of this URL: sent as If-None-Match and
    /// If-Modified-Since, and a 304 is the ``DownloadResult/Outcome/notModified`` outcome.
    public var previous: Validators?
    /// Extra request headers (authorization, cookies, …).
    public var headers: [(name: String, value: String)]

    public init(
        url: String, to destination: String, expecting: Expectation = .data,
        ifChangedSince previous: Validators? = nil, headers: [(name: String, value: String)] = []
    ) {
        self.url = url
        self.destination = destination
        self.expecting = expecting
        self.previous = previous
        self.headers = headers
    }
}

/// What identifies a version of a resource: its ETag and Last-Modified, as the server sent them.
public struct Validators: Sendable, Hashable, Codable {
    public var etag: String?
    public var lastModified: String?

    public init(etag: String? = nil, lastModified: String? = nil) {
        self.etag = etag
        self.lastModified = lastModified
    }

    public var isEmpty: Bool { etag == nil && lastModified == nil }
}
