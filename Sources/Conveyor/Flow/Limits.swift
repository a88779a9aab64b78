import Foundation

/// At most `count` starts per `period` for each key, shared by every worker through the
/// store (a generic cell rate algorithm on the store's clock): starts are spaced
/// `period / count` apart, and after an idle spell up to `burst` may start at once. With
/// `burst` 1 (the default) no window of length `period` ever holds more than `count` starts;
/// with a larger burst, at most `count + burst - 1`.
///
/// The sliding-window variant (`sliding: true`) keeps the start times of the key's last
/// `count` starts instead: up to `count` may start at once, and no window of length `period`
/// ever holds more than `count` (a fixed window lets twice as many through around its edge).
public struct RateLimit: Sendable, Hashable, Codable, CustomStringConvertible {
    public var count: Int
    public var period: Duration
    public var burst: Int
    /// A sliding window of the last `count` starts rather than evenly spaced starts.
    public var sliding: Bool

    /// The most starts a sliding window keeps per key.
    public static let maximumSlidingCount = 10_000

    public init(_ count: Int, per period: Duration, burst: Int = 1, sliding: Bool = false) throws {
        guard count > 0 else { throw ConveyorError.invalidLimit("a rate of \(count) per \(period.formatted): the count must be at least 1") }
        guard period > .zero else { throw ConveyorError.invalidLimit("a rate of \(count) per \(period.formatted): the period must be longer than zero") }
        guard burst > 0 else { throw ConveyorError.invalidLimit("a burst of \(burst): it must be at least 1") }
        guard period.microseconds / Int64(count) >= 1 else {
            throw ConveyorError.invalidLimit("a rate of \(count) per \(period.formatted) is more than one start per microsecond")
        }
        if sliding {
            guard burst == 1 else {
                throw ConveyorError.invalidLimit("a burst of \(burst) with a sliding window: the window lets up to its count start at once, so it takes no burst")
            }
            guard count <= Self.maximumSlidingCount else {
                throw ConveyorError.invalidLimit("a sliding window of \(count) starts: it keeps at most \(Self.maximumSlidingCount) (use the default rate for more)")
            }
        }
        self.count = count
        self.period = period
        self.burst = burst
        self.sliding = sliding
    }

    /// Reads `5/s`, `100/min`, `2/500ms`, `10/2s`, `1000/h`, `3/day`.
    public init(parsing text: String, burst: Int = 1, sliding: Bool = false) throws {
        let accepted = "write COUNT/PERIOD, like 5/s, 100/min, 2/500ms, 10/2s, 1000/h or 3/day"
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let count = Int(parts[0].trimmingCharacters(in: .whitespaces)) else {
            throw ConveyorError.invalidLimit("rate '\(text)' is not COUNT/PERIOD; \(accepted)")
        }
        var unit = parts[1].trimmingCharacters(in: .whitespaces)
        let digits = unit.prefix { $0.isNumber }
        let multiple = digits.isEmpty ? 1 : Int(digits)
        unit.removeFirst(digits.count)
        let units: [String: Duration] = [
            "ms": .milliseconds(1), "s": .seconds(1), "sec": .seconds(1), "second": .seconds(1),
            "m": .seconds(60), "min": .seconds(60), "minute": .seconds(60),
            "h": .seconds(3600), "hour": .seconds(3600), "d": .seconds(86_400), "day": .seconds(86_400),
        ]
        guard let multiple, multiple > 0, let base = units[unit.lowercased()] else {
            throw ConveyorError.invalidLimit("rate '\(text)': '\(parts[1])' is not a period; \(accepted)")
        }
        do {
            try self.init(count, per: base * multiple, burst: burst, sliding: sliding)
        } catch {
            throw ConveyorError.invalidLimit("rate '\(text)': \(error); \(accepted)")
        }
    }

    /// The spacing between starts, in µs, rounded up so `count` starts never fit in less
    /// than `period`.
    public var intervalMicroseconds: Int64 {
        let period = self.period.microseconds
        return (period + Int64(count) - 1) / Int64(count)
    }

    public var description: String {
        let rate = "\(count)/\(periodText)"
        if sliding { return "\(rate) sliding" }
        return burst > 1 ? "\(rate) burst \(burst)" : rate
    }

