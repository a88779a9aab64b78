import Foundation

/// Errors of the engine. Each message names the input and what to do.
public enum ConveyorError: Error, CustomStringConvertible, Sendable, Equatable {
    case jobNotFound(JobID)
    case batchNotFound(String)
    case scheduleNotFound(String)
    case unknownJobName(String, known: [String])
    case undecodablePayload(job: String, reason: String)
    case unencodableOutput(job: String, reason: String)
    case timedOut(waitingFor: String)
    case jobTimedOut(job: String, after: Duration)
    case jobFailed(JobID, JobFailure)
    case jobCancelled(JobID)
    case invalidStoreURL(String, reason: String)
    case payloadTooLarge(job: String, bytes: Int, limit: Int)
    case invalidDependency(job: String, reason: String)
    case invalidHeaders(job: String, reason: String)
    case invalidBatch(String, reason: String)
    case invalidLimitKey(job: String, reason: String)
    /// A limit or rate that cannot be stored (the message names it and the accepted forms).
    case invalidLimit(String)
    /// A leader's write was refused: its leadership expired or passed to another holder.
    case notLeader(String)
    /// The store does not implement what an operation needs (`capability` names the protocols).
    case unsupported(store: String, capability: String, neededBy: String)
    case storeFailure(String)

    public var description: String {
        switch self {
        case .jobNotFound(let id):
            "no job with id \(id) in this store (was it purged, or is --store pointing elsewhere?)"
        case .batchNotFound(let id):
            "no batch '\(id)' in this store (see `conveyor batch list`)"
        case .scheduleNotFound(let name):
            "no schedule named '\(name)' in this store (see `conveyor schedule list`)"
        case .unknownJobName(let name, let known):
            "unknown job name '\(name)': no job type with that name is registered with this worker"
                + (known.isEmpty ? "" : " (registered: \(known.sorted().joined(separator: ", ")))")
        case .undecodablePayload(let job, let reason):
            "the payload of '\(job)' cannot be decoded: \(reason)"
        case .unencodableOutput(let job, let reason):
            "the output of '\(job)' cannot be encoded as JSON: \(reason)"
        case .timedOut(let what):
            "timed out waiting for \(what)"
        case .jobTimedOut(let job, let after):
            "'\(job)' did not finish within its timeout of \(after.formatted)"
        case .jobFailed(let id, let failure):
            "job \(id) failed: \(failure)"
        case .jobCancelled(let id):
            "job \(id) was cancelled"
        case .invalidStoreURL(let url, let reason):
            "invalid store '\(url)': \(reason)"
        case .payloadTooLarge(let job, let bytes, let limit):
            "the payload of '\(job)' is \(bytes) bytes, over the limit of \(limit) bytes; store large data elsewhere and pass a reference"
        case .invalidDependency(let job, let reason):
            "'\(job)' has an invalid dependency: \(reason); nothing of this enqueue was stored"
        case .invalidHeaders(let job, let reason):
            "the headers of '\(job)' are invalid: \(reason); nothing of this enqueue was stored"
        case .invalidBatch(let id, let reason):
            "batch '\(id)' is invalid: \(reason); nothing of it was stored"
        case .invalidLimitKey(let job, let reason):
            "the limit keys of '\(job)' are invalid: \(reason); nothing of this enqueue was stored"
        case .invalidLimit(let reason):
            reason
        case .notLeader(let name):
            "this process no longer leads '\(name)' (its lease expired or another process took it over); nothing was written"
        case .unsupported(let store, let capability, let neededBy):
            "\(neededBy) needs a store with \(capability), and \(store) does not have it; use a store that does (SQLite, Redis)"
        case .storeFailure(let message):
            message
        }
    }
}
