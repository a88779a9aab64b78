/// Where a job is in its life.
///
/// `(waiting →) scheduled → ready → active → succeeded | retrying → … | dead | cancelled`
public enum JobState: Int, CaseIterable, Sendable, Codable, CustomStringConvertible {
    /// Waiting for its run-at time.
    case scheduled = 0
    /// Can be claimed now.
    case ready = 1
    /// Claimed by a worker that holds its lease.
    case active = 2
    /// Finished; its result is stored.
    case succeeded = 3
    /// Failed an attempt; waits for its retry-at time.
    case retrying = 4
    /// Failed its last attempt, or failed permanently. `retry` brings it back.
    case dead = 5
    /// Cancelled before it finished.
    case cancelled = 6
    /// Held until what it depends on finishes: its batch (a callback) or its parent job (a chain).
    case waiting = 7

    public var description: String {
        switch self {
        case .scheduled: "scheduled"
        case .ready: "ready"
        case .active: "active"
        case .succeeded: "succeeded"
        case .retrying: "retrying"
        case .dead: "dead"
        case .cancelled: "cancelled"
        case .waiting: "waiting"
        }
    }

    public init?(name: String) {
        guard let state = Self.allCases.first(where: { $0.description == name.lowercased() }) else { return nil }
        self = state
    }

    /// Succeeded, dead or cancelled: nothing more will happen to it unless someone retries it.
    public var isFinal: Bool { self == .succeeded || self == .dead || self == .cancelled }
    /// Not yet finished: waiting, scheduled, ready, active or retrying.
    public static let unfinished: [JobState] = [.waiting, .scheduled, .ready, .active, .retrying]
    /// Not started and not finished: what `cancel` can stop.
    public static let cancellable: [JobState] = [.waiting, .scheduled, .ready, .retrying]
}