    /// The period as `RateLimit(parsing:)` reads it: `s`, `2s`, `min`, `500ms`, `day`.
    public var periodText: String {
        let micros = period.microseconds
        for (unit, size) in [("day", Int64(86_400_000_000)), ("h", 3_600_000_000), ("min", 60_000_000), ("s", 1_000_000), ("ms", 1000)]
        where micros % size == 0 {
            let count = micros / size
            return count == 1 ? unit : "\(count)\(unit)"
        }
        return "\(micros)us"
    }
}

/// At most `maximum` jobs of each key active at once across the fleet. A job holds its slot
/// while it holds its lease: a worker that dies frees the slot when the lease expires.
public struct ConcurrencyLimit: Sendable, Hashable, Codable, CustomStringConvertible {
    public var maximum: Int

    public init(_ maximum: Int) throws {
        guard maximum > 0 else {
            throw ConveyorError.invalidLimit("a concurrency of \(maximum): at least 1 job must be allowed at once (pause the queue to stop all)")
        }
        self.maximum = maximum
    }

    public var description: String { "\(maximum) at once" }
}

/// The limits of one rule: a rate, a concurrency, a circuit breaker, or any of them together.
public struct LimitSettings: Sendable, Hashable, Codable, CustomStringConvertible {
    public var rate: RateLimit?
    public var concurrency: ConcurrencyLimit?
    public var circuit: CircuitBreaker?

    public init(rate: RateLimit? = nil, concurrency: ConcurrencyLimit? = nil, circuit: CircuitBreaker? = nil) {
        self.rate = rate
        self.concurrency = concurrency
        self.circuit = circuit
    }

    public var isEmpty: Bool { rate == nil && concurrency == nil && circuit == nil }

    public var description: String {
        [rate.map { "rate \($0)" }, concurrency.map { "concurrency \($0.maximum)" }, circuit.map { "breaker \($0)" }]
            .compactMap { $0 }.joined(separator: ", ")
    }

    /// The stored form every store keeps (Redis's scripts read it), numbers separated by
    /// spaces, 0 for what is not set: count, period µs, burst (0: a sliding window), concurrency; then, with a
    /// breaker, its failures, failure rate in thousandths, window, cool-down µs, wave and wave
    /// interval µs.
    public var storedForm: String {
        let burst = rate.map { $0.sliding ? 0 : $0.burst } ?? 0
        var form = "\(rate?.count ?? 0) \(rate?.period.microseconds ?? 0) \(burst) \(concurrency?.maximum ?? 0)"
        if let circuit {
            let rate = Int(((circuit.failureRate ?? 0) * 1000).rounded())
            form += " \(circuit.failures) \(rate) \(circuit.window) \(circuit.coolDown.microseconds) \(circuit.wave) \(circuit.waveInterval.microseconds)"
        }
        return form
    }

    public init(storedForm text: String) throws {
        let numbers = text.split(separator: " ").compactMap { Int64($0) }
        guard numbers.count == 4 || numbers.count == 10 else {
            throw ConveyorError.storeFailure("a stored limit rule is not four or ten numbers: '\(text.prefix(100))'")
        }
        self.rate = numbers[0] > 0
            ? try RateLimit(Int(numbers[0]), per: .microseconds(numbers[1]), burst: Int(max(1, numbers[2])), sliding: numbers[2] == 0)
            : nil
        self.concurrency = numbers[3] > 0 ? try ConcurrencyLimit(Int(numbers[3])) : nil
        if numbers.count == 10 {
            self.circuit = try CircuitBreaker(failures: Int(numbers[4]), failureRate: numbers[5] > 0 ? Double(numbers[5]) / 1000 : nil,
                                              window: Int(numbers[6]), coolDown: .microseconds(numbers[7]), wave: Int(numbers[8]),
                                              waveInterval: .microseconds(numbers[9]))
        }
    }
}

/// Limits stored for a key (`host:api.worldbank.org`), a prefix (`host:*`: each such key
/// limited on its own) or every key (`*`). A key follows its own rule if it has one, else its
/// longest matching prefix rule, else `*`.
public struct LimitRule: Sendable, Hashable {
    public var pattern: String
    public var settings: LimitSettings
    public var updatedAt: Date

