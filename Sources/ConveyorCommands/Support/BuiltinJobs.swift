import Conveyor
import Foundation

/// Job kinds every `conveyor worker` runs, whatever program embeds the commands.
public enum BuiltinJobs {
    /// `conveyor.echo`: returns its payload. For smoke tests and benchmarks.
    public static let echo = "conveyor.echo"
    /// `conveyor.sleep`: waits `{"ms": N}` milliseconds, then returns its payload.
    public static let sleep = "conveyor.sleep"
    /// `conveyor.command`: runs the worker's `--command` template with the payload's fields.
    public static let command = "conveyor.command"

    public struct Options: Sendable {
        public var commandTemplate: CommandTemplate?
        /// Exit statuses that mean "retrying will not help" (default: 64 EX_USAGE, 65 EX_DATAERR).
        public var permanentExitCodes: Set<Int32> = [64, 65]
        public var commandRetryPolicy: RetryPolicy = .default
        public init(commandTemplate: CommandTemplate? = nil, permanentExitCodes: Set<Int32> = [64, 65]) {
            self.commandTemplate = commandTemplate
            self.permanentExitCodes = permanentExitCodes
        }
    }

    public static func register(into registry: inout JobRegistry, options: Options = .init()) {
        registry.register(name: echo) { payload, _ in payload }
        registry.register(name: sleep) { payload, _ in
            let object = try? JSONSerialization.jsonObject(with: payload) as? [String: Any]
            let milliseconds = (object?["ms"] as? NSNumber)?.intValue ?? 0
            try await Task.sleep(for: .milliseconds(milliseconds))
            return payload
        }
        registry.register(name: command, retryPolicy: options.commandRetryPolicy) { payload, context in
            guard let template = options.commandTemplate else {
                throw JobError.permanent("this worker has no command template; start it with: conveyor worker --command 'program {key}'")
            }
            return try await CommandRunner(template: template, permanentExitCodes: options.permanentExitCodes)
                .run(payload: payload, context: context)
        }
    }
}

/// The stored result of a `conveyor.command` job.
public struct CommandResult: Codable, Sendable, Hashable {
    public var exitStatus: Int32
    public var durationMs: Int
    /// The last few kilobytes of standard output and error, interleaved.
    public var outputTail: String
}
