/// How one attempt ended short of a result.
enum AttemptFailure: Error {
    case retryableStatus(Int, retryAfter: Duration?)
    case connection(String)
    case truncated(expected: Int64, received: Int64)
    case timedOut(DownloadError.Timeout)
    /// The partial file does not continue on the server (416, another range): drop it, go again.
    case restart(String)
    /// Not retried: a store error, a bad URL.
    case final(any Error)
    /// Not retried: a 4xx other than 429, a 3xx not followed.
    case finalStatus(Int)
    case cancelled

    func error(url: DownloadURL, attempts: Int, _ configuration: Downloader.Configuration) -> any Error {
        switch self {
        case .retryableStatus(let status, let retryAfter?):
            DownloadError.upstreamBusy(url: url.string, status: status, retryAfter: retryAfter, attempts: attempts)
        case .retryableStatus(let status, nil):
            DownloadError.httpStatus(url: url.string, status: status, attempts: attempts)
        case .connection(let reason):
            DownloadError.connection(url: url.string, reason: reason, attempts: attempts)
        case .truncated(let expected, let received):
            DownloadError.truncated(url: url.string, expected: expected, received: received, attempts: attempts)
        case .timedOut(.connect):
            DownloadError.timedOut(url: url.string, .connect, after: configuration.connectTimeout)
        case .timedOut(.read):
            DownloadError.timedOut(url: url.string, .read, after: configuration.readTimeout)
        case .timedOut(.total):
            DownloadError.timedOut(url: url.string, .total, after: configuration.totalTimeout ?? .zero)
        case .restart(let reason):
            DownloadError.unexpectedRange(url: url.string, contentRange: reason)
        case .final(let error):
            error
        case .finalStatus(let status):
            DownloadError.httpStatus(url: url.string, status: status, attempts: attempts)
        case .cancelled:
            CancellationError()
        }
    }
}
