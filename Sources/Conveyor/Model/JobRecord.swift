import Foundation

/// A stored job with everything the store knows about it.
public struct JobRecord: Sendable, Hashable, Identifiable {
    public var id: JobID
    public var name: String
    public var queue: String
    public var payload: Data
    public var priority: Priority
    public var state: JobState
    /// Attempts started so far (claims), including the running one.
    public var attempt: Int
    public var maxAttempts: Int
    public var timeout: Duration
    public var runAt: Date
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    public var uniqueKey: String?
    public var batchID: String?
    public var workerID: String?
    public var leaseExpiresAt: Date?
    /// The last failure, if any.
    public var lastError: JobFailure?
    /// JSON-encoded output of a succeeded job.
    public var result: Data?
    /// The job this one waits (or waited) for, if any.
    public var parentID: JobID?
    /// The batch this one waits (or waited) for, if any.
    public var waitedForBatch: String?
    /// The headers it was enqueued with.
    public var headers: [String: String]
    /// Its limit keys (``NewJob/limitKeys``).
    public var limitKeys: [String] = []

    public init(
        id: JobID, name: String, queue: String, payload: Data, priority: Priority, state: JobState,
        attempt: Int, maxAttempts: Int, timeout: Duration, runAt: Date, createdAt: Date,
        startedAt: Date? = nil, finishedAt: Date? = nil, uniqueKey: String? = nil, batchID: String? = nil,
        workerID: String? = nil, leaseExpiresAt: Date? = nil, lastError: JobFailure? = nil, result: Data? = nil,
        parentID: JobID? = nil, waitedForBatch: String? = nil, headers: [String: String] = [:], limitKeys: [String] = []
    ) {
        self.id = id; self.name = name; self.queue = queue; self.payload = payload; self.headers = headers
        self.limitKeys = limitKeys
        self.priority = priority; self.state = state; self.attempt = attempt; self.maxAttempts = maxAttempts
        self.timeout = timeout; self.runAt = runAt; self.createdAt = createdAt; self.startedAt = startedAt
        self.finishedAt = finishedAt; self.uniqueKey = uniqueKey; self.batchID = batchID
        self.workerID = workerID; self.leaseExpiresAt = leaseExpiresAt; self.lastError = lastError
        self.result = result; self.parentID = parentID; self.waitedForBatch = waitedForBatch
    }
}

/// Why an attempt failed, as stored on the job.
public struct JobFailure: Error, Sendable, Hashable, Codable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable, Codable {
        /// Worth trying again (network errors, timeouts, 5xx, a vanished worker).
        case retryable
        /// Will fail the same way every time (unknown job name, undecodable payload, bad input).
        case permanent
    }
    public var kind: Kind
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { kind == .permanent ? "permanent: \(message)" : message }
}

/// A job handed to a worker by `claim`, with the lease it holds.
public struct ClaimedJob: Sendable, Hashable {
    public var id: JobID
    public var name: String
    public var queue: String
    public var payload: Data
    public var priority: Priority
    /// This attempt's number, 1-based (counted again from 1 after a manual retry).
    public var attempt: Int
    public var maxAttempts: Int
    public var timeout: Duration
    public var batchID: String?
    public var createdAt: Date
    public var leaseExpiresAt: Date
    /// Grows with every claim of this job and never goes back, not even on retry:
    /// completions and heartbeats quote it, so a worker whose lease expired cannot overwrite
    /// the outcome of a newer claim.
    public var leaseToken: Int
    /// The job this one waited for (a chain's previous link), if any.
    public var parentID: JobID?
    /// The batch this one waited for (a chord's callback), if any.
    public var waitedForBatch: String?
    /// The headers it was enqueued with.
    public var headers: [String: String]
    /// Its limit keys, each of which this attempt counts against.
    public var limitKeys: [String] = []

    public init(
        id: JobID, name: String, queue: String, payload: Data, priority: Priority, attempt: Int,
        maxAttempts: Int, timeout: Duration, batchID: String?, createdAt: Date, leaseExpiresAt: Date,
        leaseToken: Int, parentID: JobID? = nil, waitedForBatch: String? = nil, headers: [String: String] = [:],
        limitKeys: [String] = []
    ) {
        self.headers = headers
        self.limitKeys = limitKeys
        self.id = id; self.name = name; self.queue = queue; self.payload = payload
        self.priority = priority; self.attempt = attempt; self.maxAttempts = maxAttempts
        self.timeout = timeout; self.batchID = batchID; self.createdAt = createdAt
        self.leaseExpiresAt = leaseExpiresAt; self.leaseToken = leaseToken
        self.parentID = parentID; self.waitedForBatch = waitedForBatch
    }

    /// The lease identity quoted back to the store.
    public var lease: JobLease { JobLease(id: id, token: leaseToken) }
}

/// A job id together with the claim that holds it (its lease token).
public struct JobLease: Sendable, Hashable {
    public var id: JobID
    public var token: Int
    public init(id: JobID, token: Int) {
        self.id = id
        self.token = token
    }
}

/// The recorded end of one attempt.
public struct JobOutcome: Sendable, Hashable {
    public enum Result: Sendable, Hashable {
        /// Stores `output` (JSON) as the job's result.
        case succeeded(output: Data)
        /// Retries `retryAfter` from when the store records it, or ends dead when
        /// `retryAfter` is `nil`.
        case failed(JobFailure, retryAfter: Duration?)
        /// The upstream asked to wait (a 429 or 503 with `Retry-After`): every job of `keys`
        /// waits `delay` from when the store records it, and this one runs again then without
        /// the attempt counted against it.
        case deferred(delay: Duration, keys: [String], reason: String)
    }
    public var lease: JobLease
    public var result: Result
    /// Whether a failure counts against the circuits of the job's keys (the job type's choice,
    /// ``Job/countsAgainstCircuit(_:)``): by default a retryable failure does, a permanent one not.
    public var countsAgainstCircuit: Bool

    public init(lease: JobLease, result: Result, countsAgainstCircuit: Bool? = nil) {
        self.lease = lease
        self.result = result
        if let countsAgainstCircuit {
            self.countsAgainstCircuit = countsAgainstCircuit
        } else if case .failed(let failure, _) = result {
            self.countsAgainstCircuit = failure.kind == .retryable
        } else {
            self.countsAgainstCircuit = false
        }
    }

    public static func succeeded(_ lease: JobLease, output: Data) -> JobOutcome {
        JobOutcome(lease: lease, result: .succeeded(output: output))
    }
    public static func failed(_ lease: JobLease, _ failure: JobFailure, retryAfter: Duration?, countsAgainstCircuit: Bool? = nil) -> JobOutcome {
        JobOutcome(lease: lease, result: .failed(failure, retryAfter: retryAfter), countsAgainstCircuit: countsAgainstCircuit)
    }
    public static func deferred(_ lease: JobLease, for delay: Duration, keys: [String], reason: String) -> JobOutcome {
        JobOutcome(lease: lease, result: .deferred(delay: delay, keys: keys, reason: reason))
    }
}