    public init(pattern: String, settings: LimitSettings, updatedAt: Date) {
        self.pattern = pattern
        self.settings = settings
        self.updatedAt = updatedAt
    }
}

/// What the store holds for one limit key now.
public struct LimitKeyState: Sendable, Hashable {
    public var key: String
    /// The rule that applies (its pattern), if any.
    public var rule: String?
    /// Jobs with this key active now (holding a lease).
    public var active: Int
    /// Ready jobs set aside because the key was at its limit (they wait without spending an attempt).
    public var waiting: Int
    /// The earliest the rate limit admits another start, when later than now.
    public var nextStart: Date?
    /// Until when the upstream asked the key to wait (``JobError/upstreamBusy(retryAfter:key:_:)``).
    public var blockedUntil: Date?

    public init(key: String, rule: String?, active: Int, waiting: Int, nextStart: Date?, blockedUntil: Date?) {
        self.key = key; self.rule = rule; self.active = active; self.waiting = waiting
        self.nextStart = nextStart; self.blockedUntil = blockedUntil
    }

    /// The state a store reports from a key's cell and rule, at `now` (µs).
    public init(key: String, rule: String?, cell: LimiterCell, settings: LimitSettings?, waiting: Int, now: Int64) {
        var nextStart: Int64?
        if let rate = settings?.rate, rate.sliding {
            if cell.windowCount >= rate.count && cell.windowFrees > now { nextStart = cell.windowFrees }
        } else if let rate = settings?.rate {
            let opens = max(cell.tat, now) - Int64(rate.burst - 1) * rate.intervalMicroseconds
            if opens > now { nextStart = opens }
        }
        self.init(key: key, rule: rule, active: max(0, cell.active), waiting: waiting, nextStart: nextStart.map(Date.init(storeMicroseconds:)),
                  blockedUntil: cell.blockedUntil > now ? Date(storeMicroseconds: cell.blockedUntil) : nil)
    }
}

/// Stores that enforce limits per key inside `claim`.
///
/// A claimed job counts against every key it carries: a start against each key's rate, a slot
/// against each key's concurrency until its lease ends (completion, release, recovery). A ready
/// job whose key is at its limit is not claimed and spends no attempt: the store sets it aside
/// once (it stays `ready`), then lets as many go as the key admits when it admits again, in
/// priority then FIFO order, so jobs waiting on a saturated key cost no store work while they
/// wait and never slow the jobs of other keys.
public protocol FlowControlStore: JobQueueStore {
    /// Stores the limits for a key, a prefix or every key, replacing what was there.
    func setLimit(_ pattern: String, _ settings: LimitSettings) async throws
    /// Removes a rule; `false` when there was none.
    @discardableResult
    func removeLimit(_ pattern: String) async throws -> Bool
    /// Every rule, by pattern.
    func limitRules() async throws -> [LimitRule]
    /// The state of these keys now (a key the store knows nothing of is idle).
    func limitStates(_ keys: [String]) async throws -> [LimitKeyState]

    /// The circuits of these keys now (a key the store knows nothing of is closed).
    func circuitStates(_ keys: [String]) async throws -> [CircuitState]
    /// Keys with a recorded circuit (an outcome counted or a change by hand), in key order
    /// after `key`, at most `limit`.
    func circuits(after key: String?, limit: Int) async throws -> [CircuitState]
    /// A key's recorded transitions, newest first, at most `limit` (the store keeps
    /// ``CircuitTransition/historyLimit``).
    func circuitHistory(_ key: String, limit: Int) async throws -> [CircuitTransition]
    /// Opens, closes or resets a key's circuit by hand. Closing or resetting a key no breaker
    /// knows is an error that names it.
    @discardableResult
    func changeCircuit(_ key: String, _ action: CircuitAction, reason: String) async throws -> CircuitState
}

extension FlowControlStore {
    /// Checks a pattern and settings before they are stored.
    public static func validateRule(_ pattern: String, _ settings: LimitSettings) throws {
        if let problem = LimitKey.problem(withPattern: pattern) { throw ConveyorError.invalidLimit(problem) }
        if settings.isEmpty { throw ConveyorError.invalidLimit("limit rule '\(pattern)' sets neither a rate nor a concurrency") }
    }
}
