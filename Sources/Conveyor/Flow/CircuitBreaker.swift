import Foundation

/// A circuit breaker for each key a rule covers: after `failures` failures in a row (or a
/// `failureRate` of the last `window` outcomes) the key opens and its jobs wait without spending
/// attempts; after `coolDown` exactly one job, fleet-wide, goes as the probe; its success closes
/// the key again and the jobs that waited go in waves of `wave` per `waveInterval`, its failure
/// opens it for another cool-down.
///
/// Which failures count is the job type's choice (``Job/countsAgainstCircuit(_:)``): by default
/// a retryable failure (a timeout, a 503) is the source's, a permanent one (a 404, bad input)
/// the job's own. A deferral (``JobError/upstreamBusy(retryAfter:key:_:)``), a released or
/// recovered lease count neither way.
public struct CircuitBreaker: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Failures in a row that open the circuit.
    public var failures: Int
    /// Or the share of failures (0 < rate ≤ 1) among the last `window` outcomes that opens it.
    public var failureRate: Double?
    /// The outcomes the failure rate and the reliability score look at.
    public var window: Int
    /// How long the circuit stays open before its probe.
    public var coolDown: Duration
    /// Once closed again, the jobs that waited go `wave` at a time…
    public var wave: Int
    /// …one wave per `waveInterval`, until a wave is not full.
    public var waveInterval: Duration

    /// The most outcomes a window holds.
    public static let maximumWindow = 100
    /// A cool-down that never ends: the circuit stays open until it is closed or reset by hand
    /// (a source whose checks stop after failures until someone looks). A hundred years, so
    /// every store's arithmetic stays exact.
    public static let untilReset: Duration = .seconds(100 * 365 * 86_400)

    /// The half-life of the time-decayed success rate shown beside each breaker.
    public static let scoreHalfLife: Duration = .seconds(3600)

    public init(
        failures: Int = 5, failureRate: Double? = nil, window: Int = 20, coolDown: Duration = .seconds(30),
        wave: Int = 10, waveInterval: Duration = .seconds(1)
    ) throws {
        guard failures >= 1 else { throw ConveyorError.invalidLimit("a breaker opening after \(failures) failures: at least 1 failure must open it") }
        if let failureRate, !(failureRate > 0 && failureRate <= 1) {
            throw ConveyorError.invalidLimit("a failure rate of \(failureRate): it must be above 0 and at most 1 (like 0.5 or 50%)")
        }
        guard (1...Self.maximumWindow).contains(window) else {
            throw ConveyorError.invalidLimit("a window of \(window) outcomes: it must be 1 to \(Self.maximumWindow)")
        }
        guard coolDown >= .milliseconds(1) else { throw ConveyorError.invalidLimit("a cool-down of \(coolDown.formatted): it must be at least 1 ms") }
        guard coolDown <= Self.untilReset else {
            throw ConveyorError.invalidLimit("a cool-down of \(coolDown.formatted): at most 100 years (or until reset by hand)")
        }
        guard wave >= 1 else { throw ConveyorError.invalidLimit("waves of \(wave) jobs: at least 1 job must go per wave") }
        guard waveInterval >= .milliseconds(1) else {
            throw ConveyorError.invalidLimit("a wave interval of \(waveInterval.formatted): it must be at least 1 ms")
        }
        self.failures = failures
        self.failureRate = failureRate.map { ($0 * 1000).rounded() / 1000 }
        self.window = window
        self.coolDown = coolDown
        self.wave = wave
        self.waveInterval = waveInterval
    }

    public var description: String {
        var opens = "opens after \(failures) failures in a row"
        if let failureRate { opens += " or \(Self.percent(failureRate)) of the last \(window)" }
        let probes = staysOpenUntilReset ? "stays open until closed or reset by hand" : "probes after \(coolDown.formatted)"
        return "\(opens), \(probes), lets waiting jobs go \(wave) per \(waveInterval.formatted)"
    }

    /// Whether only a person closes it again (``untilReset``).
    public var staysOpenUntilReset: Bool { coolDown >= Self.untilReset
    }

    /// A share as a percentage: `50%`, `12.5%`.
    public static func percent(_ share: Double) -> String {
        let value = share * 100
        return value == value.rounded() ? "\(Int(value))%" : String(format: "%.1f%%", value)
    }
}

