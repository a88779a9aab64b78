import AsyncHTTPClient
import Logging
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

extension Downloader {
    /// Downloads one file, retrying and resuming per the ``Configuration``.
    ///
    /// Returns for a finished file, a 304 (``DownloadResult/Outcome/notModified``) and an HTML
    /// page where data was expected (``DownloadResult/Outcome/htmlError(status:snippet:)``).
    /// Throws ``DownloadError`` when the download cannot finish (a partial file is kept for the
    /// next call), ``FileStoreError`` when the store cannot be written, and `CancellationError`.
    public func download(_ request: DownloadRequest) async throws -> DownloadResult {
        let started = ContinuousClock.now
        do {
            let result = try await retrying(request, started: started)
            metrics.finished(DownloadMetrics.Outcome(result.outcome), after: result.duration)
            return result
        } catch {
            metrics.finished(.failed, after: ContinuousClock.now - started)
            throw error
        }
    }

    private func retrying(_ request: DownloadRequest, started: ContinuousClock.Instant) async throws -> DownloadResult {
        let url = try DownloadURL(request.url)
        let deadline = configuration.totalTimeout.map { started + $0 }
        var logger = self.logger
        logger[metadataKey: "url"] = "\(url)"
        logger[metadataKey: "destination"] = "\(request.destination)"

        var attempts = 0
        var restarts = 0
        while true {
            try Task.checkCancellation()
            attempts += 1
            let failure: AttemptFailure
            do {
                var result = try await attempt(url: url, request: request, deadline: deadline, logger: logger)
                result.attempts = attempts
                result.duration = ContinuousClock.now - started
                logger.debug("download finished", metadata: [
                    "outcome": "\(result.outcome)", "bytes": "\(result.bytes)", "attempts": "\(attempts)",
                ])
                return result
            } catch let caught as AttemptFailure {
                failure = caught
            }

            let wait: Duration
            switch failure {
            case .restart(let reason):
                // The partial file did not match what the server has: start over at once, once.
                logger.info("discarding the partial file", metadata: ["reason": "\(reason)"])
                try await store.discardPartial(named: request.destination)
                restarts += 1
                if restarts > 1 { throw DownloadError.unexpectedRange(url: url.string, contentRange: reason) }
                attempts -= 1
                continue
            case .final(let error):
                throw error
            case .finalStatus(let status):
                throw DownloadError.httpStatus(url: url.string, status: status, attempts: attempts)
            case .cancelled:
                throw CancellationError()
            case .retryableStatus(let status, let retryAfter?):
                if retryAfter > configuration.maximumRetryAfter || attempts >= configuration.maxAttempts {
                    throw DownloadError.upstreamBusy(url: url.string, status: status, retryAfter: retryAfter, attempts: attempts)
                }
                wait = retryAfter
            case .retryableStatus, .connection, .truncated, .timedOut:
                if attempts >= configuration.maxAttempts { throw failure.error(url: url, attempts: attempts, configuration) }
                wait = backoff(afterAttempt: attempts)
            }
            if let deadline, ContinuousClock.now + wait >= deadline {
                if case .retryableStatus(let status, let retryAfter?) = failure {
                    throw DownloadError.upstreamBusy(url: url.string, status: status, retryAfter: retryAfter, attempts: attempts)
                }
                throw failure.error(url: url, attempts: attempts, configuration)
            }
            metrics.retried(DownloadMetrics.RetryReason(failure))
            logger.notice("download attempt failed; retrying", metadata: [
                "attempt": "\(attempts)", "failure": "\(failure.error(url: url, attempts: attempts, configuration))",
                "wait": "\(wait)",
            ])
            try await sleep(for: wait)
        }
    }

    /// Exponential backoff with jitter: `initialBackoff × multiplier^(attempt-1) × (1 ± jitter)`,
    /// at most ``Configuration/maximumBackoff``.
    func backoff(afterAttempt attempt: Int) -> Duration {
        let base = configuration.initialBackoff.seconds * pow(configuration.backoffMultiplier, Double(attempt - 1))
        let jitter = max(0, min(1, configuration.jitter))
        let scaled = jitter > 0 ? base * Double.random(in: (1 - jitter)...(1 + jitter)) : base
        let capped = min(scaled, configuration.maximumBackoff.seconds)
        return .nanoseconds(Int64(max(0, capped) * 1e9))
    }

    private func sleep(for duration: Duration) async throws {
        try await sleeper(duration)
    }
}

/// Seconds since 1970 on the wall clock.
func wallClockSeconds() -> Int64 {
    var spec = timespec()
    clock_gettime(CLOCK_REALTIME, &spec)
    return Int64(spec.tv_sec)
}
