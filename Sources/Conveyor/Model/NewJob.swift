import Foundation

/// A job as it is handed to a store: a name, an encoded payload and how to run it.
///
/// Most code builds these through ``JobClient``; stores and tools use them directly.
public struct NewJob: Sendable, Hashable {
    public var name: String
    public var queue: String
    /// JSON-encoded job value.
    public var payload: Data
    public var priority: Priority
    /// When the job becomes due, by the store's clock: at `runAt` if set, else `delay` after
    /// the store accepts it; ready at once when both are `nil`.
    public var runAt: Date?
    /// How long after the store accepts the job it becomes due (when `runAt` is `nil`).
    public var delay: Duration?
    public var maxAttempts: Int
    /// Per-attempt time limit.
    public var timeout: Duration
    /// While a job with this key exists and is not dead or cancelled, enqueueing another
    /// returns the existing job's id instead.
    public var uniqueKey: String?
    /// The submission (batch) the job belongs to, if any.
    public var batchID: String?
    /// What must finish before the job may run; it waits in the `waiting` state until then.
    public var dependsOn: Dependency?
    /// A small string map carried to every attempt (trace context, limit keys, tenant).
    public var headers: [String: String]
    /// What the job counts against (``LimitKey``): each key's rate, concurrency and circuit,
    /// enforced by the store at claim.
    public var limitKeys: [String]

    public init(
        name: String,
        queue: String = "default",
        payload: Data = Data("{}".utf8),
        priority: Priority = .normal,
        runAt: Date? = nil,
        delay: Duration? = nil,
        maxAttempts: Int = RetryPolicy.default.maxAttempts,
        timeout: Duration = .seconds(300),
        uniqueKey: String? = nil,
        batchID: String? = nil,
        dependsOn: Dependency? = nil,
        headers: [String: String] = [:],
        limitKeys: [String] = []
    ) {
        self.name = name
        self.queue = queue
        self.payload = payload
        self.priority = priority
        self.runAt = runAt
        self.delay = delay
        self.maxAttempts = max(1, maxAttempts)
        self.timeout = timeout
        self.uniqueKey = uniqueKey
        self.batchID = batchID
        self.dependsOn = dependsOn
        self.headers = headers
        self.limitKeys = limitKeys
    }
}

extension NewJob {
    /// When the job is due, for a store whose clock reads `now`.
    public func dueAt(now: Date) -> Date {
        if let runAt { return runAt }
        if let delay, delay > .zero { return now.addingTimeInterval(delay.seconds) }
        return now
    }

    /// Checks what stores cannot check row by row: `.earlier(i)` must name a job before this
    /// one in the same call. Every store calls it before writing anything.
    public static func validateDependencies(_ jobs: [NewJob]) throws {
        for (position, job) in jobs.enumerated() {
            if !job.headers.isEmpty { try JobHeaders.validate(job.headers, job: job.name) }
            if !job.limitKeys.isEmpty { try LimitKey.validate(job.limitKeys, job: job.name) }
            if case .earlier(let index)? = job.dependsOn, !(0..<position).contains(index) {
                let allowed = position == 0 ? "the first job of a call has no earlier job" : "use an index from 0 to \(position - 1)"
                throw ConveyorError.invalidDependency(
                    job: job.name, reason: "it is job \(position) of the call and depends on earlier job \(index); \(allowed)")
            }
        }
    }
}

/// What a job waits for.
public enum Dependency: Sendable, Hashable {
    /// Runs when that job succeeds; cancelled (with the reason) when it ends dead or cancelled.
    case job(JobID)
    /// Like `.job`, for the job at this index of the same `enqueue` call.
    case earlier(Int)
    /// Runs when every member of the batch has finished, as `condition` says.
    case batch(String, BatchCondition)
}

/// When a job waiting for a batch is released.
public enum BatchCondition: Int, Sendable, Hashable {
    /// Once every member succeeded; keeps waiting while any is dead (a `recover` may still
    /// succeed), like Sidekiq's `on_success`.
    case allSucceeded = 1
    /// Once every member finished, whatever the outcomes: failures are readable from the
    /// job's context.
    case allFinished = 2
    /// Once every member finished: runs if all succeeded, else ends dead at once with the
    /// count of failed members. A chord whose callback must never wait forever.
    case allSucceededOrFail = 3
}

/// What `enqueue` did with one ``NewJob``.
public enum EnqueueResult: Sendable, Hashable {
    case created(JobID)
    /// A job with the same unique key already exists; this is its id.
    case duplicate(JobID)

    public var id: JobID {
        switch self {
        case .created(let id), .duplicate(let id): id
        }
    }
    public var isDuplicate: Bool {
        if case .duplicate = self { return true }
        return false
    }
}
