import Foundation

/// How many attempts a job gets and how long it waits between them.
///
/// The delay before attempt `n + 1` is `initialDelay × multiplier^(n-1)`, capped at
/// `maximumDelay`, then spread by ±`jitter` so that jobs failing together do not retry together.
public struct RetryPolicy: Sendable, Hashable {
    public var maxAttempts: Int
    public var initialDelay: Duration
    public var multiplier: Double
    public var maximumDelay: Duration
    /// Fraction of the delay, 0...1, added or removed at random.
    public var jitter: Double

    public init(
        maxAttempts: Int = 5, initialDelay: Duration = .seconds(1), multiplier: Double = 2,
        maximumDelay: Duration = .seconds(3600), jitter: Double = 0.2
    ) {
        self.maxAttempts = max(1, maxAttempts)
        self.initialDelay = initialDelay
        self.multiplier = max(1, multiplier)
        self.maximumDelay = maximumDelay
        self.jitter = min(1, max(0, jitter))
    }

    /// 5 attempts, 1 s doubling to at most an hour, ±20 % jitter.
    public static let `default` = RetryPolicy()
    /// One attempt only.
    public static let none = RetryPolicy(maxAttempts: 1)

    public static func exponential(
        maxAttempts: Int, initialDelay: Duration = .seconds(1), multiplier: Double = 2,
        maximumDelay: Duration = .seconds(3600), jitter: Double = 0.2
    ) -> RetryPolicy {
        RetryPolicy(maxAttempts: maxAttempts, initialDelay: initialDelay, multiplier: multiplier, maximumDelay: maximumDelay, jitter: jitter)
    }

    public static func fixed(maxAttempts: Int, delay: Duration) -> RetryPolicy {
        RetryPolicy(maxAttempts: maxAttempts, initialDelay: delay, multiplier: 1, maximumDelay: delay, jitter: 0)
    }

    /// The delay before the next attempt after attempt `attempt` (1-based) failed.
    public func delay<R: RandomNumberGenerator>(afterAttempt attempt: Int, using generator: inout R) -> Duration {
        let base = initialDelay.seconds * pow(multiplier, Double(max(0, attempt - 1)))
        let capped = min(base, maximumDelay.seconds)
        let spread = jitter > 0 ? Double.random(in: -jitter...jitter, using: &generator) : 0
        return .microseconds(Int64(max(0, capped * (1 + spread)) * 1_000_000))
    }

    public func delay(afterAttempt attempt: Int) -> Duration {
        var generator = SystemRandomNumberGenerator()
        return delay(afterAttempt: attempt, using: &generator)
    }
}
