import Conveyor
import Foundation
import Testing

/// The one suite every store passes.
///
/// A store's test target runs each case against a fresh store on the clock the suite drives:
/// ```swift
/// @Test(arguments: BackendConformance.names)
/// func conformance(_ name: String) async throws {
///     try await BackendConformance.run(name) { clock in
///         try SQLiteBackend(configuration: .init(path: temporaryPath(), clock: clock))
///     }
/// }
/// ```
/// Cases move time with ``clock`` (`clock.advance(by:)`) instead of sleeping, so every
/// "not before its time" check holds however slow the machine is.
public enum BackendConformance {
    public typealias Factory = @Sendable (ManualStoreClock) async throws -> any JobBackend

    /// The store's clock in the running case.
    @TaskLocal public static var clock = ManualStoreClock()

    public struct Case: Sendable {
        public let name: String
        public let body: @Sendable (any JobBackend) async throws -> Void
    }

    public static var names: [String] { cases.map(\.name) }
    /// The cases of flow control (limits and circuit breakers), for a store that is still
    /// gaining them.
    public static var limitCaseNames: [String] { limitCases.map(\.name) }
    public static var circuitCaseNames: [String] { circuitCases.map(\.name) }

    public static func run(_ name: String, makeBackend: Factory) async throws {
        guard let testCase = cases.first(where: { $0.name == name }) else {
            Issue.record("no conformance case named \(name)")
            return
        }
        let clock = ManualStoreClock()
        try await $clock.withValue(clock) {
            try await testCase.body(try await makeBackend(clock))
        }
    }

    static let lease = Duration.seconds(30)

    /// The model-based case (random operations against the store and ``MemoryBackend``),
    /// apart from ``cases`` because it is long: stores run it as a test of its own.
    /// `CONVEYOR_MODEL_STEPS` overrides `steps` (and `CONVEYOR_MODEL_SEED` replays a run).
    public static func runModel(steps: Int = 10_000, makeBackend: Factory) async throws {
        let clock = ManualStoreClock()
        try await $clock.withValue(clock) {
            try await modelBased(try await makeBackend(clock), steps: steps)
        }
    }

    /// The most jobs one bounded store call (recovery, promotion, retention, purge, listing)
    /// should handle: factories give their store this, so the cases walk cursors.
    public static let stepLimit = 100

    public static let cases: [Case] = [
        Case(name: "enqueue and claim round-trips every field", body: enqueueAndClaim),
        Case(name: "bulk enqueue returns increasing ids in order", body: bulkEnqueue),
        Case(name: "claim order is priority then FIFO", body: priorityThenFIFO),
        Case(name: "claim takes queues in the order given and respects the limit", body: queueOrder),
        Case(name: "delayed jobs wait until due", body: delayedJobs),
        Case(name: "unique key returns the existing job until it is dead or cancelled", body: uniqueKeys),
        Case(name: "success stores the result", body: successStoresResult),
        Case(name: "failure retries at retry-at, then ends dead", body: retryThenDead),
        Case(name: "a stale lease cannot complete, heartbeat or release", body: staleLease),
        Case(name: "a stale lease stays stale after the job is retried by hand", body: staleLeaseAfterRetry),
        Case(name: "heartbeat extends leases and reports lost ones", body: heartbeatExtends),
        Case(name: "release hands a job back without counting the attempt", body: releaseJob),
        Case(name: "expired leases are recovered with the attempt counted", body: recoverExpired),
        Case(name: "cancel affects only waiting jobs", body: cancelJobs),
        Case(name: "retry brings dead and cancelled jobs back", body: retryDead),
        Case(name: "paused queues are skipped until resumed", body: pauseResume),
        Case(name: "purge deletes finished jobs and never active ones", body: purgeJobs),
        Case(name: "purge older than a time keeps newer and unfinished jobs", body: purgeOlderThan),
        Case(name: "recovery, promotion and purge work in bounded steps", body: boundedSteps),
        Case(name: "inspection counts, lists and summarizes", body: inspection),
        Case(name: "listings filter by name and time and can leave payloads out", body: inspectionFilters),
        Case(name: "workers are registered, seen and forgotten", body: workerRegistry),
        Case(name: "enqueue, retry and resume wake waiting workers", body: wakeUps),
        Case(name: "a worker's wait for work ends with an enqueue, and its job is claimed once", body: waitForWorkEndsOnEnqueue),
        Case(name: "concurrent claimers never share a job", body: concurrentClaims),
        Case(name: "a worker runs a mixed batch to the end", body: workerRunsBatch),
    ] + batchCases + workflowCases + coordinationCases + scheduleCases + limitCases + circuitCases
}

// MARK: Helpers

extension BackendConformance {
    static func job(_ name: String = "test.job", queue: String = "default", priority: Priority = .normal,
                    payload: String = "{}", runAt: Date? = nil, delay: Duration? = nil, maxAttempts: Int = 3,
                    uniqueKey: String? = nil, batch: String? = nil) -> NewJob {
        NewJob(name: name, queue: queue, payload: Data(payload.utf8), priority: priority, runAt: runAt, delay: delay,
               maxAttempts: maxAttempts, timeout: .seconds(60), uniqueKey: uniqueKey, batchID: batch)
    }

    static func claimAll(_ backend: any JobBackend, queues: [String] = ["default"], lease: Duration = lease) async throws -> [ClaimedJob] {
        try await backend.claim(queues: queues, limit: 10_000, lease: lease, workerID: "conformance")
    }

    static func state(_ backend: any JobBackend, _ id: JobID) async throws -> JobState? {
        try await backend.job(id)?.state
    }
}