/// Where a key's circuit is.
public enum CircuitPhase: Int, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    /// Jobs go as the limits admit.
    case closed = 0
    /// Jobs wait until the cool-down is over.
    case open = 1
    /// One probe may run (or runs); the rest wait.
    case halfOpen = 2
    /// Closed again after a probe (or by hand); the jobs that waited go in waves.
    case recovering = 3
    /// Opened by hand: jobs wait until it is closed or reset by hand.
    case forcedOpen = 4

    public var description: String {
        switch self {
        case .closed: "closed"
        case .open: "open"
        case .halfOpen: "half-open"
        case .recovering: "closed (waves)"
        case .forcedOpen: "open (by hand)"
        }
    }

    /// Whether jobs of the key wait (beyond a probe).
    public var isOpen: Bool { self == .open || self == .halfOpen || self == .forcedOpen }
}

/// What a store keeps of a key's outcomes for its breaker and reliability score.
public struct CircuitStats: Sendable, Hashable {
    /// Counted failures in a row.
    public var failures: Int
    /// The last outcomes, oldest first: `1` a success, `0` a counted failure (at most
    /// ``CircuitBreaker/maximumWindow``).
    public var recent: String
    /// Outcomes since the circuit last closed (the failure rate waits for a full window).
    public var sinceClose: Int
    /// The time-decayed successes and outcomes (half-life ``CircuitBreaker/scoreHalfLife``) as
    /// of `decayedAt` (µs).
    public var decayedSuccesses: Double
    public var decayedTotal: Double
    public var decayedAt: Int64
    /// When the circuit last changed phase (µs), 0 never.
    public var changedAt: Int64

    public init(failures: Int = 0, recent: String = "", sinceClose: Int = 0, decayedSuccesses: Double = 0, decayedTotal: Double = 0,
                decayedAt: Int64 = 0, changedAt: Int64 = 0) {
        self.failures = failures; self.recent = recent; self.sinceClose = sinceClose
        self.decayedSuccesses = decayedSuccesses; self.decayedTotal = decayedTotal; self.decayedAt = decayedAt
        self.changedAt = changedAt
    }

    /// Counts one outcome.
    public mutating func record(success: Bool, now: Int64) {
        failures = success ? 0 : failures + 1
        recent.append(success ? "1" : "0")
        if recent.count > CircuitBreaker.maximumWindow { recent.removeFirst(recent.count - CircuitBreaker.maximumWindow) }
        sinceClose = min(sinceClose + 1, CircuitBreaker.maximumWindow)
        let factor = decayedAt == 0 ? 0 : Self.decay(over: now - decayedAt)
        decayedSuccesses = decayedSuccesses * factor + (success ? 1 : 0)
        decayedTotal = decayedTotal * factor + 1
        decayedAt = now
    }

    /// How much an outcome `elapsed` µs old still weighs.
    public static func decay(over elapsed: Int64) -> Double {
        pow(0.5, Double(max(0, elapsed)) / Double(CircuitBreaker.scoreHalfLife.microseconds))
    }

    /// Successes and outcomes among the last `window`.
    public func lastOutcomes(_ window: Int) -> (successes: Int, outcomes: Int) {
        let last = recent.suffix(window)
        return (last.reduce(0) { $0 + ($1 == "1" ? 1 : 0) }, last.count)
    }
}

/// A circuit's change of phase, as it is recorded.
public struct CircuitChange: Sendable, Hashable {
    public var from: CircuitPhase
    public var to: CircuitPhase
    public var reason: String

    public init(from: CircuitPhase, to: CircuitPhase, reason: String) {
        self.from = from
        self.to = to
        self.reason = String(reason.prefix(500))
    }
}

