import ArgumentParser
import Conveyor
import Foundation

/// `conveyor schedule`: when schedules fire. (Storing schedules comes with the scheduler.)
struct ScheduleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule",
        abstract: "Check a schedule's expression and see when it fires.",
        subcommands: [Next.self]
    )

    /// `conveyor schedule next`: the next fire times of a cron expression, calendar phrase or
    /// interval, in UTC and in the schedule's zone; a bad one is named with what is allowed.
    struct Next: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "next",
            abstract: "Print the next fire times of a cron expression, a calendar phrase or an interval.",
            discussion: """
                Wall-clock schedules follow these rules when clocks change: a local time that does not exist fires
                once at the end of the gap; a local time that occurs twice fires at its first occurrence.
                """
        )

        @Option(help: ArgumentHelp("A cron expression: 5 fields, or 6 with seconds first; names, ranges, steps, lists, L and # (MON#3).", valueName: "expression"))
        var cron: String?

        @Option(help: ArgumentHelp("A calendar phrase: 'daily at 06:00', 'weekly on monday', 'monthly on the last day', 'quarterly', 'annually on 03-31'.", valueName: "phrase"))
        var calendar: String?

        @Option(help: "An interval between fires (e.g. 6h), counted from --from.")
        var every: DurationArgument?

        @Option(help: "The interval's first fire, ISO 8601 (default 1970-01-01T00:00:00Z).")
        var from: String?

        @Option(help: "The IANA time zone of a cron expression or calendar phrase.")
        var tz = "UTC"

        @Option(help: "Fires after this instant, ISO 8601 (default: now).")
        var after: String?

        @Option(help: "How many fires to print (1-1000).")
        var count = 10

        func validate() throws {
            guard [cron != nil, calendar != nil, every != nil].filter({ $0 }).count == 1 else {
                throw ValidationError("give exactly one of --cron, --calendar and --every")
            }
            guard (1...1000).contains(count) else { throw ValidationError("--count must be 1-1000, not \(count)") }
            _ = try recurrence()
            _ = try Self.instant(after, option: "--after")
        }

        func recurrence() throws -> Recurrence {
            do {
                if let cron { return try Recurrence.cron(cron, timeZone: tz) }
                if let calendar { return try Recurrence.calendar(calendar, timeZone: tz) }
                let anchor = try Self.instant(from, option: "--from") ?? Date(timeIntervalSince1970: 0)
                return try Recurrence.interval(every: every!.duration, anchor: anchor)
            } catch let error as ScheduleError {
                throw ValidationError(error.description)
            }
        }

        static func instant(_ text: String?, option: String) throws -> Date? {
            guard let text else { return nil }
            guard let date = ISO8601DateFormatter().date(from: text) else {
                throw ValidationError("\(option) '\(text)' is not an ISO 8601 instant such as 2026-12-01T06:00:00Z")
            }
            return date
        }

        func run() throws {
            let recurrence = try recurrence()
            let start = try Self.instant(after, option: "--after") ?? Date()
            let slots = recurrence.slots(after: start, count: count)
            let zone: TimeZone? = switch recurrence.rule {
            case .cron(_, let zone), .calendar(_, let zone): zone
            default: nil
            }
            print("\(recurrence)")
            if slots.isEmpty { print("No fire after \(ISO8601DateFormatter().string(from: start)).") }
            let utc = ISO8601DateFormatter()
            let local = DateFormatter()
            local.locale = Locale(identifier: "en_US_POSIX")
            local.dateFormat = "EEE yyyy-MM-dd HH:mm:ss"
            for slot in slots {
                if let zone, zone.identifier != "GMT", zone.identifier != "UTC" {
                    local.timeZone = zone
                    print("\(utc.string(from: slot))  \(local.string(from: slot)) \(zone.identifier)")
                } else {
                    print(utc.string(from: slot))
                }
            }
        }
    }
}
