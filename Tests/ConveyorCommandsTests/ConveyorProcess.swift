import Conveyor
import Foundation
import Testing

/// Runs the real `conveyor` binary built next to the test bundle.
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

    /// Runs `conveyor ARGUMENTS` to the end in `directory`.
    static func run(_ arguments: [String], in directory: String, environment: [String: String] = [:]) async throws -> Output {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let outFile = "\(directory)/.out-\(UUID().uuidString)"
        let errFile = "\(directory)/.err-\(UUID().uuidString)"
        _ = FileManager.default.createFile(atPath: outFile, contents: nil)
        _ = FileManager.default.createFile(atPath: errFile, contents: nil)
        defer {
            try? FileManager.default.removeItem(atPath: outFile)
            try? FileManager.default.removeItem(atPath: errFile)
        }
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: outFile))
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errFile))
        process.standardInput = FileHandle.nullDevice
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            process.terminationHandler = { _ in continuation.resume() }
            do { try process.run() } catch { continuation.resume(throwing: error) }
        }
        return Output(
            status: process.terminationStatus,
            stdout: (try? String(contentsOfFile: outFile, encoding: .utf8)) ?? "",
            stderr: (try? String(contentsOfFile: errFile, encoding: .utf8)) ?? "")
    }

    /// A `conveyor` process running in the background.
    final class Child: Sendable {
        let process: Process
        let exited = AsyncSignal()
        init(process: Process) { self.process = process }

        var pid: Int32 { process.processIdentifier }

        func kill(_ signal: Int32) {
            Glibc.kill(process.processIdentifier, signal)
        }

        /// Waits for the process to exit and returns its status.
        func waitForExit() async -> Int32 {
            while true {
                let generation = exited.generation
                if !process.isRunning { return process.terminationStatus }
                await exited.wait(after: generation, timeout: .seconds(5))
            }
        }
    }

    /// Starts `conveyor ARGUMENTS` in the background, its output appended to `log`.
    static func start(_ arguments: [String], in directory: String, log: String) throws -> Child {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        if !FileManager.default.fileExists(atPath: log) { _ = FileManager.default.createFile(atPath: log, contents: nil) }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        let child = Child(process: process)
        process.terminationHandler = { [exited = child.exited] _ in exited.notify() }
        try process.run()
        return child
    }
}
