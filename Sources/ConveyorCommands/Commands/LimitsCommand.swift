import ArgumentParser
import Conveyor
import Foundation

/// `conveyor limits`: rate and concurrency limits per limit key, stored in the store and
/// enforced by it inside every claim.
struct LimitsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "limits",
        abstract: "Show, set and remove rate and concurrency limits and circuit breakers per limit key (host:api.example.org, tenant:42, host:*).",
        discussion: """
            A job counts against the limit keys it was enqueued with (conveyor submit --limit-key, \
            or a job type's limitKeys). A rule names a key, a prefix ending in ':*' (each such key \
            limited on its own) or '*'. Workers on every machine share each limit through the store. \
            A breaker (--breaker 5) opens a key after that many failures in a row: conveyor circuits \
            shows and changes the circuits.
            """,
        subcommands: [ListLimits.self, SetLimit.self, RemoveLimit.self, ShowLimitKeys.self],
        defaultSubcommand: ListLimits.self
    )
}

extension LimitsCommand {
    struct ListLimits: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List the limit rules (and the state of keys that have a rule of their own).")
        @OptionGroup var storeOptions: StoreOptions
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let store = try storeOptions.open((any FlowControlStore).self, for: "limits")
            let rules = try await store.limitRules()
            let exact = rules.map(\.pattern).filter { !$0.hasSuffix("*") }
            let states = try await store.limitStates(exact)
            if json {
                try printJSON(rules.map { rule in
                    LimitRuleJSON(rule, state: states.first { $0.key == rule.pattern })
                })
                return
            }
            guard !rules.isEmpty else {
                print("No limit rules. Add one with: conveyor limits set host:api.example.org --rate 5/s")
                return
            }
            print(LimitsCommand.table(rules, states))
        }
    }

    struct SetLimit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set", abstract: "Set the limits of a key, a prefix (host:*) or every key (*), replacing what it had.")
        @OptionGroup var storeOptions: StoreOptions
        @Argument(help: "The key (host:api.example.org), prefix (host:*) or '*'.") var pattern: String
        @Option(help: ArgumentHelp("At most COUNT starts per PERIOD, shared by every worker: 5/s, 100/min, 2/500ms, 10/2s, 1000/h, 3/day.", valueName: "rate"))
        var rate: String?
        @Option(help: "Starts allowed at once after an idle spell (with --rate; default 1: no window of the period holds more than COUNT).")
        var burst: Int?
        @Flag(help: "With --rate: a sliding window of the last COUNT starts (up to COUNT at once, never more than COUNT in any PERIOD).")
        var slidingWindow = false
        @Option(help: "At most this many of the key's jobs running at once across the fleet.") var concurrency: Int?
        @Option(help: ArgumentHelp("A circuit breaker: open the key after this many failures in a row (its jobs wait, spending no attempt).", valueName: "failures"))
        var breaker: Int?
        @Option(help: ArgumentHelp("With --breaker: also open when this share of the last --window outcomes failed (50%, 0.5).", valueName: "share"))
        var failureRate: String?
        @Option(help: "With --breaker: the outcomes the failure rate and the reliability score look at (1-100, default 20).")
        var window: Int?
        @Option(help: "With --breaker: how long the key stays open before one probe job goes (default 30s; 'never': until closed or reset by hand).")
        var coolDown: String?
        @Option(help: "With --breaker: once closed again, the held jobs go this many at a time (default 10)…") var wave: Int?
        @Option(help: "…one wave per this long (default 1s).") var waveInterval: DurationArgument?

        func validate() throws {
            if burst != nil && rate == nil { throw ValidationError("--burst goes with --rate") }
            if slidingWindow && rate == nil { throw ValidationError("--sliding-window goes with --rate (for example: --rate 100/min --sliding-window)") }
            if breaker == nil && (failureRate != nil || window != nil || coolDown != nil || wave != nil || waveInterval != nil) {
                throw ValidationError("--failure-rate, --window, --cool-down, --wave and --wave-interval go with --breaker (for example: --breaker 5 --cool-down 1m)")
            }
            if rate == nil && concurrency == nil && breaker == nil {
                throw ValidationError("give --rate, --concurrency, --breaker or several (for example: --rate 5/s --burst 10)")
            }
            if let problem = LimitKey.problem(withPattern: pattern) { throw ValidationError(problem) }
        }

        func run() async throws {
            let settings: LimitSettings
            do {
                settings = LimitSettings(rate: try rate.map { try RateLimit(parsing: $0, burst: burst ?? 1, sliding: slidingWindow) },
                                         concurrency: try concurrency.map { try ConcurrencyLimit($0) },
                                         circuit: try breaker.map { failures in
                                             try CircuitBreaker(failures: failures, failureRate: try failureRate.map(Self.share), window: window ?? 20,
                                                                coolDown: try coolDown.map(Self.coolDown) ?? .seconds(30), wave: wave ?? 10,
                                                                waveInterval: waveInterval?.duration ?? .seconds(1))
                                         })
            } catch let error as ConveyorError {
                throw ValidationError(error.description)
            }
            let store = try storeOptions.open((any FlowControlStore).self, for: "limits set")
            try await store.setLimit(pattern, settings)
            print("Limit '\(pattern)': \(settings). Workers apply it from their next claim.")
        }

        /// A cool-down: a duration, or `never` (until reset by hand).
        static func coolDown(_ text: String) throws -> Duration {
            if text.lowercased() == "never" { return CircuitBreaker.untilReset }
            do {
                return try DurationArgument(parsing: text).duration
            } catch {
                throw ConveyorError.invalidLimit("a cool-down of '\(text)': \(error); or 'never' (until reset by hand)")
            }
        }

        /// A share: `50%` or `0.5`.
        static func share(_ text: String) throws -> Double {
            let trimmed = text.trimmingCharacters(in: .whitespaces)
            let percent = trimmed.hasSuffix("%")
            guard let value = Double(percent ? String(trimmed.dropLast()) : trimmed), value.isFinite else {
                throw ConveyorError.invalidLimit("a failure rate of '\(text)': give a share like 50% or 0.5")
            }
            let share = percent ? value / 100 : value
            guard share > 0 && share <= 1 else {
                throw ConveyorError.invalidLimit("a failure rate of '\(text)': it must be above 0% and at most 100% (like 50% or 0.5)")
            }
            return share
        }
    }

    struct RemoveLimit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "remove", abstract: "Remove a limit rule.")
        @OptionGroup var storeOptions: StoreOptions
        @Argument(help: "The rule's key, prefix or '*'.") var pattern: String

        func run() async throws {
            let store = try storeOptions.open((any FlowControlStore).self, for: "limits remove")
            guard try await store.removeLimit(pattern) else {
                let known = try await store.limitRules().map(\.pattern)
                throw ValidationError("no limit rule '\(pattern)' in this store" + (known.isEmpty ? "" : " (rules: \(known.joined(separator: ", ")))"))
            }
            print("Removed limit '\(pattern)'.")
        }
    }

    struct ShowLimitKeys: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "Show keys now: their rule, running and held-back jobs, next start, the upstream's wait.")
        @OptionGroup var storeOptions: StoreOptions
        @Argument(help: "Limit keys.") var keys: [String]
        @Flag(help: "Print JSON.") var json = false

        func validate() throws {
            if keys.isEmpty { throw ValidationError("name one or more limit keys (like host:api.example.org)") }
            for key in keys { if let problem = LimitKey.problem(with: key) { throw ValidationError(problem) } }
        }

        func run() async throws {
            let store = try storeOptions.open((any FlowControlStore).self, for: "limits show")
            let states = try await store.limitStates(keys)
            if json {
                try printJSON(states.map(LimitStateJSON.init))
                return
            }
            let rules = try await store.limitRules()
            var rows = [["KEY", "RULE", "LIMITS", "RUNNING", "HELD", "NEXT START", "WAITING UNTIL"]]
            for state in states {
                let rule = rules.first { $0.pattern == state.rule }
                rows.append([state.key, state.rule ?? "-", rule.map { "\($0.settings)" } ?? "-", "\(state.active)", "\(state.waiting)",
                             state.nextStart.map { ScheduleText.utc($0) } ?? "now", ScheduleText.utc(state.blockedUntil)])
            }
            for line in ScheduleCommand.table(rows) { print(line) }
        }
    }

    static func table(_ rules: [LimitRule], _ states: [LimitKeyState]) -> String {
        var rows = [["RULE", "RATE", "CONCURRENCY", "BREAKER", "RUNNING", "HELD", "UPDATED"]]
        for rule in rules {
            let state = states.first { $0.key == rule.pattern }
            rows.append([
                rule.pattern, rule.settings.rate.map { "\($0)" } ?? "-", rule.settings.concurrency.map { "\($0.maximum)" } ?? "-",
                rule.settings.circuit.map(CircuitsCommand.brief) ?? "-",
                state.map { "\($0.active)" } ?? "-", state.map { "\($0.waiting)" } ?? "-", ScheduleText.utc(rule.updatedAt),
            ])
        }
        return ScheduleCommand.table(rows).joined(separator: "\n")
    }
}

