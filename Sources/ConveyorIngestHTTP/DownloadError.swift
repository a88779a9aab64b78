import Conveyor

/// Why a download failed. Each message names the URL and what to do.
///
/// In a job, ``jobError`` turns it into the core's `JobError`, so a busy host slows its whole
/// limit key instead of burning the job's attempts:
///
/// ```swift
/// do { try await downloader.download(url, to: name) }
/// catch let error as DownloadError { throw error.jobError }
/// ```
public enum DownloadError: Error, CustomStringConvertible, Sendable {
    /// Which of the download's timeouts expired.
    public enum Timeout: String, Sendable {
        /// Opening the connection.
        case connect
        /// Waiting for the response head or for the next chunk of the body.
        case read
        /// The whole call, retries and waits included.
        case total
    }

    /// The URL cannot be downloaded as written; nothing was sent.
    case invalidURL(String, reason: String)
    case timedOut(url: String, Timeout, after: Duration)
    /// A status that is not retried (4xx other than 429), or a retried one that stayed.
    case httpStatus(url: String, status: Int, attempts: Int)
    /// A 429 or 503 with `Retry-After` that outlasted the retries, or asked for a wait longer
    /// than ``Downloader/Configuration/maximumRetryAfter``.
    case upstreamBusy(url: String, status: Int, retryAfter: Duration, attempts: Int)
    /// The connection failed or closed before the body was complete.
    case connection(url: String, reason: String, attempts: Int)
    /// The body ended before its Content-Length without an error from the connection.
    case truncated(url: String, expected: Int64, received: Int64, attempts: Int)
    /// The server answered a Range request with a range that does not continue the partial file.
    case unexpectedRange(url: String, contentRange: String)

    public var description: String {
        switch self {
        case .invalidURL(let url, let reason):
            return "cannot download \"\(url)\": \(reason)"
        case .timedOut(let url, let which, let after):
            let what = switch which {
            case .connect: "the connect timeout (\(after)) expired before a connection to the host was open"
            case .read: "the read timeout (\(after)) expired waiting for data"
            case .total: "the total timeout (\(after)) expired"
            }
            return "downloading \(url): \(what); raise Downloader.Configuration.\(which.rawValue)Timeout if the site is this slow"
        case .httpStatus(let url, let status, let attempts):
            return "downloading \(url): the server answered HTTP \(status)\(Self.after(attempts))"
        case .upstreamBusy(let url, let status, let retryAfter, let attempts):
            return "downloading \(url): the server is busy (HTTP \(status)) and asked to wait \(retryAfter)\(Self.after(attempts))"
        case .connection(let url, let reason, let attempts):
            return "downloading \(url): \(reason)\(Self.after(attempts)); bytes received are kept, and the next call resumes from them"
        case .truncated(let url, let expected, let received, let attempts):
            return "downloading \(url): the body ended after \(received) of \(expected) bytes\(Self.after(attempts)); the partial file is kept"
        case .unexpectedRange(let url, let contentRange):
            return "downloading \(url): asked to resume, the server sent Content-Range \"\(contentRange)\""
        }
    }

    private static func after(_ attempts: Int) -> String {
        attempts > 1 ? " (after \(attempts) attempts)" : ""
    }

    /// The URL the error is about.
    public var url: String {
        switch self {
        case .invalidURL(let url, _): url
        case .timedOut(let url, _, _), .httpStatus(let url, _, _), .upstreamBusy(let url, _, _, _),
             .connection(let url, _, _), .truncated(let url, _, _, _), .unexpectedRange(let url, _): url
        }
    }

    /// The core's error for a job handler: `upstreamBusy` on the URL's `host:` limit key for a
    /// busy server, `permanent` for what will not change by retrying (a bad URL, a 4xx), and
    /// `retryable` for the rest.
    public var jobError: JobError {
        switch self {
        case .upstreamBusy(let url, _, let retryAfter, _):
            return .upstreamBusy(retryAfter: retryAfter, key: (try? DownloadURL(url))?.limitKey, description)
        case .invalidURL:
            return .permanent(description)
        case .httpStatus(_, let status, _) where (400..<500).contains(status) && status != 429 && status != 408:
            return .permanent(description)
        default:
            return .retryable(description)
        }
    }
}
