import ArgumentParser
import Foundation
import Conveyor

/// A duration on the command line: `250ms`, `30s`, `5m`, `2h`, `7d`, or plain seconds.
public struct DurationArgument: ExpressibleByArgument, Sendable, Hashable, CustomStringConvertible {
    public var duration: Duration

    public init(_ duration: Duration) { self.duration = duration }

    public init?(argument: String) {
        guard let duration = Self.parse(argument) else { return nil }
        self.duration = duration
    }

    public static func parse(_ text: String) -> Duration? {
        let text = text.trimmingCharacters(in: .whitespaces).lowercased()
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400)]
        for (suffix, scale) in units where text.hasSuffix(suffix) {
            guard let value = Double(text.dropLast(suffix.count)), value >= 0 else { return nil }
            return .microseconds(Int64(value * scale * 1_000_000))
        }
        guard let seconds = Double(text), seconds >= 0 else { return nil }
        return .microseconds(Int64(seconds * 1_000_000))
    }

    public var description: String { duration.formatted }
    public var defaultValueDescription: String { duration.formatted }
}
