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

    /// The limit keys this job counts against, derived from its payload
    /// (`["host:\(url.host)"]`); none by default. ``JobOptions/limitKeys`` adds more.
    var limitKeys: [String] { get }

    /// Whether a failure is the source's fault and counts against the circuits of the job's
    /// keys (``CircuitBreaker``). By default a retryable failure (a timeout, a 503) does and a
    /// permanent one (a 404, bad input: the job's own fault) does not.
    static func countsAgainstCircuit(_ error: any Error) -> Bool
}

extension Job {
    public static var name: String { String(describing: Self.self) }
    public static var queue: String { "default" }
    public static var priority: Priority { .normal }
    public static var retryPolicy: RetryPolicy { .default }
    public static var timeout: Duration { .seconds(300) }
    public var limitKeys: [String] { [] }
    public static func countsAgainstCircuit(_ error: any Error) -> Bool { Worker.classify(error).kind == .retryable }
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
    /// The job this one waited for (a chain's previous link): read its output with ``parentResult(as:)``.
    public var parentID: JobID?
    /// The batch this one waited for (a chord's callback): read its outputs with ``batchResults(as:)``.
    public var waitedForBatch: String?
    /// The store the job came from.
    public var backend: (any JobQueueStore)?
    /// This attempt's lease: its ``JobLease/token`` grows with every claim of the job, so a sink
    /// that stores the highest token it has seen per job can refuse the writes of an attempt
    /// that lost its lease to a newer one.
    public var lease: JobLease?
    /// The headers the job was enqueued with (trace context, limit keys, tenant).
    public var headers: [String: String] = [:]
    /// The limit keys this attempt counts against.
    public var limitKeys: [String] = []
    /// This attempt's lease token (see ``lease``), 0 outside a worker.
    public var leaseToken: Int { lease?.token ?? 0 }

    public init(
        id: JobID, name: String, queue: String, attempt: Int, maxAttempts: Int, batchID: String?,
        workerID: String, enqueuedAt: Date, logger: Logger,
        parentID: JobID? = nil, waitedForBatch: String? = nil, backend: (any JobQueueStore)? = nil,
        lease: JobLease? = nil
    ) {
        self.id = id; self.name = name; self.queue = queue; self.attempt = attempt
        self.maxAttempts = maxAttempts; self.batchID = batchID; self.workerID = workerID
        self.enqueuedAt = enqueuedAt; self.logger = logger
        self.parentID = parentID; self.waitedForBatch = waitedForBatch; self.backend = backend
        self.lease = lease
    }

    /// The output of the job this one waited for (the previous link of a chain).
    public func parentResult<T: Decodable>(as type: T.Type = T.self) async throws -> T {
        guard let parentID, let backend else { throw JobError.permanent("job \(id) has no parent job to read a result from") }
        let inspection = try backend.require((any JobInspection).self, neededBy: "reading a parent job's result")
        guard let parent = try await inspection.job(parentID), let result = parent.result else {
            throw JobError.permanent("the parent job \(parentID) of job \(id) has no stored result (was it purged?)")
        }
        do {
            return try JSONDecoder().decode(T.self, from: result)
        } catch {
            throw JobError.permanent("the result of parent job \(parentID) is not a \(T.self): \(JobRegistry.describe(error))")
        }
    }

    /// The outcomes of every member of the batch this job waited for (a chord's group),
    /// in the order they were enqueued: each member's output, or its last error.
    public func batchResults<T: Decodable>(as type: T.Type = T.self) async throws -> [Result<T, JobFailure>] {
        guard let waitedForBatch, let backend else { throw JobError.permanent("job \(id) did not wait for a batch") }
        let inspection = try backend.require((any JobInspection).self, neededBy: "reading a batch's results")
        let members = try await inspection.allJobs(JobQuery(batchID: waitedForBatch))
        let decoder = JSONDecoder()
        return members.map { member in
            guard member.state == .succeeded, let result = member.result else {
                return .failure(member.lastError ?? JobFailure(.permanent, "job \(member.id) ended \(member.state)"))
            }
            do {
                return .success(try decoder.decode(T.self, from: result))
            } catch {
                return .failure(JobFailure(.permanent, "the result of job \(member.id) is not a \(T.self): \(JobRegistry.describe(error))"))
            }
        }
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
    /// The upstream told us to wait (a 429 or 503 with `Retry-After`): the whole limit key
    /// (`key`, or the job's first limit key when `nil`) waits `retryAfter`, and the job runs
    /// again then without this attempt counted against it.
    case upstreamBusy(retryAfter: Duration, key: String?, String)

    public var description: String {
        switch self {
        case .permanent(let message), .retryable(let message), .retryAfter(_, let message), .upstreamBusy(_, _, let message): message
        }
    }
}

/// An error type whose failures will not get better by retrying.
public protocol PermanentJobError: Error {}
