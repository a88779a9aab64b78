/// What a download produced.
///
/// ```swift
/// let result = try await downloader.download(url, to: "pos/b17.csv")
/// switch result.outcome {
/// case .downloaded: print(result.bytes, result.sha256!)
/// case .notModified: print("unchanged since", result.validators)
/// case .htmlError(let status, let snippet): recordMonitorEntry(status, snippet)
/// }
/// ```
public struct DownloadResult: Sendable {
    public enum Outcome: Sendable, Equatable {
        /// The file is in the store under ``DownloadResult/destination``.
        case downloaded
        /// The server answered 304 to the conditional request: nothing was written.
        case notModified
        /// An HTML page came where data was expected (by Content-Type or by its first bytes):
        /// nothing was written, and `snippet` holds the page's first bytes for the record.
        case htmlError(status: Int, snippet: String)
    }

    public var outcome: Outcome
    public var url: String
    public var destination: String
    /// The size of the finished file (0 unless downloaded).
    public var bytes: Int64
    /// Bytes kept from an earlier partial file and not downloaded again.
    public var resumedFrom: Int64
    /// SHA-256 of the whole file, lowercase hex (nil unless downloaded).
    public var sha256: String?
    /// The final response's status.
    public var status: Int
    public var etag: String?
    public var lastModified: String?
    public var contentType: String?
    public var duration: Duration
    /// Requests made, the successful one included.
    public var attempts: Int

    /// The validators to pass as `ifChangedSince` next time.
    public var validators: Validators { Validators(etag: etag, lastModified: lastModified) }
}
