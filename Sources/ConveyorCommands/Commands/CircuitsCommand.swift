import ArgumentParser
import Conveyor
import Foundation

/// `conveyor circuits`: each key's circuit breaker, its reliability score and history, and
/// opening, closing or resetting it by hand.
struct CircuitsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "circuits",
        abstract: "Show circuit breakers per limit key with their reliability score and history; open, close or reset one by hand.",
        discussion: """
            A rule with a breaker (conveyor limits set source:* --breaker 5) opens a key after that \
            many failures in a row; its jobs wait without spending attempts, one probe goes after the \
            cool-down, and its success lets the held jobs go in waves. Any key can be opened by hand.
            """,
        subcommands: [List.self, Show.self, Open.self, Close.self, Reset.self],
        defaultSubcommand: List.self
    )

    /// A breaker in a few words, for tables.
    static func brief(_ breaker: CircuitBreaker) -> String {
        var text = "\(breaker.failures) in a row"
        if let rate = breaker.failureRate { text += " or \(CircuitBreaker.percent(rate)) of \(breaker.window)" }
        return text + (breaker.staysOpenUntilReset ? ", until reset" : ", \(breaker.coolDown.formatted) cool-down")
    }

    static func score(_ state: CircuitState) -> String {
        guard let reliability = state.reliability else { return "-" }
        return "\(Int((reliability * 100).rounded()))% of \(state.recentOutcomes)"
    }

    static func decayed(_ state: CircuitState) -> String {
        state.decayedScore.map { "\(Int(($0 * 100).rounded()))%" } ?? "-"
    }

    static func phase(_ state: CircuitState) -> String {
        switch state.phase {
        case .open: state.openUntil.map { "open until \(ScheduleText.utc($0))" } ?? "open"
        case .halfOpen: state.probe.map { "half-open (probe job \($0))" } ?? "half-open"
        default: state.phase.description
        }
    }

    static func table(_ states: [CircuitState]) -> String {
        var rows = [["KEY", "CIRCUIT", "FAILURES IN A ROW", "RELIABILITY", "DECAYED", "RULE", "CHANGED"]]
        for state in states {
            rows.append([state.key, phase(state), "\(state.consecutiveFailures)", score(state), decayed(state), state.rule ?? "-",
                         state.changedAt.map { ScheduleText.utc($0) } ?? "-"])
        }
        return ScheduleCommand.table(rows).joined(separator: "\n")
    }

    static func validKey(_ key: String) throws {
        if let problem = LimitKey.problem(with: key) { throw ValidationError(problem) }
    }
}

extension CircuitsCommand {
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List keys with a circuit, in key order.")
        @OptionGroup var storeOptions: StoreOptions
        @Option(help: "Start after this key (paging).") var after: String?
        @Option(help: "At most this many keys.") var limit = 50
        @Flag(help: "Print JSON.") var json = false

        func validate() throws {
            guard (1...10_000).contains(limit) else { throw ValidationError("--limit \(limit): give 1 to 10000") }
        }

        func run() async throws {
            let store = try storeOptions.open((any FlowControlStore).self, for: "circuits")
            let states = try await store.circuits(after: after, limit: limit)
            if json {
                try printJSON(states.map(CircuitJSON.init))
                return
            }
            guard !states.isEmpty else {
                print(after == nil ? "No circuits yet. Add a breaker with: conveyor limits set source:* --breaker 5" : "No more circuits.")
                return
            }
            print(CircuitsCommand.table(states))
            if states.count == limit, let last = states.last { print("More: conveyor circuits list --after \(last.key)") }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "show", abstract: "Show a key's circuit, its breaker and its transitions, newest first.")
        @OptionGroup var storeOptions: StoreOptions
        @Argument(help: "The limit key.") var key: String
        @Option(help: "How many transitions to show (the store keeps 100).") var history = 20
        @Flag(help: "Print JSON.") var json = false

        func validate() throws { try CircuitsCommand.validKey(key) }

