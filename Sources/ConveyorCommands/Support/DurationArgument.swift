import ArgumentParser
import Foundation
import Conveyor

/// A duration on the command line: `250ms`, `30s`, `5m`, `2h`, `7d`, or plain seconds.
///
/// ```swift
/// try DurationArgument(parsing: "1.5m").duration   // 90 seconds
/// try DurationArgument(parsing: "inf")              // throws DurationArgument.Error.notFinite("inf")
/// ```
public struct DurationArgument: ExpressibleByArgument, Sendable, Hashable, CustomStringConvertible {
    public enum Error: Swift.Error, CustomStringConvertible, Equatable {
        case notADuration(String)
        case negative(String)
        case notFinite(String)
        case tooLong(String)

        public var description: String {
            switch self {
            case .notADuration(let text): "'\(text)' is not a duration: use a number with ms, s, m, h or d (e.g. 250ms, 30s, 7d)"
            case .negative(let text): "'\(text)' is negative: a duration is zero or more"
            case .notFinite(let text): "'\(text)' is not a finite duration: use a number with ms, s, m, h or d (e.g. 30s, 7d)"
            case .tooLong(let text): "'\(text)' is too long: a duration is at most about 292,000 years"
            }
        }
    }

    public var duration: Duration

    public init(_ duration: Duration) { self.duration = duration }

    public init(parsing text: String) throws(Error) {
        duration = try Self.parsing(text)
    }

    /// ArgumentParser reports a `nil` as "the value '…' is invalid for '--option'".
    public init?(argument: String) {
        guard let duration = Self.parse(argument) else { return nil }
        self.duration = duration
    }

    /// `nil` for text that is not a duration; ``init(parsing:)`` says why.
    public static func parse(_ text: String) -> Duration? {
        try? parsing(text)
    }

    private static func parsing(_ original: String) throws(Error) -> Duration {
        let text = original.trimmingCharacters(in: .whitespaces).lowercased()
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
        let (number, scale) = units.first { text.hasSuffix($0.0) }.map { (text.dropLast($0.0.count), $0.1) } ?? (Substring(text), 1)
        // `Double` also reads "inf", "infinity" and "nan", which are no durations.
        guard let value = Double(number) else { throw .notADuration(original) }
        guard !value.isNaN else { throw .notADuration(original) }
        guard value.isFinite else { throw .notFinite(original) }
        guard value >= 0 else { throw .negative(original) }
        let microseconds = value * scale * 1_000_000
        // Double(Int64.max) is 2^63, the first value that does not fit.
        guard microseconds < Double(Int64.max) else { throw .tooLong(original) }
        return .microseconds(Int64(microseconds))
    }

    public var description: String { duration.formatted }
    public var defaultValueDescription: String { duration.formatted }
}
