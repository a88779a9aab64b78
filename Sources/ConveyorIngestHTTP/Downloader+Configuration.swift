import CoreMetrics

extension Downloader {
    /// How downloads are timed, retried and resumed. The defaults suit a public web site
    /// asked for files of any size by a job with a timeout of a few minutes.
    public struct Configuration: Sendable {
        /// Opening a connection (applied to the client the downloader makes; a client passed
        /// in keeps its own). Default 10 s.
        public var connectTimeout: Duration = .seconds(10)
        /// The longest wait for the response head or for the next chunk of the body. Default 30 s.
        public var readTimeout: Duration = .seconds(30)
        /// The whole call, retries and their waits included; `nil` for none. Default `nil`:
        /// a job's own timeout usually bounds it.
        public var totalTimeout: Duration?
        /// Requests per call, the first included. Default 5.
        public var maxAttempts = 5
        /// The wait before the first retry, doubled (``backoffMultiplier``) for each next one. Default 0.5 s.
        public var initialBackoff: Duration = .milliseconds(500)
        public var backoffMultiplier = 2.0
        /// The longest backoff between attempts. Default 30 s.
        public var maximumBackoff: Duration = .seconds(30)
        /// Each backoff is scaled by a random factor in `1 ± jitter`, so clients that failed
        /// together do not retry together. Default 0.2; 0 for exact waits.
        public var jitter = 0.2
        /// The longest `Retry-After` waited for inside the call. A longer one ends the call at
        /// once with ``DownloadError/upstreamBusy(url:status:retryAfter:attempts:)``, whose
        /// ``DownloadError/jobError`` defers every job on the host instead of holding a worker.
        /// Default 60 s.
        public var maximumRetryAfter: Duration = .seconds(60)
        /// Whether a partial file is resumed with `Range`. Default true.
        public var resumes = true
        /// How many of an HTML error page's first bytes are kept as its snippet. Default 512.
        public var htmlSnippetBytes = 512
        /// The piece size for re-reading a partial file to seed its digest. Default 1 MiB.
        public var partialReadChunkSize = 1 << 20
        public var userAgent = "Conveyor-Downloader/1"
        /// Redirects followed per request. Default 5.
        public var maximumRedirects = 5
        /// Where the downloader's metrics go (``DownloadMetrics``); `nil` for the
        /// bootstrapped `MetricsSystem`.
        public var metricsFactory: (any MetricsFactory)?

        public init() {}
    }
}