/// One recorded change of a key's circuit.
public struct CircuitTransition: Sendable, Hashable {
    public var key: String
    public var at: Date
    public var from: CircuitPhase
    public var to: CircuitPhase
    public var reason: String

    /// How many transitions a store keeps per key (the oldest go first).
    public static let historyLimit = 100

    public init(key: String, at: Date, from: CircuitPhase, to: CircuitPhase, reason: String) {
        self.key = key; self.at = at; self.from = from; self.to = to; self.reason = reason
    }

    /// The stored form Redis keeps: `at from to reason`.
    public var storedForm: String { "\(at.storeMicroseconds) \(from.rawValue) \(to.rawValue) \(reason)" }

    public init(key: String, storedForm text: String) throws {
        let parts = text.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count == 4, let at = Int64(parts[0]), let from = Int(parts[1]).flatMap(CircuitPhase.init(rawValue:)),
              let to = Int(parts[2]).flatMap(CircuitPhase.init(rawValue:))
        else { throw ConveyorError.storeFailure("a stored circuit transition of '\(key)' is not 'at from to reason': '\(text.prefix(100))'") }
        self.init(key: key, at: Date(storeMicroseconds: at), from: from, to: to, reason: String(parts[3]))
    }
}

/// What to do to a key's circuit by hand.
public enum CircuitAction: String, Sendable, Hashable, CaseIterable {
    /// Open it until it is closed or reset by hand (works on any key, with a breaker or not).
    case open
    /// Close it: the jobs that waited go in waves; the failures in a row start again from 0.
    case close
    /// Close it and forget its outcomes (the reliability score starts again).
    case reset
}

/// A key's circuit as a store reports it.
public struct CircuitState: Sendable, Hashable {
    public var key: String
    /// The rule whose breaker applies (its pattern), if any.
    public var rule: String?
    public var breaker: CircuitBreaker?
    public var phase: CircuitPhase
    /// When the probe may go, while open after failures.
    public var openUntil: Date?
    /// The probe running now, while half-open.
    public var probe: JobID?
    public var consecutiveFailures: Int
    /// Successes among the last outcomes (the breaker's window, else 20).
    public var recentSuccesses: Int
    public var recentOutcomes: Int
    /// Successes over outcomes, each weighed by its age (half-life one hour), or nil with none.
    public var decayedScore: Double?
    /// When the circuit last changed phase.
    public var changedAt: Date?

    public init(key: String, rule: String?, breaker: CircuitBreaker?, cell: LimiterCell, stats: CircuitStats, now: Int64) {
        self.key = key
        self.rule = rule
        self.breaker = breaker
        self.phase = cell.circuit
        self.openUntil = cell.circuit == .open ? Date(storeMicroseconds: cell.openUntil) : nil
        self.probe = cell.circuit == .halfOpen && cell.probe != 0 ? JobID(cell.probe) : nil
        self.consecutiveFailures = stats.failures
        (recentSuccesses, recentOutcomes) = stats.lastOutcomes(breaker?.window ?? 20)
        let weight = stats.decayedAt == 0 ? 0 : CircuitStats.decay(over: now - stats.decayedAt)
        let total = stats.decayedTotal * weight
        self.decayedScore = total > 1e-9 ? stats.decayedSuccesses * weight / total : nil
        self.changedAt = stats.changedAt == 0 ? nil : Date(storeMicroseconds: stats.changedAt)
    }

    /// Whether the circuit holds the key's jobs back at `now`: open by hand, open and cooling
    /// down, or half-open with its probe running. (Open with the cool-down over, the next job
    /// goes as the probe.)
    public func holdsJobs(at now: Date) -> Bool {
        switch phase {
        case .forcedOpen: true
        case .open: (openUntil ?? .distantFuture) > now
        case .halfOpen: probe != nil
        case .closed, .recovering: false
        }
    }

