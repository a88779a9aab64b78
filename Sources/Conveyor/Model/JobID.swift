/// The identity of a stored job. Stores assign ids in increasing order, so ids sort by
/// the time the job was accepted (FIFO within a priority).
public struct JobID: RawRepresentable, Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public var rawValue: Int64
    public init(rawValue: Int64) { self.rawValue = rawValue }
    public init(_ rawValue: Int64) { self.rawValue = rawValue }

    /// Parses the form printed by `description` (`"42"`).
    public init?(_ text: String) {
        guard let value = Int64(text.trimmingPrefix("#")), value > 0 else { return nil }
        self.rawValue = value
    }

    public var description: String { String(rawValue) }
    public static func < (lhs: JobID, rhs: JobID) -> Bool { lhs.rawValue < rhs.rawValue }

    public init(from decoder: any Decoder) throws {
        rawValue = try decoder.singleValueContainer().decode(Int64.self)
    }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
