import Foundation

/// Counts of one queue's jobs by state.
public struct QueueStats: Sendable, Hashable {
    public var queue: String
    public var paused: Bool
    public var counts: [JobState: Int]

    public init(queue: String, paused: Bool = false, counts: [JobState: Int] = [:]) {
        self.queue = queue
        self.paused = paused
        self.counts = counts
    }

    public subscript(state: JobState) -> Int { counts[state] ?? 0 }
    public var total: Int { counts.values.reduce(0, +) }
    /// Jobs not yet finished.
    public var pending: Int { JobState.unfinished.reduce(0) { $0 + self[$1] } }
}

/// A worker process as the store last saw it.
public struct WorkerInfo: Sendable, Hashable, Codable {
    public var id: String
    public var hostname: String
    public var pid: Int32
    public var queues: [String]
    public var concurrency: Int
    public var startedAt: Date
    public var lastSeenAt: Date
    /// Jobs it was running at its last heartbeat.
    public var running: Int

    public init(
        id: String, hostname: String, pid: Int32, queues: [String], concurrency: Int,
        startedAt: Date, lastSeenAt: Date, running: Int = 0
    ) {
        self.id = id; self.hostname = hostname; self.pid = pid; self.queues = queues
        self.concurrency = concurrency; self.startedAt = startedAt; self.lastSeenAt = lastSeenAt
        self.running = running
    }
}

/// Which jobs to list.
public struct JobQuery: Sendable, Hashable {
    public var states: [JobState]?
    public var queue: String?
    public var batchID: String?
    /// Where a page starts: only jobs after this id in the listing's order (larger ids, or
    /// smaller ones when `newestFirst`). Page through a listing by passing the last id seen.
    public var after: JobID?
    public var limit: Int
    /// Newest (largest id) first instead of oldest first.
    public var newestFirst: Bool

    public init(states: [JobState]? = nil, queue: String? = nil, batchID: String? = nil, after: JobID? = nil, limit: Int = 100,
                newestFirst: Bool = false) {
        self.states = states
        self.queue = queue
        self.batchID = batchID
        self.after = after
        self.limit = limit
        self.newestFirst = newestFirst
    }
}

/// Which jobs `purge` deletes. Active jobs are never purged: every store refuses them
/// whatever `states` says.
public struct PurgeRequest: Sendable, Hashable {
    public var queue: String?
    public var states: [JobState]
    /// Only jobs that finished (or were created, for unfinished ones) at least this long ago,
    /// by the store's clock.
    public var olderThan: Duration?

    public init(queue: String? = nil, states: [JobState] = [.succeeded, .dead, .cancelled], olderThan: Duration? = nil) {
        self.queue = queue
        self.states = states.filter { $0 != .active }
        self.olderThan = olderThan
    }
}

