import Conveyor
import Foundation
import Synchronization

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
        registry.register(TradeStatExportJob.self)
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

/// Runs one `conveyor.command` job as a child process.
struct CommandRunner: Sendable {
    var template: CommandTemplate
    var permanentExitCodes: Set<Int32>
    static let tailBytes = 4096

    func run(payload: Data, context: JobContext) async throws -> Data {
        guard let fields = try? JSONSerialization.jsonObject(with: payload) as? [String: Any] else {
            throw JobError.permanent("the payload of a command job must be a JSON object of arguments, got: \(String(decoding: payload, as: UTF8.self).clipped(100))")
        }
        let arguments: [String]
        do {
            arguments = try template.arguments(for: fields)
        } catch {
            throw JobError.permanent("\(error)")
        }
        let started = ContinuousClock.now
        let (status, tail) = try await Self.execute(arguments)
        let result = CommandResult(exitStatus: status, durationMs: Int((ContinuousClock.now - started).seconds * 1000), outputTail: tail)
        guard status == 0 else {
            let lastLines = tail.split(separator: "\n").suffix(3).joined(separator: " | ").clipped(300)
            let message = "command exited with status \(status): \(arguments.joined(separator: " ").clipped(120))" + (lastLines.isEmpty ? "" : " — \(lastLines)")
            throw permanentExitCodes.contains(status) ? JobError.permanent(message) : JobError.retryable(message)
        }
        return try JSONEncoder().encode(result)
    }

    /// Runs `arguments` (found on PATH), keeps the tail of its output; terminates it when cancelled.
    static func execute(_ arguments: [String]) async throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["--"] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        let tail = Mutex(Data())

        let finished: Void = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let group = DispatchGroup()
                group.enter()
                process.terminationHandler = { _ in group.leave() }
                do {
                    try process.run()
                } catch {
                    continuation.resume(throwing: JobError.permanent("cannot start '\(arguments[0])': \(error.localizedDescription)"))
                    return
                }
                try? pipe.fileHandleForWriting.close()
                group.enter()
                DispatchQueue.global().async {
                    let reader = pipe.fileHandleForReading
                    while true {
                        let chunk = reader.availableData
                        if chunk.isEmpty { break }
                        tail.withLock { buffer in
                            buffer.append(chunk)
                            if buffer.count > tailBytes * 2 { buffer = buffer.suffix(tailBytes) }
                        }
                    }
                    group.leave()
                }
                group.notify(queue: .global()) { continuation.resume() }
            }
        } onCancel: {
            if process.isRunning { process.terminate() }
            DispatchQueue.global().asyncAfter(deadline: .now() + 5) {
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            }
        }
        _ = finished
        try Task.checkCancellation()
        let output = tail.withLock { String(decoding: $0.suffix(tailBytes), as: UTF8.self) }
        if process.terminationReason == .uncaughtSignal {
            return (128 + process.terminationStatus, output)
        }
        return (process.terminationStatus, output)
    }
}
