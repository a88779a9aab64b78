import ArgumentParser
import Conveyor
import Foundation

/// What every job a command enqueues (`submit`) or a schedule fires (`schedule add`) is given:
/// `--queue`, `--priority`, `--max-attempts`, `--timeout`, `--limit-key`.
struct JobSettings: ParsableArguments {
    @Option(help: "Queue name (default: the route for the job name in $CONVEYOR_ROUTES, else default).")
    var queue: String?

    @Option(help: "Priority 0-9 or low, normal, high.")
    var priority = "normal"

    @Option(help: "Attempts before the job ends dead.")
    var maxAttempts = RetryPolicy.default.maxAttempts

    @Option(help: "Time limit of one attempt.")
    var timeout = DurationArgument(.seconds(300))

    @Option(name: .customLong("limit-key"), help: ArgumentHelp(
        "A limit key the jobs count against (host:api.example.org, tenant:42); repeat for more. See `conveyor limits`.", valueName: "key"))
    var limitKeys: [String] = []

    func validate() throws {
        do {
            try LimitKey.validate(limitKeys, job: "--limit-key")
        } catch ConveyorError.invalidLimitKey(_, let reason) {
            throw ValidationError("invalid --limit-key: \(reason)")
        }
        guard Priority(priority) != nil else {
            throw ValidationError("invalid --priority '\(priority)': use 0-9, low, normal or high")
        }
        guard maxAttempts >= 1 else { throw ValidationError("--max-attempts must be at least 1") }
    }

    /// The priority (checked by `validate`).
    var priorityValue: Priority { Priority(priority) ?? .normal }

    /// The queue of jobs named `name`: `--queue`, else its route in `$CONVEYOR_ROUTES`, else default.
    func queue(for name: String) throws -> String {
        let routes = try JobRoutes(ProcessInfo.processInfo.environment["CONVEYOR_ROUTES"] ?? "")
        return queue ?? routes.queue(for: name) ?? "default"
    }
}
