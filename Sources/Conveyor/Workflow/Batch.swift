import Foundation

/// A named, persistent group of jobs whose progress the store counts as the jobs move.
///
/// Counters change in the same atomic step as each job's state, so they are always exact,
/// and reading them costs the same for ten jobs as for a hundred thousand.
public struct Batch: Sendable, Hashable, Identifiable {
    public var id: String
    public var name: String?
    /// Jobs of the batch by state (callbacks are not members and are not counted).
    public var counts: [JobState: Int]
    public var createdAt: Date
    /// When the last member finished; `nil` while any is unfinished.
    public var finishedAt: Date?
    /// The job that runs once every member succeeded, if one was given.
    public var onSuccessJob: JobID?
    /// The job that runs once every member finished, whatever the outcome, if one was given.
    public var onCompleteJob: JobID?

    public init(
        id: String, name: String? = nil, counts: [JobState: Int] = [:], createdAt: Date = Date(), finishedAt: Date? = nil,
        onSuccessJob: JobID? = nil, onCompleteJob: JobID? = nil
    ) {
        self.id = id; self.name = name; self.counts = counts; self.createdAt = createdAt
        self.finishedAt = finishedAt; self.onSuccessJob = onSuccessJob; self.onCompleteJob = onCompleteJob
    }

    public subscript(state: JobState) -> Int { counts[state] ?? 0 }
    public var total: Int { counts.values.reduce(0, +) }
    public var finished: Int { self[.succeeded] + self[.dead] + self[.cancelled] }
    /// Waiting, scheduled or ready: not started yet.
    public var pending: Int { self[.waiting] + self[.scheduled] + self[.ready] }
    public var isFinished: Bool { total > 0 && finished == total }
    /// 0…100.
    public var percentDone: Double { total == 0 ? 0 : Double(finished) * 100 / Double(total) }

    /// Time left at the pace so far (finished members since the batch was created).
    public func estimatedTimeLeft(now: Date = Date()) -> Duration? {
        guard finished > 0, !isFinished else { return isFinished ? .zero : nil }
        let elapsed = now.timeIntervalSince(createdAt)
        let perJob = elapsed / Double(finished)
        return .microseconds(Int64(perJob * Double(total - finished) * 1_000_000))
    }
}

/// A batch to create before its jobs are enqueued, with optional callbacks.
///
/// ```swift
/// let batch = NewBatch(id: "hsn-2024", name: "HSN exports",
///                      onComplete: try client.makeNewJob(NotifyTeam(channel: "#ingest")))
/// try await store.createBatch(batch)
/// try await client.enqueue(codes.map(ExportHSN.init), options: .init(batchID: "hsn-2024"))
/// ```
public struct NewBatch: Sendable, Hashable {
    public var id: String
    public var name: String?
    /// Becomes ready exactly once, when every member has succeeded.
    public var onSuccess: NewJob?
    /// Becomes ready exactly once, when every member has finished (succeeded, dead or cancelled).
    public var onComplete: NewJob?

    public init(id: String, name: String? = nil, onSuccess: NewJob? = nil, onComplete: NewJob? = nil) {
        self.id = id
        self.name = name
        self.onSuccess = onSuccess
        self.onComplete = onComplete
    }

    /// What every store checks before creating the batch: an id, and callbacks without a
    /// unique key (a callback is already one per batch, and a key held by another job would
    /// leave the batch without its callback) or a batch of their own that is this one.
    public func validate() throws {
        guard !id.isEmpty else { throw ConveyorError.invalidBatch(id, reason: "its id is empty") }
        for (role, callback) in [("onSuccess", onSuccess), ("onComplete", onComplete)] {
            guard let callback else { continue }
            if let key = callback.uniqueKey {
                throw ConveyorError.invalidBatch(id, reason: "its \(role) callback '\(callback.name)' has the unique key '\(key)'; a callback is unique to its batch already, so it may not carry one")
            }
            if callback.batchID == id {
                throw ConveyorError.invalidBatch(id, reason: "its \(role) callback '\(callback.name)' would be a member of the batch it waits for")
            }
        }
    }
}
