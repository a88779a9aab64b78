import CoreMetrics

/// What a downloader reports through swift-metrics; bootstrap any backend or pass a factory
/// in ``Downloader/Configuration/metricsFactory``.
///
/// | metric | kind | dimensions |
/// |---|---|---|
/// | `conveyor_downloads_total` | counter | `outcome`: downloaded, not_modified, html_error, failed |
/// | `conveyor_download_bytes_total` | counter | bytes received (a resumed part counts once) |
/// | `conveyor_download_retries_total` | counter | `reason`: status, connection, timeout |
/// | `conveyor_download_duration_seconds` | timer | whole calls, retries included |
final class DownloadMetrics: Sendable {
    enum Outcome: String, CaseIterable {
        case downloaded
        case notModified = "not_modified"
        case htmlError = "html_error"
        case failed

        init(_ outcome: DownloadResult.Outcome) {
            self = switch outcome {
            case .downloaded: .downloaded
            case .notModified: .notModified
            case .htmlError: .htmlError
            }
        }
    }

    enum RetryReason: String, CaseIterable {
        case status, connection, timeout

        init(_ failure: AttemptFailure) {
            self = switch failure {
            case .retryableStatus: .status
            case .timedOut: .timeout
            default: .connection
            }
        }
    }

    private let outcomes: [Outcome: Counter]
    private let retries: [RetryReason: Counter]
    let bytes: Counter
    let duration: CoreMetrics.Timer

    init(factory: (any MetricsFactory)?) {
        let factory = factory ?? MetricsSystem.factory
        outcomes = Dictionary(uniqueKeysWithValues: Outcome.allCases.map {
            ($0, Counter(label: "conveyor_downloads_total", dimensions: [("outcome", $0.rawValue)], factory: factory))
        })
        retries = Dictionary(uniqueKeysWithValues: RetryReason.allCases.map {
            ($0, Counter(label: "conveyor_download_retries_total", dimensions: [("reason", $0.rawValue)], factory: factory))
        })
        bytes = Counter(label: "conveyor_download_bytes_total", factory: factory)
        duration = CoreMetrics.Timer(label: "conveyor_download_duration_seconds", factory: factory)
    }

    func finished(_ outcome: Outcome, after elapsed: Duration) {
        outcomes[outcome]?.increment()
        duration.recordNanoseconds(elapsed.nanoseconds)
    }

    func retried(_ reason: RetryReason) {
        retries[reason]?.increment()
    }
}
