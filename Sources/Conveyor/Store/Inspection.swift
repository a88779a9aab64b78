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

/// Which jobs to list, and how much of each.
///
/// Every filter narrows the listing; a store walks ids in the listing's order a bounded
/// number at a time, so a rare match among millions costs pages, never one long call.
public struct JobQuery: Sendable, Hashable {
    public var states: [JobState]?
    public var queue: String?
    public var batchID: String?
    /// Only jobs of this job name.
    public var name: String?
    /// Only jobs enqueued at or after this instant (the store's clock).
    public var createdFrom: Date?
    /// Only jobs enqueued before this instant.
    public var createdBefore: Date?
    /// `false` leaves out payloads and results (both empty in the records): a listing's
    /// projection, cheap to move for pages of large jobs.
    public var includePayloads: Bool
    /// Where a page starts: only jobs after this id in the listing's order (larger ids, or
    /// smaller ones when `newestFirst`). Page through a listing by passing the last id seen.
    public var after: JobID?
    public var limit: Int
    /// Newest (largest id) first instead of oldest first.
    public var newestFirst: Bool

    public init(states: [JobState]? = nil, queue: String? = nil, batchID: String? = nil, after: JobID? = nil, limit: Int = 100,
                newestFirst: Bool = false, name: String? = nil, createdFrom: Date? = nil, createdBefore: Date? = nil,
                includePayloads: Bool = true) {
        self.states = states
        self.queue = queue
        self.batchID = batchID
        self.after = after
        self.limit = limit
        self.newestFirst = newestFirst
        self.name = name
        self.createdFrom = createdFrom
        self.createdBefore = createdBefore
        self.includePayloads = includePayloads
    }

    /// Whether `record` passes every filter (not `after` or `limit`).
    public func matches(_ record: JobRecord) -> Bool {
        (states.map { $0.contains(record.state) } ?? true)
            && (queue.map { $0 == record.queue } ?? true)
            && (batchID.map { $0 == record.batchID } ?? true)
            && (name.map { $0 == record.name } ?? true)
            && (createdFrom.map { record.createdAt >= $0 } ?? true)
            && (createdBefore.map { record.createdAt < $0 } ?? true)
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

