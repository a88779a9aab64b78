import ArgumentParser
import Conveyor
import ConveyorIngest
import Foundation

extension ScheduleCommand {
    /// Opens the store as a schedule store (SQLite, Redis and the in-memory store are).
    static func store(_ options: StoreOptions, for command: String) throws -> any ScheduleStore & BatchStore {
        try options.open((any ScheduleStore & BatchStore).self, for: "schedule \(command)")
    }

    /// `conveyor schedule add`: stores a schedule (or, with --replace, changes one).
    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "add",
            abstract: "Store a schedule that enqueues a job (or, with --file, a batch of one job per key) on every slot.",
            discussion: """
                Examples:
                  conveyor schedule add osm-refresh --calendar 'monthly on day 1' --job tedi.check --payload '{"source":"osm"}'
                  conveyor schedule add export-weekly --calendar 'weekly on monday at 02:00' --tz Asia/Kolkata \\
                      --job conveyor.command --file hsn_codes.txt --overlap skip
                  conveyor schedule add sync --every 6h --job conveyor.echo --missed once --jitter 30s

                After downtime (--missed): skip fires only the next slot to come; once fires one job for all the \\
                slots missed; catchup:N fires each missed slot, at most N (catchup:N/24h: only those of the last \\
                24 hours). While the previous fire's jobs are unfinished (--overlap): allow fires anyway; skip \\
                records the slot as skipped; one queues one fire to start after them.
                """
        )

        @OptionGroup var storeOptions: StoreOptions

        @Argument(help: "The schedule's name, unique in the store.")
        var name: String

        @OptionGroup var when: RecurrenceOptions

        @Option(help: "The job name each fire enqueues, as registered with the workers (e.g. conveyor.command).")
        var job: String

        @Option(help: "The job's payload as JSON.")
        var payload: String?

        @Option(help: "A key file (TXT, or CSV with a header row): each fire enqueues one job per key, as one batch.")
        var file: String?

        @Option(help: "The CSV column holding the keys (default: the first).")
        var column: String?

        @Option(help: "The payload field each key is put in.")
        var keyField = "key"

        @OptionGroup var settings: JobSettings

        @Option(help: "After downtime: skip, once, catchup:N or catchup:N/WINDOW (e.g. catchup:10/24h).")
        var missed = "skip"

        @Option(help: "While the previous fire is unfinished: allow, skip or one.")
        var overlap = "allow"

        @Option(help: "Delay each fire by this schedule's own fixed share of this (e.g. 30s), to spread schedules that share a minute.")
        var jitter: DurationArgument?

        @Flag(help: "Store it paused: it fires nothing until `conveyor schedule resume`.")
        var paused = false

        @Flag(help: "Replace the schedule of this name if there is one (its slot record and history stay).")
        var replace = false

        @Flag(help: "Accept a job name this program does not register (its workers are another program).")
        var anyJob = false

        func validate() throws {
            if payload != nil && file != nil { throw ValidationError("use either --payload or --file, not both") }
            _ = try when.recurrence()
            _ = try Self.missedSlots(missed)
            _ = try Self.overlapPolicy(overlap)
        }

        static func missedSlots(_ text: String) throws -> Schedule.MissedSlots {
            let lower = text.lowercased()
            if lower == "skip" { return .skip }
            if lower == "once" { return .once }
            if lower.hasPrefix("catchup:") || lower.hasPrefix("catch-up:") {
                let rest = lower.drop(while: { $0 != ":" }).dropFirst()
                let parts = rest.split(separator: "/", maxSplits: 1).map(String.init)
                guard let first = parts.first, let limit = Int(first), limit >= 1 else {
                    throw ValidationError("--missed '\(text)': catchup needs a number of slots of at least 1, as in catchup:10 or catchup:10/24h")
                }
                var window: Duration?
                if parts.count == 2 {
                    guard let parsed = DurationArgument.parse(parts[1]), parsed > .zero else {
                        throw ValidationError("--missed '\(text)': '\(parts[1])' is not a window such as 24h or 7d")
                    }
                    window = parsed
                }
                return .catchUp(limit: limit, within: window)
            }
            throw ValidationError("--missed '\(text)' is not a policy: use skip, once, catchup:N or catchup:N/WINDOW")
        }

        static func overlapPolicy(_ text: String) throws -> Schedule.Overlap {
            switch text.lowercased() {
            case "allow": return .allow
            case "skip": return .skip
            case "one", "queue-one", "queueone": return .queueOne
            default: throw ValidationError("--overlap '\(text)' is not a policy: use allow, skip or one")
            }
        }

        func run() async throws {
            let store = try ScheduleCommand.store(storeOptions, for: "add")
            let queue = try settings.queue(for: job)
            func template(_ payload: Data) -> JobTemplate {
                JobTemplate(name: job, queue: queue, payload: payload, priority: settings.priorityValue, maxAttempts: settings.maxAttempts,
                            timeout: settings.timeout.duration, limitKeys: settings.limitKeys)
            }
            let target: Schedule.Target
            if let file {
                let keys = try KeyFile.load(contentsOf: file, format: column.map { .csv(column: $0) })
                guard keys.issues.isEmpty else {
                    let shown = keys.issues.prefix(5).map { "  bad \($0)" }.joined(separator: "\n")
                    throw CommandError("\(file): \(keys.issues.count) bad line(s); fix them before scheduling the file:\n\(shown)")
                }
                guard !keys.keys.isEmpty else { throw CommandError("\(file): no keys to schedule") }
                let encoder = JSONEncoder()
                target = .batch(name: "\(name): \(job) × \(URL(fileURLWithPath: file).lastPathComponent)",
                                jobs: try keys.keys.map { template(try encoder.encode([keyField: $0])) })
            } else {
                target = .job(template(try SubmitCommand.validatedJSON(payload ?? "{}")))
            }
            let schedule = Schedule(
                name: name, recurrence: try when.recurrence(), target: target, missed: try Self.missedSlots(missed),
                overlap: try Self.overlapPolicy(overlap), jitter: jitter?.duration, paused: paused)
            let known = Set(ConveyorCommand.registry.names + [BuiltinJobs.echo, BuiltinJobs.sleep, BuiltinJobs.command])
            do {
                try schedule.validate(knownJobNames: anyJob ? nil : known)
            } catch {
                throw CommandError(error.description + (anyJob ? "" : "; if another program's workers run it, add --any-job"))
            }
            guard let saved = try await store.saveSchedule(schedule, if: replace ? .always : .absent) else {
                throw CommandError("a schedule named '\(name)' exists; add --replace to change it, or `conveyor schedule remove \(name)` first")
            }
            let count = target.jobs.count
            print("Schedule '\(name)': \(schedule.recurrence), \(count == 1 ? "job \(job)" : "a batch of \(count) \(job) jobs") on queue '\(queue)'"
                  + (paused ? " (paused)" : ""))
            if let next = ScheduleCommand.nextFire(saved) {
                print("Next fire: \(ScheduleText.instant(next, zone: ScheduleText.zone(of: schedule.recurrence)))")
            } else if case .manual = schedule.recurrence.rule {
                print("Fires only on demand: conveyor schedule run-now \(name)")
            }
        }
    }

    /// `conveyor schedule list`: every stored schedule with its next and last fire.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List the stored schedules with their next fire, last fire and its outcome.")

        @OptionGroup var storeOptions: StoreOptions

        @Flag(help: "One JSON object per schedule, one per line.")
        var json = false

        @Option(help: "How many next fires to show per schedule (1-20).")
        var next = 1

        func validate() throws {
            guard (1...20).contains(next) else { throw ValidationError("--next must be 1-20, not \(next)") }
        }

        func run() async throws {
            let store = try ScheduleCommand.store(storeOptions, for: "list")
            let all = try await store.allSchedules()
            let circuits = try await ScheduleCommand.circuits(of: all, in: store)
            if json {
                for stored in all { print(try ScheduleCommand.json(stored, next: next, circuits: circuits)) }
                return
            }
            guard !all.isEmpty else {
                print("No schedules. Add one with: conveyor schedule add NAME --cron '0 6 * * *' --job JOBNAME")
                return
            }
            var rows = [["NAME", "WHEN", "STATE", next == 1 ? "NEXT FIRE" : "NEXT \(next) FIRES", "LAST FIRE", "OUTCOME", "CHECKS", "JOB"]]
            for stored in all {
                let schedule = stored.schedule
                let state = schedule.paused ? "paused" : (schedule.recurrence.rule == .manual ? "on demand" : "active")
                let last = stored.lastFire
                rows.append([
                    schedule.name, schedule.recurrence.description, state,
                    ScheduleCommand.nextFires(stored, count: next).map { ScheduleText.utc($0) }.joined(separator: ", ").nonEmpty ?? "-",
                    ScheduleText.utc(last?.firedAt), last?.outcome.rawValue ?? "-", ScheduleCommand.checksText(schedule, circuits),
                    last.map { ScheduleCommand.jobText($0) } ?? ScheduleCommand.targetText(schedule.target),
                ])
            }
            for line in ScheduleCommand.table(rows) { print(line) }
        }
    }

    /// `conveyor schedule show`: one schedule, its next fires and its fire history.
    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "Show a schedule: its definition, next fires and fire history.")

        @OptionGroup var storeOptions: StoreOptions
        @Argument(help: "The schedule's name.") var name: String
        @Option(help: "How many next fires to show (0-100).") var next = 10
        @Option(help: "How many past fires to show, newest first (0-100).") var history = 20

        func validate() throws {
            guard (0...100).contains(next) else { throw ValidationError("--next must be 0-100, not \(next)") }
            guard (0...100).contains(history) else { throw ValidationError("--history must be 0-100, not \(history)") }
        }

        func run() async throws {
            let store = try ScheduleCommand.store(storeOptions, for: "show")
            guard let stored = try await store.schedule(named: name) else { throw ConveyorError.scheduleNotFound(name) }
            let schedule = stored.schedule
            let zone = ScheduleText.zone(of: schedule.recurrence)
            print("Schedule '\(schedule.name)' (version \(stored.version))")
            print("  when:     \(schedule.recurrence)" + (schedule.paused ? ", paused" : ""))
            print("  enqueues: \(ScheduleCommand.targetText(schedule.target))")
            print("  missed:   \(ScheduleCommand.missedText(schedule.missed)); overlap: \(ScheduleCommand.overlapText(schedule.overlap))"
                  + (schedule.jitter.map { "; jitter up to \($0.formatted)" } ?? ""))
            print("  stored:   \(ScheduleText.utc(stored.createdAt)), changed \(ScheduleText.utc(stored.updatedAt))")
            print("  last slot fired: \(ScheduleText.utc(stored.lastSlot))")
            if next > 0 {
                if schedule.paused {
                    print("Next fires: none while paused (resume: conveyor schedule resume \(name))")
                } else if case .manual = schedule.recurrence.rule {
                    print("Next fires: on demand only (conveyor schedule run-now \(name))")
                } else {
                    let start = [stored.lastSlot, Date()].compactMap { $0 }.max() ?? Date()
                    print("Next fires:")
                    for slot in schedule.recurrence.slots(after: start, count: next) {
                        print("  " + ScheduleText.instant(schedule.fireTime(for: slot), zone: zone))
                    }
                }
            }
            if history > 0 {
                let fires = try await store.fireHistory(of: name, limit: history)
                if fires.isEmpty {
                    print("History: no fires yet")
                } else {
                    var rows = [["SLOT", "FIRED AT", "OUTCOME", "JOBS"]]
                    for fire in fires {
                        rows.append([ScheduleText.utc(fire.slot), ScheduleText.utc(fire.firedAt), fire.outcome.rawValue, ScheduleCommand.jobText(fire)])
                    }
                    print("History (newest first):")
                    for line in ScheduleCommand.table(rows) { print("  " + line) }
                }
            }
        }
    }

    struct Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "pause", abstract: "Stop a schedule from firing (its definition and history stay).")
        @OptionGroup var storeOptions: StoreOptions
        @Argument(help: "The schedule's name.") var name: String

        func run() async throws {
            let store = try ScheduleCommand.store(storeOptions, for: "pause")
            try await store.updateSchedule(name) { $0.paused = true }
            print("Paused schedule '\(name)'. Undo with: conveyor schedule resume \(name)")
        }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "resume", abstract: "Let a paused schedule fire again; the slots it missed are handled by its missed-slot policy.")
        @OptionGroup var storeOptions: StoreOptions
        @Argument(help: "The schedule's name.") var name: String

        func run() async throws {
            let store = try ScheduleCommand.store(storeOptions, for: "resume")
            let saved = try await store.updateSchedule(name) { $0.paused = false }
            print("Resumed schedule '\(name)'" + (ScheduleCommand.nextFire(saved).map { "; next fire \(ScheduleText.utc($0))" } ?? ""))
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "remove", abstract: "Delete a schedule. Jobs it enqueued stay; its slot record stays, so adding it again never re-fires a slot.")
        @OptionGroup var storeOptions: StoreOptions
        @Argument(help: "The schedule's name.") var name: String

        func run() async throws {
            let store = try ScheduleCommand.store(storeOptions, for: "remove")
            guard try await store.removeSchedule(named: name, if: .always) else { throw ConveyorError.scheduleNotFound(name) }
            print("Removed schedule '\(name)'")
        }
    }

    struct RunNow: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "run-now", abstract: "Enqueue a schedule's jobs now, outside its slots (paused and on-demand schedules too).")
        @OptionGroup var storeOptions: StoreOptions
        @Argument(help: "The schedule's name.") var name: String

        func run() async throws {
            let store = try ScheduleCommand.store(storeOptions, for: "run-now")
            let made = try await store.runScheduleNow(name)
            if made.count == 1 {
                print("Ran schedule '\(name)' now: job \(made[0].id)")
            } else {
                print("Ran schedule '\(name)' now: \(made.count) jobs" + (made.first.map { ", from job \($0.id)" } ?? ""))
            }
        }
    }

    // MARK: Text

    /// When the stored schedule fires next (its jitter included): the next slot after the last
    /// one fired and after now. (The store's next-fire index says when the scheduler looks at
    /// it, which for a schedule just stored is at once.)
    static func nextFire(_ stored: StoredSchedule, now: Date = Date()) -> Date? {
        nextFires(stored, count: 1, now: now).first
    }

    /// The next `count` fires of the stored schedule (none while paused or for an on-demand one).
    static func nextFires(_ stored: StoredSchedule, count: Int, now: Date = Date()) -> [Date] {
        let schedule = stored.schedule
        guard !schedule.paused else { return [] }
        let after = [stored.lastSlot, stored.createdAt, now].compactMap { $0 }.max() ?? now
        return schedule.recurrence.slots(after: after, count: count).map { schedule.fireTime(for: $0) }
    }

    static func targetText(_ target: Schedule.Target) -> String {
        switch target {
        case .job(let job): "\(job.name) on '\(job.queue)'"
        case .batch(_, let jobs): "a batch of \(jobs.count) \(jobs.first?.name ?? "") job(s) on '\(jobs.first?.queue ?? "default")'"
        }
    }

    static func jobText(_ fire: ScheduleFireRecord) -> String {
        guard let first = fire.firstJob else { return fire.batchID.map { "batch \($0)" } ?? "-" }
        if fire.jobCount > 1 { return "\(fire.jobCount) jobs from \(first)" + (fire.batchID.map { ", batch \($0)" } ?? "") }
        return "job \(first)"
    }

    static func missedText(_ missed: Schedule.MissedSlots) -> String {
        switch missed {
        case .skip: "skip"
        case .once: "once"
        case .catchUp(let limit, let within): "catch up at most \(limit)" + (within.map { " within \($0.formatted)" } ?? "")
        }
    }

    static func overlapText(_ overlap: Schedule.Overlap) -> String {
        switch overlap {
        case .allow: "allow"
        case .skip: "skip"
        case .queueOne: "queue one"
        }
    }

    static func table(_ rows: [[String]]) -> [String] {
        guard let columns = rows.first?.count else { return [] }
        let widths = (0..<columns).map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { index, cell in
                index == columns - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
    }

    /// The circuits of the keys every job of these schedules carries (their source checks),
    /// on stores that keep circuits.
    static func circuits(of schedules: [StoredSchedule], in store: any ScheduleStore) async throws -> [String: CircuitState] {
        guard let flow = store as? any FlowControlStore else { return [:] }
        let keys = Set(schedules.flatMap { $0.schedule.target.sharedLimitKeys })
        guard !keys.isEmpty else { return [:] }
        var states: [String: CircuitState] = [:]
        for chunk in keys.sorted().chunks(ofCount: 1000) {
            for state in try await flow.circuitStates(Array(chunk)) { states[state.key] = state }
        }
        return states
    }

    /// A source check's state: `on`, or `off` with the key whose circuit holds it back, and
    /// the failures in a row; `-` for a schedule without limit keys.
    static func checksText(_ schedule: Schedule, _ circuits: [String: CircuitState]) -> String {
        let states = schedule.target.sharedLimitKeys.compactMap { circuits[$0] }
        guard !states.isEmpty else { return "-" }
        if let held = states.first(where: { $0.holdsJobs(at: Date()) }) {
            return "off: \(held.key) \(held.phase)" + (held.consecutiveFailures > 0 ? ", \(held.consecutiveFailures) failures in a row" : "")
        }
        let failures = states.map(\.consecutiveFailures).max() ?? 0
        return failures > 0 ? "on, \(failures) failures in a row" : "on"
    }

    static func json(_ stored: StoredSchedule, next: Int = 1, circuits: [String: CircuitState] = [:]) throws -> String {
        let schedule = stored.schedule
        var object: [String: Any] = [
            "name": schedule.name, "when": schedule.recurrence.description, "paused": schedule.paused,
            "version": stored.version, "jobs": schedule.target.jobs.count, "job": schedule.target.jobs.first?.name ?? "",
            "queue": schedule.target.jobs.first?.queue ?? "default",
        ]
        let fires = nextFires(stored, count: next)
        if let first = fires.first { object["nextFire"] = ScheduleText.utc(first) }
        if next > 1 { object["nextFires"] = fires.map { ScheduleText.utc($0) } }
        if let slot = stored.lastSlot { object["lastSlot"] = ScheduleText.utc(slot) }
        if let last = stored.lastFire {
            var fire: [String: Any] = ["slot": ScheduleText.utc(last.slot), "firedAt": ScheduleText.utc(last.firedAt), "outcome": last.outcome.rawValue,
                                       "jobCount": last.jobCount]
            if let job = last.firstJob { fire["firstJob"] = job.description }
            if let batch = last.batchID { fire["batch"] = batch }
            object["lastFire"] = fire
        }
        let states = schedule.target.sharedLimitKeys.compactMap { circuits[$0] }
        if !states.isEmpty {
            object["checks"] = [
                "enabled": !schedule.paused && !states.contains { $0.holdsJobs(at: Date()) },
                "circuits": states.map { state -> [String: Any] in
                    var circuit: [String: Any] = ["key": state.key, "phase": "\(state.phase)", "consecutiveFailures": state.consecutiveFailures]
                    if let reliability = state.reliability { circuit["reliability"] = reliability }
                    return circuit
                },
            ]
        }
        return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }
}

extension String {
    /// `nil` for the empty string.
    fileprivate var nonEmpty: String? { isEmpty ? nil : self }
}
