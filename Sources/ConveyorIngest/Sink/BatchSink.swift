import Conveyor
import Foundation
import Logging
import Metrics
import ServiceLifecycle

/// Buffers records and writes them to a ``SinkTarget`` in batches: one transactional bulk
/// upsert per flush, by the records' natural key.
///
/// - **When it flushes:** as soon as `maxCount` records or `maxBytes` are buffered, or the
///   oldest buffered record is `maxAge` old, whichever comes first; and on ``flush()`` and
///   ``close()``. One flush runs at a time; producers go on filling the next one meanwhile.
/// - **Back-pressure:** ``send(_:)`` waits while `capacity` records are buffered, so a slow
///   target slows its producers instead of filling memory.
/// - **A bad record** (the target refuses the write for its data: a constraint, a type) costs
///   only itself: the flush is split in halves, and halves again, until the bad records are
///   alone; every good record is committed, and each bad one is written to the ``SpillFile``
///   with its reason and the database's error. One bad row in 10,000 costs about
///   2 × log2(10,000) = 28 extra statements.
/// - **A transient error** (``SinkTarget/isTransient(_:)``: a locked database, a dropped
///   connection) retries the whole write after an exponential pause, up to `transientRetries`
///   times; after that its records are spilled too, so nothing given to the sink is lost.
///
/// The sink is a ServiceLifecycle service: ``run()`` does the flushing (in a `ServiceGroup`, or
/// through ``withSink(_:configuration:spill:logger:_:)``), and graceful shutdown flushes what
/// is buffered before it returns.
///
/// Metrics (swift-metrics, dimension `sink`): `conveyor_sink_buffered` (gauge),
/// `conveyor_sink_flush_records` (recorder), `conveyor_sink_flush_duration` (timer),
/// `conveyor_sink_rows_total` by `outcome` (added, updated, unchanged, spilled), and
/// `conveyor_sink_errors_total` by `kind` (data, transient).
public actor BatchSink<Target: SinkTarget>: Service {
    public struct Configuration: Sendable {
        /// Records per flush at most.
        public var maxCount: Int = 500
        /// Estimated bytes per flush at most (``SinkRecord/estimatedBytes``).
        public var maxBytes: Int = 8 << 20
        /// The longest a record waits in the buffer.
        public var maxAge: Duration = .seconds(1)
        /// Records buffered at most before ``BatchSink/send(_:)`` waits.
        public var capacity: Int = 5_000
        /// Retries of a whole write after a transient error, before its records are spilled.
        public var transientRetries: Int = 5
        /// The first pause after a transient error; it doubles each time, up to `maxBackoff`.
        public var backoff: Duration = .milliseconds(100)
        public var maxBackoff: Duration = .seconds(10)
        /// The `sink` dimension of the metrics.
        public var label: String = "sink"
        /// Where metrics go; `nil`: the process's `MetricsSystem`.
        public var metricsFactory: (any MetricsFactory)?

        public init(maxCount: Int = 500, maxBytes: Int = 8 << 20, maxAge: Duration = .seconds(1), capacity: Int = 5_000,
                    transientRetries: Int = 5, backoff: Duration = .milliseconds(100), maxBackoff: Duration = .seconds(10),
                    label: String = "sink", metricsFactory: (any MetricsFactory)? = nil) {
            self.metricsFactory = metricsFactory
            self.maxCount = maxCount
            self.maxBytes = maxBytes
            self.maxAge = maxAge
            self.capacity = capacity
            self.transientRetries = transientRetries
            self.backoff = backoff
            self.maxBackoff = maxBackoff
            self.label = label
        }

        func validate() throws {
            guard maxCount > 0 else { throw SinkError.badConfiguration("maxCount is \(maxCount); it must be at least 1") }
            guard maxBytes > 0 else { throw SinkError.badConfiguration("maxBytes is \(maxBytes); it must be at least 1") }
            guard maxAge > .zero else { throw SinkError.badConfiguration("maxAge is \(maxAge); it must be more than zero") }
            guard capacity >= maxCount else {
                throw SinkError.badConfiguration("capacity is \(capacity); it must be at least maxCount (\(maxCount))")
            }
            guard transientRetries >= 0 else { throw SinkError.badConfiguration("transientRetries is \(transientRetries); it must not be negative") }
        }
    }

    /// What the sink has done so far.
    public struct Statistics: Sendable, Equatable {
        public var accepted = 0
        public var buffered = 0
        public var flushes = 0
        /// Writes tried, splits and retries included.
        public var writes = 0
        public var written = SinkWriteResult()
        public var spilled = 0
        public var dataErrors = 0
        public var transientErrors = 0
    }

    public nonisolated let target: Target
    public nonisolated let configuration: Configuration
    public nonisolated let spill: SpillFile
    private let logger: Logger
    private let sleep: @Sendable (Duration) async throws -> Void

    private var buffer: [Target.Record] = []
    /// Each buffered record's ``SinkRecord/estimatedBytes`` (read once, when it is sent) and
    /// when it came: the first one's is the age `maxAge` is measured by.
    private var arrivals: [(bytes: Int, at: ContinuousClock.Instant)] = []
    private var bufferedBytes = 0
    private var oldest: ContinuousClock.Instant? { arrivals.first?.at }
    private var statistics = Statistics()
    /// Records handed to the target or spilled, in the order they were accepted.
    private var done = 0
    private var flushRequested = false
    private var closing = false
    private var finished = false
    private var running = false

    /// A write is under way: the next waits, so the target sees one write at a time.
    private var writing = false
    private var writeWaiters: [CheckedContinuation<Void, Never>] = []
    private var wake: CheckedContinuation<Void, Never>?
    private var woken = false
    private var spaceWaiters: [CheckedContinuation<Void, Never>] = []
    private var doneWaiters: [(upTo: Int, continuation: CheckedContinuation<Void, Never>)] = []

    private let bufferedGauge: Gauge
    private let flushRecords: Recorder
    private let flushDuration: Metrics.Timer
    private let rows: [String: Counter]
    private let errors: [String: Counter]

    /// `sleep` waits between retries of a transient error (tests pass one that does not wait).
    public init(target: Target, configuration: Configuration = .init(), spill: SpillFile,
                logger: Logger = Logger(label: "conveyor.sink"),
                sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }) throws {
        try configuration.validate()
        try Target.checkColumns()
        self.target = target
        self.configuration = configuration
        self.spill = spill
        self.logger = logger
        self.sleep = sleep
        let dimensions = [("sink", configuration.label)]
        let factory = configuration.metricsFactory ?? MetricsSystem.factory
        bufferedGauge = Gauge(label: "conveyor_sink_buffered", dimensions: dimensions, factory: factory)
        flushRecords = Recorder(label: "conveyor_sink_flush_records", dimensions: dimensions, factory: factory)
        flushDuration = Metrics.Timer(label: "conveyor_sink_flush_duration", dimensions: dimensions, factory: factory)
        rows = Dictionary(uniqueKeysWithValues: ["added", "updated", "unchanged", "spilled"].map {
            ($0, Counter(label: "conveyor_sink_rows_total", dimensions: dimensions + [("outcome", $0)], factory: factory))
        })
        errors = Dictionary(uniqueKeysWithValues: ["data", "transient"].map {
            ($0, Counter(label: "conveyor_sink_errors_total", dimensions: dimensions + [("kind", $0)], factory: factory))
        })
    }

    /// Runs a sink for the length of `body` and closes it after, flushing everything.
    public static func withSink<Result: Sendable>(
        _ target: Target, configuration: Configuration = .init(), spill: SpillFile,
        logger: Logger = Logger(label: "conveyor.sink"),
        _ body: @Sendable (BatchSink<Target>) async throws -> Result
    ) async throws -> Result {
        let sink = try BatchSink(target: target, configuration: configuration, spill: spill, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await sink.run() }
            do {
                let result = try await body(sink)
                try await sink.close()
                try await group.waitForAll()
                return result
            } catch {
                try? await sink.close()
                try? await group.waitForAll()
                throw error
            }
        }
    }

    // MARK: Producers

    /// Adds a record, waiting while the buffer is full.
    public func send(_ record: Target.Record) async throws {
        while buffer.count >= configuration.capacity, !closing {
            await withCheckedContinuation { spaceWaiters.append($0) }
        }
        guard !closing else { throw SinkError.closed }
        let size = record.estimatedBytes
        buffer.append(record)
        arrivals.append((size, .now))
        bufferedBytes += size
        statistics.accepted += 1
        bufferedGauge.record(buffer.count)
        if buffer.count >= configuration.maxCount || bufferedBytes >= configuration.maxBytes { signal() }
    }

    public func send(contentsOf records: some Sequence<Target.Record>) async throws {
        for record in records { try await send(record) }
    }

    /// Writes everything sent so far and waits until it is written (or spilled).
    public func flush() async throws {
        guard !finished else { return }
        guard running else {
            // Nobody runs the flush loop: flush here so the caller is not left waiting.
            while !buffer.isEmpty { await flushOnce() }
            return
        }
        let target = statistics.accepted
        guard done < target else { return }
        flushRequested = true
        signal()
        await withCheckedContinuation { doneWaiters.append((target, $0)) }
    }

    /// Stops taking records, writes what is buffered and ends ``run()``.
    public func close() async throws {
        beginClose()
        if running {
            try await flush()
        } else {
            while !buffer.isEmpty { await flushOnce() }
            finished = true
        }
    }

    public var stats: Statistics {
        var current = statistics
        current.buffered = buffer.count
        return current
    }

    // MARK: The flush loop

    public func run() async throws {
        guard !running else { throw SinkError.badConfiguration("the sink is already running") }
        // Closed before it ran (a short `withSink` body): the close has flushed everything.
        guard !finished else { return }
        running = true
        defer { running = false; finished = true }
        let tick = max(configuration.maxAge / 4, .milliseconds(5))
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                // The age check: a local timer, a few ticks per maxAge; it touches no store.
                group.addTask { [weak self] in
                    while !Task.isCancelled {
                        try? await Task.sleep(for: tick)
                        guard let self, await self.checkAge() else { return }
                    }
                }
                await flushLoop()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            Task { await self.beginClose() }
        }
    }

    private func flushLoop() async {
        while true {
            if shouldFlush {
                await flushOnce()
                continue
            }
            if closing, buffer.isEmpty { break }
            await waitForSignal()
        }
        finished = true
        for waiter in doneWaiters { waiter.continuation.resume() }
        doneWaiters.removeAll()
    }

    private var shouldFlush: Bool {
        guard !buffer.isEmpty else { return false }
        if closing || flushRequested { return true }
        if buffer.count >= configuration.maxCount || bufferedBytes >= configuration.maxBytes { return true }
        if let oldest, ContinuousClock.now - oldest >= configuration.maxAge { return true }
        return false
    }

    /// Whether the loop still runs; wakes it when the oldest record is due.
    private func checkAge() -> Bool {
        if let oldest, ContinuousClock.now - oldest >= configuration.maxAge { signal() }
        return !finished
    }

    private func beginClose() {
        closing = true
        for waiter in spaceWaiters { waiter.resume() }
        spaceWaiters.removeAll()
        signal()
    }

    private func signal() {
        if let wake {
            self.wake = nil
            wake.resume()
        } else {
            woken = true
        }
    }

    private func waitForSignal() async {
        if woken {
            woken = false
            return
        }
        await withCheckedContinuation { wake = $0 }
        woken = false
    }

    /// Takes one batch off the buffer and writes it.
    private func flushOnce() async {
        while writing { await withCheckedContinuation { writeWaiters.append($0) } }
        guard !buffer.isEmpty else { return }
        writing = true
        defer {
            writing = false
            if !writeWaiters.isEmpty { writeWaiters.removeFirst().resume() }
        }
        var count = 0
        var bytes = 0
        while count < buffer.count, count < configuration.maxCount {
            let size = arrivals[count].bytes
            if count > 0, bytes + size > configuration.maxBytes { break }
            bytes += size
            count += 1
        }
        let batch = Array(buffer.prefix(count))
        buffer.removeFirst(count)
        arrivals.removeFirst(count)
        bufferedBytes = max(0, bufferedBytes - bytes)
        if buffer.isEmpty { flushRequested = false }
        bufferedGauge.record(buffer.count)
        let resumed = spaceWaiters
        spaceWaiters.removeAll()
        for waiter in resumed { waiter.resume() }

        statistics.flushes += 1
        flushRecords.record(batch.count)
        let started = ContinuousClock.now
        await deliver(batch[...])
        flushDuration.recordNanoseconds((ContinuousClock.now - started).nanoseconds)

        done += batch.count
        let ready = doneWaiters.filter { $0.upTo <= done }
        doneWaiters.removeAll { $0.upTo <= done }
        for waiter in ready { waiter.continuation.resume() }
    }

    /// Writes `records`, splitting on a data error and retrying a transient one.
    private func deliver(_ records: ArraySlice<Target.Record>) async {
        var attempt = 0
        while true {
            statistics.writes += 1
            do {
                let result = try await target.write(Array(records))
                statistics.written += result
                rows["added"]!.increment(by: result.added)
                rows["updated"]!.increment(by: result.updated)
                rows["unchanged"]!.increment(by: result.unchanged)
                return
            } catch where target.isTransient(error) {
                statistics.transientErrors += 1
                errors["transient"]!.increment()
                guard attempt < configuration.transientRetries else {
                    logger.error("sink \(configuration.label): \(records.count) records spilled after \(attempt + 1) transient failures", metadata: ["error": "\(error)"])
                    spillRecords(records, reason: "transient failures: \(attempt + 1) attempts", error: error)
                    return
                }
                let pause = min(configuration.backoff * (1 << min(attempt, 20)), configuration.maxBackoff)
                attempt += 1
                logger.warning("sink \(configuration.label): transient failure, retrying the write in \(pause)", metadata: ["error": "\(error)"])
                try? await sleep(pause)
            } catch {
                statistics.dataErrors += 1
                errors["data"]!.increment()
                guard records.count > 1 else {
                    spillRecords(records, reason: "refused by the target", error: error)
                    return
                }
                let middle = records.startIndex + records.count / 2
                await deliver(records[..<middle])
                await deliver(records[middle...])
                return
            }
        }
    }

    private func spillRecords(_ records: ArraySlice<Target.Record>, reason: String, error: any Error) {
        let now = Date()
        let spilled = records.map {
            SpilledRecord(record: $0, reason: reason, error: "\(error)", target: target.name, spilledAt: now)
        }
        do {
            try spill.append(spilled)
        } catch let spillError {
            // Nowhere left to put them: say so loudly, with the records, rather than drop them silently.
            logger.critical("sink \(configuration.label): cannot write \(records.count) records to the spill file \(spill.path): \(spillError)",
                            metadata: ["records": "\(records.map { $0.values() })"])
        }
        statistics.spilled += records.count
        rows["spilled"]!.increment(by: records.count)
    }
}
