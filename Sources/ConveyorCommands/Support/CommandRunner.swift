import Conveyor
import Foundation
import Subprocess
#if canImport(Glibc)
import Glibc
#endif

/// Runs one `conveyor.command` job as a child process.
///
/// The child is spawned through swift-subprocess (Foundation's `Process` crashes
/// intermittently on Linux and costs a blocked thread per child). Its output is read
/// asynchronously and only the last ``tailBytes`` are kept. It leads a process group of its
/// own, so that ending the job ends everything it started:
/// - on the attempt's timeout or cancellation the group gets SIGTERM, then SIGKILL after
///   ``terminationGrace``;
/// - when the child has exited, whatever it left running in its group is killed: a job's
///   processes end with the job (a program meant to outlive it must start its own session);
/// - on Linux the child also dies if the worker process is killed (see ``ParentDeath``).
///
/// No descriptor outlives the job, and failing to start the child is a retryable error:
/// another attempt, or another worker, may well succeed.
struct CommandRunner: Sendable {
    var template: CommandTemplate
    var permanentExitCodes: Set<Int32>
    static let tailBytes = 4096
    /// How long a child has after SIGTERM before its process group is killed.
    static let terminationGrace: Duration = .seconds(5)

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

    /// Runs `arguments` (the program found on PATH unless it names a path) and returns its
    /// exit status (128 + the signal if a signal ended it) and the tail of its output.
    /// Throws `CancellationError` once the child is gone if the task was cancelled.
    static func execute(_ arguments: [String], terminationGrace: Duration = terminationGrace) async throws -> (Int32, String) {
        let program = try await locate(arguments[0])
        let (executable, wrapped) = ParentDeath.launch(program, arguments: Array(arguments.dropFirst()))
        var options = PlatformOptions()
        options.processGroupID = 0
        options.teardownSequence = [.gracefulShutDown(toProcessGroup: true, allowedDurationToNextStep: terminationGrace)]

        var group: pid_t?
        defer {
            // The child is reaped by now: this ends what it left behind in its group. A group
            // with members keeps its id from reuse; an empty one could lose it only in the
            // instant since the reap, to a process that also leads a new group.
            if let group { kill(-group, SIGKILL) }
        }
        let execution: ExecutionResult<OutputTail, SequenceOutput, CombinedErrorOutput>
        do {
            execution = try await Subprocess.run(
                executable, arguments: Arguments(wrapped), platformOptions: options,
                input: .none, output: .sequence, error: .combinedWithOutput
            ) { execution in
                group = execution.processIdentifier.value
                var tail = OutputTail(limit: tailBytes)
                for try await buffer in execution.standardOutput {
                    buffer.withUnsafeBytes { tail.append($0) }
                }
                return tail
            }
        } catch {
            try Task.checkCancellation()
            let verb = group == nil ? "cannot start" : "lost the output of"
            throw JobError.retryable("\(verb) '\(arguments[0])': \(error)")
        }
        try Task.checkCancellation()
        let output = execution.closureResult.text
        switch execution.terminationStatus {
        case .exited(let code): return (code, output)
        case .signaled(let signal): return (128 + signal, output)
        }
    }

    /// The program to start: a path as given, else the first match on PATH.
    private static func locate(_ program: String) async throws -> String {
        if program.contains("/") {
            guard access(program, X_OK) == 0 else {
                throw JobError.retryable("cannot start '\(program)': \(String(cString: strerror(errno)))")
            }
            return program
        }
        do {
            return try await Executable.name(program).resolveExecutablePath(in: .inherit).string
        } catch {
            throw JobError.retryable("cannot start '\(program)': \(error)")
        }
    }
}

/// The last bytes of a stream: what a chatty child writes never costs more than twice the limit.
struct OutputTail: Sendable {
    let limit: Int
    private var bytes: [UInt8] = []

    init(limit: Int) { self.limit = limit }

    mutating func append(_ chunk: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: chunk.suffix(limit))
        if bytes.count > 2 * limit { bytes.removeFirst(bytes.count - limit) }
    }

    var text: String { String(decoding: bytes.suffix(limit), as: UTF8.self) }
}

/// Children that die with the worker.
///
/// Linux offers `prctl(PR_SET_PDEATHSIG)`, which a process sets on itself. swift-subprocess
/// has no hook to run code in the child before `exec` on Linux, so the child is started
/// through util-linux's `setpriv --pdeathsig KILL`, which sets it and execs the program (same
/// pid). The signal is tied to the *thread* that spawned the child; swift-subprocess spawns
/// from one thread that lives as long as the process, so it fires only when the worker dies.
/// It reaches the child only, not processes the child starts itself. Without `setpriv` (or
/// off Linux) the program is started directly.
enum ParentDeath {
    static let setpriv: String? = {
        #if os(Linux)
        ["/usr/bin/setpriv", "/bin/setpriv"].first { access($0, X_OK) == 0 }
        #else
        nil
        #endif
    }()

    static func launch(_ program: String, arguments: [String]) -> (Executable, [String]) {
        guard let setpriv else { return (.path(.init(program)), arguments) }
        return (.path(.init(setpriv)), ["--pdeathsig", "KILL", "--", program] + arguments)
    }
}
