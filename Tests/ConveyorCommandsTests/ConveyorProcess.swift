import Conveyor
import Foundation
import Subprocess
import Synchronization
import Testing

/// Runs the real `conveyor` binary built next to the test bundle, through swift-subprocess
/// like the worker's commands (not Foundation's `Process`, which crashes on Linux).
struct ConveyorProcess {
    static var executable: String {
        let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var folder = testBinary.deletingLastPathComponent()
        // On some platforms the tests live inside a bundle folder.
        while !FileManager.default.isExecutableFile(atPath: folder.appendingPathComponent("conveyor").path), folder.path != "/" {
            folder = folder.deletingLastPathComponent()
        }
        return folder.appendingPathComponent("conveyor").path
    }

    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
        var all: String { stdout + stderr }
    }

    static func status(_ termination: TerminationStatus) -> Int32 {
        switch termination {
        case .exited(let code): code
        case .signaled(let signal): 128 + signal
        }
    }

    /// Runs `conveyor ARGUMENTS` to the end in `directory`.
    static func run(_ arguments: [String], in directory: String, environment: [String: String] = [:],
                    program: String = executable) async throws -> Output {
        let outputLimit = 16 << 20
        let result = try await Subprocess.run(
            .path(.init(program)), arguments: Arguments(arguments),
            environment: .inherit.updating(Dictionary(uniqueKeysWithValues: environment.map { (Environment.Key(rawValue: $0.key)!, Optional($0.value)) })),
            workingDirectory: .init(directory),
            output: .string(limit: outputLimit), error: .string(limit: outputLimit))
        return Output(status: status(result.terminationStatus), stdout: result.standardOutput, stderr: result.standardError)
    }

    /// Another executable of the package, built beside `conveyor` (the examples).
    static func sibling(_ name: String) -> String {
        URL(fileURLWithPath: executable).deletingLastPathComponent().appendingPathComponent(name).path
    }

    /// A `conveyor` process running in the background.
    final class Child: Sendable {
        /// Set once the process has exited.
        final class ExitStatus: Sendable {
            let value = Mutex<Int32?>(nil)
        }
        let pid: pid_t
        private let exit: Task<Int32, Never>
        private let exitStatus: ExitStatus

        fileprivate init(pid: pid_t, exit: Task<Int32, Never>, exitStatus: ExitStatus) {
            self.pid = pid
            self.exit = exit
            self.exitStatus = exitStatus
        }

        var isRunning: Bool { exitStatus.value.withLock { $0 == nil } }

        func kill(_ signal: Int32) {
            Glibc.kill(pid, signal)
        }

        /// Waits for the process to exit and returns its status (128 + the signal that ended it).
        func waitForExit() async -> Int32 {
            await exit.value
        }
    }

    /// Starts `conveyor ARGUMENTS` (or `program ARGUMENTS`) in the background, its output
    /// appended to `log`.
    static func start(_ arguments: [String], in directory: String, log: String, program: String = executable) async throws -> Child {
        let descriptor = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        let (started, startedContinuation) = AsyncStream.makeStream(of: pid_t.self)
        let exitStatus = Child.ExitStatus()
        let exit = Task { () -> Int32 in
            let status: Int32
            do {
                let result = try await Subprocess.run(
                    .path(.init(program)), arguments: Arguments(arguments), workingDirectory: .init(directory),
                    input: .none, output: .fileDescriptor(.init(rawValue: descriptor), closeAfterSpawningProcess: true),
                    error: .combinedWithOutput
                ) { execution in
                    startedContinuation.yield(execution.processIdentifier.value)
                }
                status = Self.status(result.terminationStatus)
            } catch {
                status = -1
            }
            startedContinuation.finish()
            exitStatus.value.withLock { $0 = status }
            return status
        }
        var pids = started.makeAsyncIterator()
        guard let pid = await pids.next() else {
            throw ConveyorProcessError.cannotStart([program] + arguments)
        }
        return Child(pid: pid, exit: exit, exitStatus: exitStatus)
    }

    enum ConveyorProcessError: Error, CustomStringConvertible {
        case cannotStart([String])
        var description: String { "cannot start \(arguments)" }
        private var arguments: String {
            switch self { case .cannotStart(let arguments): arguments.joined(separator: " ") }
        }
    }
}
