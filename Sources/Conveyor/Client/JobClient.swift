import Foundation

/// Options that override a job type's defaults for one enqueue.
public struct JobOptions: Sendable, Hashable {
    public var queue: String?
    public var priority: Priority?
    /// Run no earlier than this long after the store accepts the job (by the store's clock).
    public var delay: Duration?
    /// Run no earlier than this time (wins over `delay`).
    public var runAt: Date?
    public var uniqueKey: String?
    public var maxAttempts: Int?
    public var timeout: Duration?
    public var batchID: String?
    /// Carried to every attempt (``JobContext/headers``).
    public var headers: [String: String]
    /// Limit keys added to those the job type derives (``Job/limitKeys``).
    public var limitKeys: [String]

    public init(
        queue: String? = nil, priority: Priority? = nil, delay: Duration? = nil, runAt: Date? = nil,
        uniqueKey: String? = nil, maxAttempts: Int? = nil, timeout: Duration? = nil, batchID: String? = nil,
        headers: [String: String] = [:], limitKeys: [String] = []
    ) {
        self.queue = queue; self.priority = priority; self.delay = delay; self.runAt = runAt
        self.uniqueKey = uniqueKey; self.maxAttempts = maxAttempts; self.timeout = timeout
        self.batchID = batchID; self.headers = headers; self.limitKeys = limitKeys
    }
}

/// Enqueues jobs into a store.
///
/// ```swift
/// let client = JobClient(backend: store)
/// let handle = try await client.enqueue(ExportHSN(hsn: "09011112"), options: .init(priority: .high))
/// let summary = try await handle.value()
/// ```
public struct JobClient: Sendable {
    public struct Configuration: Sendable {
        /// Larger payloads are refused with ``ConveyorError/payloadTooLarge(job:bytes:limit:)``.
        public var maximumPayloadBytes: Int
        /// Queues by job name, for jobs enqueued without an explicit queue.
        public var routes: JobRoutes
        public init(maximumPayloadBytes: Int = 1 << 20, routes: JobRoutes = JobRoutes()) {
            self.maximumPayloadBytes = maximumPayloadBytes
            self.routes = routes
        }
    }

    /// The store: any that implements the core; following a job's result needs
    /// ``JobInspection``.
    public let backend: any JobQueueStore
    public var configuration: Configuration

    public init(backend: any JobQueueStore, configuration: Configuration = .init()) {
        self.backend = backend
        self.configuration = configuration
    }

    /// Enqueues one job and returns a handle to its result.
    public func enqueue<J: Job>(_ job: J, options: JobOptions = .init()) async throws -> JobHandle<J.Output> {
        try await enqueue([job], options: options)[0]
    }

    /// Enqueues many jobs of one type in one atomic call.
    public func enqueue<J: Job>(_ jobs: [J], options: JobOptions = .init()) async throws -> [JobHandle<J.Output>] {
        let encoder = JSONEncoder()
        let newJobs = try jobs.map { try makeNewJob($0, options: options, encoder: encoder) }
        let results = try await backend.enqueue(newJobs)
        return results.map { JobHandle(id: $0.id, isDuplicate: $0.isDuplicate, backend: backend) }
    }

    /// Enqueues prepared jobs (any mix of names) in one atomic call.
    public func enqueue(_ jobs: [NewJob]) async throws -> [EnqueueResult] {
        for job in jobs where job.payload.count > configuration.maximumPayloadBytes {
            throw ConveyorError.payloadTooLarge(job: job.name, bytes: job.payload.count, limit: configuration.maximumPayloadBytes)
        }
        return try await backend.enqueue(jobs)
    }

    /// The job type's keys, then the options' keys it does not have already.
    static func merged(_ own: [String], _ extra: [String]) -> [String] {
        guard !extra.isEmpty else { return own }
        var keys = own
        for key in extra where !keys.contains(key) { keys.append(key) }
        return keys
    }

    /// The stored form of `job` with `options` applied.
    public func makeNewJob<J: Job>(_ job: J, options: JobOptions = .init()) throws -> NewJob {
        try makeNewJob(job, options: options, encoder: JSONEncoder())
    }

    private func makeNewJob<J: Job>(_ job: J, options: JobOptions, encoder: JSONEncoder) throws -> NewJob {
        let payload = try encoder.encode(job)
        if payload.count > configuration.maximumPayloadBytes {
            throw ConveyorError.payloadTooLarge(job: J.name, bytes: payload.count, limit: configuration.maximumPayloadBytes)
        }
        return NewJob(
            name: J.name,
            queue: options.queue ?? configuration.routes.queue(for: J.name) ?? J.queue,
            payload: payload,
            priority: options.priority ?? J.priority,
            runAt: options.runAt,
            delay: options.runAt == nil ? options.delay : nil,
            maxAttempts: options.maxAttempts ?? J.retryPolicy.maxAttempts,
            timeout: options.timeout ?? J.timeout,
            uniqueKey: options.uniqueKey,
            batchID: options.batchID,
            headers: options.headers,
            limitKeys: Self.merged(job.limitKeys, options.limitKeys)
        )
    }
}

/// A way to follow one enqueued job and read its result.
public struct JobHandle<Output: Codable & Sendable>: Sendable {
    public let id: JobID
    /// `true` when the enqueue found an existing job with the same unique key.
    public let isDuplicate: Bool
    public let backend: any JobQueueStore

    public init(id: JobID, isDuplicate: Bool = false, backend: any JobQueueStore) {
        self.id = id
        self.isDuplicate = isDuplicate
        self.backend = backend
    }

    /// The job's stored record now.
    public func record() async throws -> JobRecord {
        let inspection = try backend.require((any JobInspection).self, neededBy: "reading a job's record")
        guard let record = try await inspection.job(id) else { throw ConveyorError.jobNotFound(id) }
        return record
    }

    /// Waits for the job to finish and returns its output.
    /// - Throws: ``ConveyorError/jobFailed(_:_:)`` when it ended dead, ``ConveyorError/jobCancelled(_:)``.
    public func value(timeout: Duration? = nil) async throws -> Output {
        let inspection = try backend.require((any JobInspection).self, neededBy: "waiting for a job's result")
        let record = try await inspection.waitUntilFinished(id, timeout: timeout)
        switch record.state {
        case .succeeded:
            do {
                return try JSONDecoder().decode(Output.self, from: record.result ?? Data("{}".utf8))
            } catch {
                throw ConveyorError.undecodablePayload(job: record.name, reason: "stored result: \(JobRegistry.describe(error))")
            }
        case .cancelled:
            throw ConveyorError.jobCancelled(id)
        default:
            throw ConveyorError.jobFailed(id, record.lastError ?? JobFailure(.permanent, "no error recorded"))
        }
    }
}
