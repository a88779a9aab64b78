import Foundation
import Logging

/// A unit of work: a `Codable` value plus the code that runs it.
///
/// ```swift
/// struct ExportHSN: Job {
///     static let name = "tradestat.export"
///     var hsn: String
///     func run(_ context: JobContext) async throws -> ExportSummary {
///         try await scrapeAllYears(hsn)
///     }
/// }
/// ```
public protocol Job: Codable, Sendable {
    /// What `run` returns; stored as JSON and readable through a ``JobHandle``.
    associatedtype Output: Codable & Sendable = NoOutput

    /// The stable name stored with each job; workers find the type by it.
    static var name: String { get }
    static var queue: String { get }
    static var priority: Priority { get }
    static var retryPolicy: RetryPolicy { get }
    /// Time limit of one attempt; past it the attempt is cancelled and fails.
    static var timeout: Duration { get }

    func run(_ context: JobContext) async throws -> Output
}

extension Job {
    public static var name: String { String(describing: Self.self) }
    public static var queue: String { "default" }
    public static var priority: Priority { .normal }
    public static var retryPolicy: RetryPolicy { .default }
    public static var timeout: Duration { .seconds(300) }
}

/// The output of a job that returns nothing.
public struct NoOutput: Codable, Sendable, Hashable {
    public init() {}
}

/// What a running job knows about itself.
public struct JobContext: Sendable {
    public var id: JobID
    public var name: String
    public var queue: String
    /// 1 on the first attempt.
    public var attempt: Int
    public var maxAttempts: Int
    public var batchID: String?
    public var workerID: String
    public var enqueuedAt: Date
    public var logger: Logger

    public init(
        id: JobID, name: String, queue: String, attempt: Int, maxAttempts: Int, batchID: String?,
        workerID: String, enqueuedAt: Date, logger: Logger
    ) {
        self.id = id; self.name = name; self.queue = queue; self.attempt = attempt
        self.maxAttempts = maxAttempts; self.batchID = batchID; self.workerID = workerID
        self.enqueuedAt = enqueuedAt; self.logger = logger
    }

    public var isLastAttempt: Bool { attempt >= maxAttempts }
}

/// Errors a job throws to say how its failure should be treated.
///
/// Any other error is retryable, unless it conforms to ``PermanentJobError``.
public enum JobError: Error, CustomStringConvertible, Sendable {
    /// Fails the job now, without further attempts.
    case permanent(String)
    /// Fails this attempt; retried per the job's policy.
    case retryable(String)
    /// Retries after `after` instead of the policy's backoff (an HTTP 429's Retry-After).
    case retryAfter(Duration, String)

    public var description: String {
        switch self {
        case .permanent(let message), .retryable(let message), .retryAfter(_, let message): message
        }
    }
}

/// An error type whose failures will not get better by retrying.
public protocol PermanentJobError: Error {}
