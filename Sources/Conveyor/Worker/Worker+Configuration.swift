import CoreMetrics
import Foundation
import Logging

extension Worker {
    /// How a worker claims, runs and acknowledges jobs. Every field has a documented default.
    public struct Configuration: Sendable {
        /// This worker's name in the store (`host:pid:random` by default).
        public var id: String
        /// Queues to claim from, in order of preference.
        public var queues: [String]
        /// Also claim from every queue the store knows, looked up again every `pollInterval`,
        /// so queues first used after the worker started are picked up (after `queues`, in
        /// name order). Default off.
        public var discoversQueues: Bool
        /// Jobs run at once.
        public var concurrency: Int
        /// Jobs claimed ahead of free slots, so a fast job never waits for a round trip.
        /// Default: equal to `concurrency`.
        public var prefetch: Int
        /// How long a claimed job stays ours without a heartbeat. A worker that dies loses
        /// its jobs to other workers this long after its last heartbeat. Default 30 s.
        public var lease: Duration
        /// How often held leases are extended. Default: a third of `lease`.
        public var heartbeatInterval: Duration
        /// How often this worker returns other workers' expired leases to ready and lets the
        /// store delete finished jobs past their retention. Default: half the lease, at most 1 s
        /// (each call is bounded, so retention keeps up with a full-speed drain).
        public var recoveryInterval: Duration
        /// Completions wait at most this long to be written together with others.
        public var ackInterval: Duration
        /// Most completions written in one call.
        public var maximumAckBatch: Int
        /// On shutdown, running jobs get this long to finish before they are interrupted
        /// and handed back. Default 25 s (under the usual 30 s SIGKILL deadline).
        public var shutdownGracePeriod: Duration
        /// Longest idle wait between checks when the store sends no wake-up. Default 5 s.
        public var pollInterval: Duration
        /// Stop once nothing is left to claim or running, and nothing is due within
        /// `pollInterval` (RQ's `--burst`).
        public var stopWhenIdle: Bool
        /// Where metrics go; `nil`: the process's `MetricsSystem` (a no-op until bootstrapped).
        public var metricsFactory: (any MetricsFactory)?
        public var logger: Logger
        /// This process's clock, for what the worker reports of itself (when it started).
        /// Leases, due times and retries never read it: they run on the store's clock.
        public var clock: any StoreClock

        public init(
            id: String? = nil,
            queues: [String] = ["default"],
            concurrency: Int = 10,
            prefetch: Int? = nil,
            lease: Duration = .seconds(30),
            heartbeatInterval: Duration? = nil,
            recoveryInterval: Duration? = nil,
            ackInterval: Duration = .milliseconds(2),
            maximumAckBatch: Int = 1000,
            shutdownGracePeriod: Duration = .seconds(25),
            pollInterval: Duration = .seconds(5),
            stopWhenIdle: Bool = false,
            discoversQueues: Bool = false,
            metricsFactory: (any MetricsFactory)? = nil,
            logger: Logger = Logger(label: "conveyor.worker"),
            clock: any StoreClock = SystemClock()
        ) {
            self.id = id ?? Worker.makeID()
            self.queues = queues.isEmpty ? ["default"] : queues
            self.concurrency = max(1, concurrency)
            self.prefetch = max(0, prefetch ?? concurrency)
            self.lease = lease
            self.heartbeatInterval = heartbeatInterval ?? lease / 3
            self.recoveryInterval = recoveryInterval ?? min(lease / 2, .seconds(1))
            self.ackInterval = ackInterval
            self.maximumAckBatch = max(1, maximumAckBatch)
            self.shutdownGracePeriod = shutdownGracePeriod
            self.pollInterval = pollInterval
            self.stopWhenIdle = stopWhenIdle
            self.discoversQueues = discoversQueues
            self.metricsFactory = metricsFactory
            self.logger = logger
            self.clock = clock
        }
    }

    static func makeID() -> String {
        let host = ProcessInfo.processInfo.hostName
        let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        return "\(host):\(getpid()):\(suffix)"
    }
}