    /// Successes over the last outcomes (the reliability score), or nil with none yet.
    public var reliability: Double? { recentOutcomes > 0 ? Double(recentSuccesses) / Double(recentOutcomes) : nil }
}

/// How one attempt's end moves its keys' circuits.
public enum CircuitVerdict: Sendable, Hashable {
    case succeeded
    /// A failure the job type counts against its source.
    case failed(String)
    /// Counts neither way: a deferral, a released or recovered lease, the job's own failure.
    case neutral
}

extension JobOutcome {
    /// How this outcome moves the circuits of the job's keys.
    public var circuitVerdict: CircuitVerdict {
        switch result {
        case .succeeded: .succeeded
        case .failed(let failure, _): countsAgainstCircuit ? .failed(failure.message) : .neutral
        case .deferred: .neutral
        }
    }
}

// The circuit's arithmetic: the one definition the memory and SQLite stores run (Redis's
// `limits.lua` runs the same steps).
extension LimitSettings {
    /// What the circuit lets through now: nil nothing held back; else at most `cap` starts, the
    /// one after them at `next` (nil: when a probe ends, or within the recheck).
    func circuitGate(_ cell: LimiterCell, now: Int64) -> (cap: Int, next: Int64?)? {
        if cell.circuit == .forcedOpen { return (0, nil) }
        guard let circuit else { return nil }
        switch cell.circuit {
        case .closed, .forcedOpen:  // forced open: handled above
            return nil
        case .open:
            return cell.openUntil > now ? (0, cell.openUntil) : (1, nil)
        case .halfOpen:
            return (cell.probe != 0 ? 0 : 1, nil)
        case .recovering:
            let interval = circuit.waveInterval.microseconds
            if cell.waveAt + interval > now { return (Swift.max(0, circuit.wave - cell.waveUsed), cell.waveAt + interval) }
            // The last wave was not full: the waves are over (the next start closes the circuit).
            if cell.waveAt != 0 && cell.waveUsed < circuit.wave { return nil }
            return (circuit.wave, now + interval)
        }
    }

    /// The circuit after job `id` started (the probe, or one of a wave), and the change to record.
    func circuitStarted(_ cell: inout LimiterCell, now: Int64, job id: Int64) -> CircuitChange? {
        guard let circuit, cell.circuit != .forcedOpen else { return nil }
        switch cell.circuit {
        case .open where cell.openUntil <= now:
            cell.circuit = .halfOpen
            cell.probe = id
            return CircuitChange(from: .open, to: .halfOpen, reason: "the cool-down is over: job \(id) is the probe")
        case .halfOpen where cell.probe == 0:
            cell.probe = id
        case .recovering:
            let interval = circuit.waveInterval.microseconds
            if cell.waveAt + interval > now {
                cell.waveUsed += 1
            } else if cell.waveAt != 0 && cell.waveUsed < circuit.wave {
                // The last wave was not full: the jobs that waited have gone.
                cell.circuit = .closed
                cell.waveAt = 0
                cell.waveUsed = 0
            } else {
                cell.waveAt = now
                cell.waveUsed = 1
            }
        default:
            break
        }
        return nil
    }

    /// Whether a job's end with `verdict` has anything to do to the key's circuit: a circuit
    /// that is not closed, or an outcome a breaker counts. Stores read a key's outcomes only then.
    public func circuitMoves(_ cell: LimiterCell, on verdict: CircuitVerdict) -> Bool {
        cell.circuit != .closed || countsOutcome(verdict)
    }

    /// Whether ``circuitEnded(_:_:job:_:now:)`` records `verdict` in the key's outcomes (which
    /// the store then writes back).
    public func countsOutcome(_ verdict: CircuitVerdict) -> Bool { circuit != nil && verdict != .neutral }

    /// Whether a close or reset by hand applies to the key: a breaker covers it, it has
    /// recorded outcomes, or its circuit is not closed.
    public func knowsCircuit(_ cell: LimiterCell, hasOutcomes: Bool) -> Bool {
        circuit != nil || hasOutcomes || cell.circuit != .closed
    }

