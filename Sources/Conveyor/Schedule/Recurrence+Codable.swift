import Foundation

/// Stored as its source text and fields, re-parsed and re-validated on decode:
/// `{"kind":"cron","expression":"0 6 * * MON-FRI","timeZone":"Europe/Berlin"}`,
/// `{"kind":"calendar","phrase":"daily at 06:00","timeZone":"UTC"}`,
/// `{"kind":"interval","everySeconds":21600,"anchor":1767225600}` (anchor in Unix seconds),
/// `{"kind":"manual"}`. Decoding an invalid one throws `DecodingError.dataCorrupted` whose
/// description is the ``ScheduleError`` message.
extension Recurrence: Codable {
    private enum CodingKeys: String, CodingKey {
        case kind, expression, phrase, timeZone, everySeconds, anchor
    }

    private enum Kind: String, Codable {
        case interval, cron, calendar, manual
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let kind = try container.decode(Kind.self, forKey: .kind)
        do {
            switch kind {
            case .interval:
                let seconds = try container.decode(Int64.self, forKey: .everySeconds)
                let anchor = try container.decode(Int64.self, forKey: .anchor)
                self = try .interval(every: .seconds(seconds), anchor: Date(wholeSecondsSince1970: anchor))
            case .cron:
                self = try .cron(
                    container.decode(String.self, forKey: .expression),
                    timeZone: container.decode(String.self, forKey: .timeZone))
            case .calendar:
                self = try .calendar(
                    container.decode(String.self, forKey: .phrase),
                    timeZone: container.decode(String.self, forKey: .timeZone))
            case .manual:
                self = .manual
            }
        } catch let error as ScheduleError {
            throw DecodingError.dataCorrupted(
                DecodingError.Context(
                    codingPath: decoder.codingPath, debugDescription: error.description, underlyingError: error))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch rule {
        case let .interval(every, anchor):
            try container.encode(Kind.interval, forKey: .kind)
            try container.encode(every.components.seconds, forKey: .everySeconds)
            try container.encode(anchor.wholeSecondsSince1970 ?? 0, forKey: .anchor)
        case let .cron(expression, zone):
            try container.encode(Kind.cron, forKey: .kind)
            try container.encode(expression.source, forKey: .expression)
            try container.encode(zone.scheduleIdentifier, forKey: .timeZone)
        case let .calendar(frequency, zone):
            try container.encode(Kind.calendar, forKey: .kind)
            try container.encode(frequency.phrase, forKey: .phrase)
            try container.encode(zone.scheduleIdentifier, forKey: .timeZone)
        case .manual:
            try container.encode(Kind.manual, forKey: .kind)
        }
    }
}
