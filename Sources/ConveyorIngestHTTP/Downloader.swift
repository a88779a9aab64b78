import AsyncHTTPClient
import Logging
import NIOCore

/// Streams HTTP downloads into a ``FileStore``: memory stays bounded whatever the file size,
/// the SHA-256 is computed on the way, a cut download is resumed with `Range`, and 429, 5xx
/// and connection failures are retried with backoff that honours `Retry-After`.
///
/// ```swift
/// let store = try DirectoryFileStore("/var/lib/ingest/raw")
/// try await Downloader.withDownloader(store: store) { downloader in
///     let result = try await downloader.download("https://example.org/pos/b17.csv", to: "pos/b17.csv")
///     if case .htmlError(let status, let snippet) = result.outcome { … }
/// }
/// ```
///
/// One downloader shares one `HTTPClient` (its connection pool) across concurrent downloads.
/// A downloader that made its own client must be shut down with ``shutdown()``.
public final class Downloader: Sendable {
    public let store: any FileStore
    public let configuration: Configuration
    let client: HTTPClient
    private let ownsClient: Bool
    /// Sleeps on the clock given at init: backoff and `Retry-After` waits.
    let sleeper: @Sendable (Duration) async throws -> Void
    let logger: Logger
    let metrics: DownloadMetrics
    /// The wall clock in seconds since 1970, for `Retry-After` dates without a `Date` header.
    let wallClock: @Sendable () -> Int64

    /// - Parameters:
    ///   - httpClient: a client to share; by default the downloader makes one (with
    ///     ``Configuration/connectTimeout``, no decompression so byte ranges stay meaningful)
    ///     and ``shutdown()`` closes it.
    ///   - clock: what backoff and `Retry-After` waits sleep on; tests pass one that does not
    ///     wait. Timeouts always use real time.
    public init(
        store: any FileStore, configuration: Configuration = .init(), httpClient: HTTPClient? = nil,
        clock: some Clock<Duration> = ContinuousClock(), logger: Logger = Logger(label: "conveyor.download")
    ) {
        self.store = store
        self.configuration = configuration
        sleeper = { duration in try await clock.sleep(until: clock.now.advanced(by: duration), tolerance: nil) }
        self.logger = logger
        metrics = DownloadMetrics(factory: configuration.metricsFactory)
        self.wallClock = { wallClockSeconds() }
        if let httpClient {
            client = httpClient
            ownsClient = false
        } else {
            var clientConfiguration = HTTPClient.Configuration(
                redirectConfiguration: configuration.maximumRedirects > 0
                    ? .follow(max: configuration.maximumRedirects, allowCycles: false) : .disallow,
                timeout: .init(connect: .nanoseconds(configuration.connectTimeout.nanoseconds)),
                decompression: .disabled)
            clientConfiguration.httpVersion = .automatic
            // A refused or failed connection is the downloader's to retry, on its backoff and
            // clock, rather than the pool's until the connect timeout.
            clientConfiguration.connectionPool.retryConnectionEstablishment = false
            client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfiguration)
            ownsClient = true
        }
    }

    /// Closes the client the downloader made (a client passed in is left to its owner).
    public func shutdown() async throws {
        if ownsClient { try await client.shutdown() }
    }

    /// Runs `body` with a downloader and shuts it down afterwards, whether `body` throws or not.
    public static func withDownloader<Result: Sendable>(
        store: any FileStore, configuration: Configuration = .init(),
        clock: some Clock<Duration> = ContinuousClock(), logger: Logger = Logger(label: "conveyor.download"),
        _ body: (Downloader) async throws -> Result
    ) async throws -> Result {
        let downloader = Downloader(store: store, configuration: configuration, clock: clock, logger: logger)
        do {
            let result = try await body(downloader)
            try await downloader.shutdown()
            return result
        } catch {
            try? await downloader.shutdown()
            throw error
        }
    }

    /// Downloads `url` to `destination` in the store.
    public func download(
        _ url: String, to destination: String, expecting: DownloadRequest.Expectation = .data,
        ifChangedSince previous: Validators? = nil
    ) async throws -> DownloadResult {
        try await download(DownloadRequest(url: url, to: destination, expecting: expecting, ifChangedSince: previous))
    }

    /// The flow-control key for `url`'s host, `host:<hostname>`, as a job's limits name it.
    public static func limitKey(for url: String) throws(DownloadError) -> String {
        try DownloadURL(url).limitKey
    }
}