    /// A job of the key ended: its outcome counts (with a breaker), and the probe's decides.
    /// The store records the change returned (and stamps the outcomes' `changedAt` then).
    public func circuitEnded(_ cell: inout LimiterCell, _ stats: inout CircuitStats, job id: Int64, _ verdict: CircuitVerdict,
                             now: Int64) -> CircuitChange? {
        let isProbe = cell.circuit == .halfOpen && cell.probe == id
        if isProbe { cell.probe = 0 }
        guard let circuit else {
            // No rule with a breaker covers the key any more: its circuit closes (unless opened by hand).
            guard cell.circuit != .closed && cell.circuit != .forcedOpen else { return nil }
            let from = cell.circuit
            close(&cell, &stats)
            return CircuitChange(from: from, to: .closed, reason: "no rule with a breaker covers the key any more")
        }
        var change: CircuitChange?
        switch verdict {
        case .neutral:
            return nil
        case .succeeded:
            stats.record(success: true, now: now)
            if isProbe {
                change = CircuitChange(from: .halfOpen, to: .recovering, reason: "probe job \(id) succeeded")
                close(&cell, &stats)
            }
        case .failed(let message):
            stats.record(success: false, now: now)
            if isProbe {
                change = CircuitChange(from: .halfOpen, to: .open, reason: "probe job \(id) failed: \(message)")
            } else if cell.circuit == .closed || cell.circuit == .recovering {
                let (successes, outcomes) = stats.lastOutcomes(circuit.window)
                let failed = outcomes - successes
                if stats.failures >= circuit.failures {
                    change = CircuitChange(from: cell.circuit, to: .open,
                                           reason: "\(stats.failures) failures in a row; the last, job \(id): \(message)")
                } else if let rate = circuit.failureRate, stats.sinceClose >= circuit.window,
                          Double(failed) >= rate * Double(outcomes) - 1e-9 {
                    change = CircuitChange(from: cell.circuit, to: .open,
                                           reason: "\(failed) of the last \(outcomes) outcomes failed (the limit is \(CircuitBreaker.percent(rate))); the last, job \(id): \(message)")
                }
            }
            if change != nil {
                cell.circuit = .open
                cell.openUntil = now + circuit.coolDown.microseconds
                cell.waveAt = 0
                cell.waveUsed = 0
            }
        }
        return change
    }

    private func close(_ cell: inout LimiterCell, _ stats: inout CircuitStats) {
        cell.circuit = circuit == nil ? .closed : .recovering
        cell.probe = 0
        cell.openUntil = 0
        cell.waveAt = 0
        cell.waveUsed = 0
        stats.failures = 0
        stats.sinceClose = 0
    }

    /// Opens, closes or resets the circuit by hand, and the change to record (the store stamps
    /// `changedAt` as it records it).
    public func circuitChanged(_ cell: inout LimiterCell, _ stats: inout CircuitStats, by action: CircuitAction, reason: String) -> CircuitChange {
        let from = cell.circuit
        let why = reason.isEmpty ? "" : ": \(reason)"
        switch action {
        case .open:
            cell.circuit = .forcedOpen
            cell.probe = 0
        case .close:
            close(&cell, &stats)
        case .reset:
            close(&cell, &stats)
            stats = CircuitStats()
        }
        let verb = ["open": "opened", "close": "closed", "reset": "reset"][action.rawValue]!
        return CircuitChange(from: from, to: cell.circuit, reason: "\(verb) by hand\(why)")
    }
}

extension FlowControlStore {
    /// The error for a close or reset of a key no breaker knows.
    public static func unknownCircuit(_ key: String, known: [String]) -> ConveyorError {
        let list = known.isEmpty ? "no key has a circuit yet" : "keys with a circuit: \(known.prefix(20).joined(separator: ", "))"
        return .invalidLimit("no circuit breaker knows the key '\(key)' (no rule with a breaker applies to it and it has no recorded outcome); \(list)")
    }
}