/// One JSON object per line, as `conveyor schedule list --json` prints.
func printJSON<T: Encodable>(_ values: [T]) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .iso8601
    for value in values { print(String(decoding: try encoder.encode(value), as: UTF8.self)) }
}

struct LimitRuleJSON: Encodable {
    var pattern: String
    var rate: String?
    var burst: Int?
    var sliding: Bool?
    var concurrency: Int?
    var breaker: BreakerJSON?
    var updatedAt: Date
    var state: LimitStateJSON?

    init(_ rule: LimitRule, state: LimitKeyState?) {
        pattern = rule.pattern
        rate = rule.settings.rate.map { "\($0.count)/\($0.periodText)" }
        burst = rule.settings.rate?.burst
        sliding = rule.settings.rate?.sliding == true ? true : nil
        concurrency = rule.settings.concurrency?.maximum
        breaker = rule.settings.circuit.map(BreakerJSON.init)
        updatedAt = rule.updatedAt
        self.state = state.map(LimitStateJSON.init)
    }
}

struct LimitStateJSON: Encodable {
    var key: String
    var rule: String?
    var running: Int
    var held: Int
    var nextStart: Date?
    var waitingUntil: Date?

    init(_ state: LimitKeyState) {
        key = state.key; rule = state.rule; running = state.active; held = state.waiting
        nextStart = state.nextStart; waitingUntil = state.blockedUntil
    }
}
