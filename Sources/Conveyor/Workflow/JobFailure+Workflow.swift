/// The failures stores record, written once for every store: recovering a stopped chain
/// finds its cancelled steps by the ``chainStoppedPrefix``.
extension JobFailure {
    /// Starts the message of every step cancelled because its chain stopped.
    public static let chainStoppedPrefix = "chain stopped:"

    /// Why a chain step was cancelled. Further down the chain, the first reason is kept.
    public static func chainStopped(parent: JobID, state: JobState, reason: String?) -> JobFailure {
        if let reason, reason.hasPrefix(chainStoppedPrefix) { return JobFailure(.permanent, reason) }
        return JobFailure(.permanent, "\(chainStoppedPrefix) job \(parent) ended \(state)" + (reason.map { ": \($0)" } ?? ""))
    }

    /// Why an attempt ended when its worker stopped heartbeating (lease recovery).
    public static func leaseExpired(worker: String?) -> JobFailure {
        JobFailure(.retryable, "lease expired: worker \(worker ?? "?") stopped heartbeating")
    }

    /// Why a job waits again without its attempt counted: the upstream asked its keys to wait.
    public static func deferred(for delay: Duration, keys: [String], reason: String) -> JobFailure {
        let whom = keys.isEmpty ? "" : " (\(keys.joined(separator: ", ")) waits too)"
        return JobFailure(.retryable, "upstream asked to wait \(delay.formatted)\(whom): \(reason)")
    }

    /// Why a strict chord's callback (`.allSucceededOrFail`) ended dead.
    public static func chordFailed(batch: String, total: Int, succeeded: Int, dead: Int, cancelled: Int) -> JobFailure {
        JobFailure(.permanent, "\(total - succeeded) of \(total) members of batch \(batch) did not succeed (\(dead) dead, \(cancelled) cancelled)")
    }
}