        func run() async throws {
            let store = try storeOptions.open((any FlowControlStore).self, for: "circuits show")
            guard let state = try await store.circuitStates([key]).first else { return }
            let transitions = try await store.circuitHistory(key, limit: max(0, history))
            if json {
                try printJSON([CircuitJSON(state, history: transitions)])
                return
            }
            print("Key:          \(key)")
            print("Circuit:      \(CircuitsCommand.phase(state))")
            print("Breaker:      \(state.breaker.map { "\($0) (rule \(state.rule ?? "-"))" } ?? "none (only opened by hand)")")
            print("Failures:     \(state.consecutiveFailures) in a row")
            if state.reliability == nil {
                print("Reliability:  no outcome counted yet")
            } else {
                print("Reliability:  \(CircuitsCommand.score(state)) last outcomes succeeded; \(CircuitsCommand.decayed(state)) decayed (half-life 1h)")
            }
            guard !transitions.isEmpty else {
                print("History:      none")
                return
            }
            print("History (newest first):")
            var rows = [["AT", "FROM", "TO", "REASON"]]
            for transition in transitions {
                rows.append([ScheduleText.utc(transition.at), "\(transition.from)", "\(transition.to)", transition.reason])
            }
            for line in ScheduleCommand.table(rows) { print("  " + line) }
        }
    }

    /// `open`, `close` and `reset` share their arguments.
    struct Action: ParsableArguments {
        @OptionGroup var storeOptions: StoreOptions
        @Argument(help: "The limit key.") var key: String
        @Option(help: "Why, recorded with the transition.") var reason = ""

        func validate() throws { try CircuitsCommand.validKey(key) }

        func run(_ action: CircuitAction) async throws {
            let store = try storeOptions.open((any FlowControlStore).self, for: "circuits \(action.rawValue)")
            let state: CircuitState
            do {
                state = try await store.changeCircuit(key, action, reason: reason)
            } catch let error as ConveyorError {
                throw ValidationError(error.description)
            }
            print("Circuit '\(key)': \(CircuitsCommand.phase(state)).")
        }
    }

    struct Open: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "open", abstract: "Open a key's circuit by hand: its jobs wait until it is closed or reset by hand.")
        @OptionGroup var action: Action
        func run() async throws { try await action.run(.open) }
    }

    struct Close: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "close", abstract: "Close a key's circuit: its held jobs go (in waves with a breaker), the failures in a row start again.")
        @OptionGroup var action: Action
        func run() async throws { try await action.run(.close) }
    }

    struct Reset: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reset", abstract: "Close a key's circuit and forget its outcomes (the reliability score starts again).")
        @OptionGroup var action: Action
        func run() async throws { try await action.run(.reset) }
    }
}

struct BreakerJSON: Encodable {
    var failures: Int
    var failureRate: Double?
    var window: Int
    var coolDownSeconds: Double
    var wave: Int
    var waveIntervalSeconds: Double

    init(_ breaker: CircuitBreaker) {
        failures = breaker.failures; failureRate = breaker.failureRate; window = breaker.window
        coolDownSeconds = breaker.coolDown.seconds; wave = breaker.wave; waveIntervalSeconds = breaker.waveInterval.seconds
    }
}

struct CircuitJSON: Encodable {
    struct Transition: Encodable {
        var at: Date
        var from: String
        var to: String
        var reason: String
    }

    var key: String
    var phase: String
    var rule: String?
    var breaker: BreakerJSON?
    var openUntil: Date?
    var probe: Int64?
    var consecutiveFailures: Int
    var recentSuccesses: Int
    var recentOutcomes: Int
    var reliability: Double?
    var decayedScore: Double?
    var changedAt: Date?
    var history: [Transition]?

    init(_ state: CircuitState) { self.init(state, history: nil) }

    init(_ state: CircuitState, history: [CircuitTransition]?) {
        key = state.key; phase = "\(state.phase)"; rule = state.rule; breaker = state.breaker.map(BreakerJSON.init)
        openUntil = state.openUntil; probe = state.probe?.rawValue; consecutiveFailures = state.consecutiveFailures
        recentSuccesses = state.recentSuccesses; recentOutcomes = state.recentOutcomes; reliability = state.reliability
        decayedScore = state.decayedScore; changedAt = state.changedAt
        self.history = history?.map { Transition(at: $0.at, from: "\($0.from)", to: "\($0.to)", reason: $0.reason) }
    }
}
