import ArgumentParser
import Conveyor
import Foundation

/// `conveyor schedule`: stored schedules (add, list, show, pause, resume, remove, run-now) and
/// when an expression fires (`next`).
struct ScheduleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule",
        abstract: "Store schedules that enqueue jobs on their slots, change them at run time, and see when they fire.",
        discussion: """
            Workers fire the store's schedules: every `conveyor worker` runs a scheduler (unless --no-scheduler), \
            one of them leads through the store's leader lease and the others take over within a few seconds \
            when it dies. Each slot fires exactly once: the slot is recorded with its jobs in one atomic step.
            """,
        subcommands: [Add.self, List.self, Show.self, Pause.self, Resume.self, Remove.self, RunNow.self, Next.self]
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

        @OptionGroup var when: RecurrenceOptions

        @Option(help: "Fires after this instant, ISO 8601 (default: now).")
        var after: String?

        @Option(help: "How many fires to print (1-1000).")
        var count = 10

        func validate() throws {
            guard !when.manual else { throw ValidationError("an on-demand (--manual) schedule has no fire times to show") }
            guard (1...1000).contains(count) else { throw ValidationError("--count must be 1-1000, not \(count)") }
            _ = try when.recurrence()
            _ = try RecurrenceOptions.instant(after, option: "--after")
        }

        func run() throws {
            let recurrence = try when.recurrence()
            let start = try RecurrenceOptions.instant(after, option: "--after") ?? Date()
            let slots = recurrence.slots(after: start, count: count)
            let zone = ScheduleText.zone(of: recurrence)
            print("\(recurrence)")
            if slots.isEmpty { print("No fire after \(ISO8601DateFormatter().string(from: start)).") }
            for slot in slots { print(ScheduleText.instant(slot, zone: zone)) }
        }
    }
}

/// When a schedule fires, on the command line: exactly one of --cron, --calendar, --every
/// (with --from) and, for `add`, --manual.
struct RecurrenceOptions: ParsableArguments {
    @Option(help: ArgumentHelp("A cron expression: 5 fields, or 6 with seconds first; names, ranges, steps, lists, L and # (MON#3).", valueName: "expression"))
    var cron: String?

    @Option(help: ArgumentHelp("A calendar phrase: 'daily at 06:00', 'weekly on monday', 'monthly on the last day', 'quarterly', 'annually on 03-31'.", valueName: "phrase"))
    var calendar: String?

    @Option(help: "An interval between fires (e.g. 6h), counted from --from.")
    var every: DurationArgument?

    @Option(help: "The interval's first fire, ISO 8601 (default 1970-01-01T00:00:00Z, so 6h fires at 00:00, 06:00, … UTC).")
    var from: String?

    @Flag(help: "On demand only (\"on event\"): fires only with `conveyor schedule run-now`.")
    var manual = false

    @Option(help: "The IANA time zone of a cron expression or calendar phrase.")
    var tz = "UTC"

    func recurrence() throws -> Recurrence {
        guard [cron != nil, calendar != nil, every != nil, manual].filter({ $0 }).count == 1 else {
            throw ValidationError("give exactly one of --cron, --calendar, --every and --manual")
        }
        do {
            if let cron { return try Recurrence.cron(cron, timeZone: tz) }
            if let calendar { return try Recurrence.calendar(calendar, timeZone: tz) }
            if manual { return .manual }
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
}

/// How schedules' times read on the command line.
enum ScheduleText {
    /// UTC, and the local time when the zone is another.
    static func instant(_ date: Date, zone: TimeZone?) -> String {
        let utc = ISO8601DateFormatter().string(from: date)
        guard let zone, zone.identifier != "GMT", zone.identifier != "UTC" else { return utc }
        let local = DateFormatter()
        local.locale = Locale(identifier: "en_US_POSIX")
        local.dateFormat = "EEE yyyy-MM-dd HH:mm:ss"
        local.timeZone = zone
        return "\(utc)  \(local.string(from: date)) \(zone.identifier)"
    }

    static func utc(_ date: Date?) -> String {
        date.map { ISO8601DateFormatter().string(from: $0) } ?? "-"
    }

    static func zone(of recurrence: Recurrence) -> TimeZone? {
        switch recurrence.rule {
        case .cron(_, let zone), .calendar(_, let zone): zone
        default: nil
        }
    }
}
