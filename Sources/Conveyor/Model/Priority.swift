/// A job's priority, 0 to 9; higher runs first, FIFO within one priority.
public struct Priority: RawRepresentable, Hashable, Comparable, Sendable, Codable, ExpressibleByIntegerLiteral, CustomStringConvertible {
    public let rawValue: Int

    /// Clamps to 0...9 so that a stored priority is always valid.
    public init(rawValue: Int) { self.rawValue = min(9, max(0, rawValue)) }
    public init(integerLiteral value: Int) { self.init(rawValue: value) }

    public static let low: Priority = 2
    public static let normal: Priority = 5
    public static let high: Priority = 8

    /// Accepts `0`…`9` or the names `low`, `normal`, `high`.
    public init?(_ text: String) {
        switch text.lowercased() {
        case "low": self = .low
        case "normal", "default": self = .normal
        case "high": self = .high
        default:
            guard let value = Int(text), (0...9).contains(value) else { return nil }
            self.init(rawValue: value)
        }
    }

    public static func < (lhs: Priority, rhs: Priority) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { String(rawValue) }

    public init(from decoder: any Decoder) throws {
        self.init(rawValue: try decoder.singleValueContainer().decode(Int.self))
    }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
