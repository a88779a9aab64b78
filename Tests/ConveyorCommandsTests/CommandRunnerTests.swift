import Conveyor
@testable import ConveyorCommands
import ConveyorSQLite
import ConveyorTesting
import Foundation
import Logging
import Testing

/// `conveyor.command` jobs: many children without a crash or a leaked descriptor, and no
/// child (nor its children) left running after its attempt ends or its worker dies.
@Suite("Command jobs")
struct CommandRunnerTests {
    /// Entries of /proc/self/fd, counted the same way each time.
    static func openDescriptors() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
    }

    /// Whether `pid` still runs. A zombie (dead, not yet reaped by its new parent) is not.
    static func isRunning(_ pid: pid_t) -> Bool {
        guard kill(pid, 0) == 0 || errno == EPERM else { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let nameEnd = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(nameEnd, offsetBy: 2)]
        return state != "Z" && state != "X"
    }

    /// Waits until `pid` has ended (a process that is not our child sends no event we could
    /// wait on, so this looks every 10 ms), at most `timeout`.
    static func waitUntilEnded(_ pid: pid_t, timeout: Duration = .seconds(10)) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while isRunning(pid) {
            guard ContinuousClock.now < deadline else { return false }
            try await Task.sleep(for: .milliseconds(10))
        }
        return true
    }

    static func registry(_ template: String) throws -> JobRegistry {
        var registry = JobRegistry()
        BuiltinJobs.register(into: &registry, options: .init(commandTemplate: try CommandTemplate(template)))
        return registry
    }

    static var quietLogger: Logger {
        var logger = Logger(label: "conveyor.test.worker")
        logger.logLevel = .error
        return logger
    }

    @Test func twentyThousandCommandsThroughThreeWorkersLeaveNoDescriptorOpen() async throws {
        let directory = try TemporaryDirectory(prefix: "conveyor-commands")
        defer { directory.remove() }
        let total = 20_000
        let store = directory.file("commands.sqlite")
        // Three stores on one file, as three worker processes would have.
        let backends = try (0..<3).map { _ in try SQLiteBackend(path: store) }
        for start in stride(from: 0, to: total, by: 1000) {
            _ = try await backends[0].enqueue((start..<min(total, start + 1000)).map {
                NewJob(name: BuiltinJobs.command, payload: Data(#"{"x":\#($0)}"#.utf8))
            })
        }
        let registry = try Self.registry("/bin/echo {x}")
        // swift-subprocess opens its process monitor's descriptors once, on first use.
        _ = try await CommandRunner.execute(["true"])
        let before = Self.openDescriptors()

        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for backend in backends {
                let worker = Worker(backend: backend, registry: registry, configuration: .init(
                    concurrency: 8, stopWhenIdle: true, logger: Self.quietLogger))
                group.addTask { try await worker.run() }
            }
            try await group.waitForAll()
        }
        let elapsed = ContinuousClock.now - started
        let after = Self.openDescriptors()

        let counts = try await backends[0].queueStats().first { $0.queue == "default" }?.counts ?? [:]
        #expect(counts == [.succeeded: total], "every command succeeded: \(counts)")
        let sample = try #require(try await backends[0].jobs(JobQuery(states: [.succeeded], limit: 1)).first)
        let result = try JSONDecoder().decode(CommandResult.self, from: try #require(sample.result))
        #expect(result.exitStatus == 0)
        #expect(result.outputTail.hasSuffix("\n") && Int(result.outputTail.dropLast()) != nil, "echo's output: \(result.outputTail)")
        // Other suites run alongside and open files of their own: allow a little slack. One
        // leaked descriptor per job would be 20,000.
        #expect(after - before < 48, "descriptors before: \(before), after: \(after)")
        print("\(total) command jobs in \(elapsed.formatted) (\(Int(Double(total) / elapsed.seconds)) jobs/s); open descriptors before \(before), after \(after)")
    }

    @Test func aTimedOutCommandEndsWithItsWholeProcessGroup() async throws {
        let directory = try TemporaryDirectory(prefix: "conveyor-commands")
        defer { directory.remove() }
        let backend = try SQLiteBackend(path: directory.file("timeout.sqlite"))
        // The grandchild ignores SIGTERM: only the SIGKILL of the group after the child has
        // gone ends it.
        let script = #"echo $$ > {dir}/child; (trap "" TERM; exec sleep 100) & echo $! > {dir}/grandchild; wait"#
        let registry = try Self.registry("sh -c '\(script)'")
        let id = try await backend.enqueue(NewJob(
            name: BuiltinJobs.command, payload: Data(#"{"dir":"\#(directory.path)"}"#.utf8), maxAttempts: 1, timeout: .seconds(1))).id
        let worker = Worker(backend: backend, registry: registry, configuration: .init(concurrency: 1, logger: Self.quietLogger))
        let record = try await withThrowingTaskGroup(of: JobRecord?.self) { group in
            group.addTask { try await worker.run(); return nil }
            let record = try await backend.waitUntilFinished(id, timeout: .seconds(60))
            worker.stop()
            try await group.waitForAll()
            return record
        }
        #expect(record.state == .dead)
        #expect(record.lastError?.message.contains("timeout") == true, "\(String(describing: record.lastError))")
        let child = try #require(pid_t(try String(contentsOfFile: directory.file("child"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        let grandchild = try #require(pid_t(try String(contentsOfFile: directory.file("grandchild"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(try await Self.waitUntilEnded(child), "the command (pid \(child)) ended with its attempt")
        #expect(try await Self.waitUntilEnded(grandchild), "the process it started (pid \(grandchild)) ended too")
    }

    @Test func cancellingACommandWaitsUntilItsGroupHasEnded() async throws {
        let directory = try TemporaryDirectory(prefix: "conveyor-commands")
        defer { directory.remove() }
        let ready = directory.file("ready")
        let task = Task {
            try await CommandRunner.execute(
                ["sh", "-c", "sleep 100 & echo $! > \(ready).tmp; mv \(ready).tmp \(ready); wait"], terminationGrace: .seconds(1))
        }
        while !FileManager.default.fileExists(atPath: ready) { try await Task.sleep(for: .milliseconds(5)) }
        let grandchild = try #require(pid_t(try String(contentsOfFile: ready, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        task.cancel()
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(try await Self.waitUntilEnded(grandchild, timeout: .seconds(2)))
    }

    @Test func aProgramThatCannotStartFailsTheAttemptRetryably() async throws {
        for program in ["conveyor-test-no-such-program", "/nonexistent/conveyor-test-program"] {
            let error = await #expect(throws: JobError.self) { try await CommandRunner.execute([program, "x"]) }
            guard case .retryable(let message)? = error else {
                Issue.record("not retryable: \(String(describing: error))")
                continue
            }
            #expect(message.contains(program), "the message names the program: \(message)")
        }
    }

    @Test func exitStatusSignalAndTailOfChattyOutput() async throws {
        let (status, tail) = try await CommandRunner.execute(["sh", "-c", "head -c 100000 /dev/zero | tr '\\0' a; echo; echo last >&2; exit 3"])
        #expect(status == 3)
        #expect(tail.utf8.count == CommandRunner.tailBytes)
        #expect(tail.hasSuffix("a\nlast\n"), "stdout and stderr share the tail")
        let (signalled, _) = try await CommandRunner.execute(["sh", "-c", "kill -KILL $$"])
        #expect(signalled == 128 + SIGKILL)
    }

    /// A worker killed with SIGKILL takes its running command with it (Linux, via setpriv).
    @Test(.enabled(if: ParentDeath.setpriv != nil))
    func aKilledWorkersCommandDiesWithIt() async throws {
        let directory = try TemporaryDirectory(prefix: "conveyor-commands")
        defer { directory.remove() }
        let store = directory.file("orphan.sqlite")
        let backend = try SQLiteBackend(path: store)
        _ = try await backend.enqueue(NewJob(name: BuiltinJobs.command, payload: Data(#"{"dir":"\#(directory.path)"}"#.utf8)))
        let worker = try await ConveyorProcess.start(
            ["worker", "--store", store, "--queues", "default", "--log-level", "error",
             "--command", #"sh -c 'echo $$ > {dir}/child.tmp; mv {dir}/child.tmp {dir}/child; exec sleep 100'"#],
            in: directory.path, log: directory.file("worker.log"))
        defer { worker.kill(SIGKILL) }
        let pidFile = directory.file("child")
        let deadline = ContinuousClock.now + .seconds(60)
        while !FileManager.default.fileExists(atPath: pidFile) {
            try #require(ContinuousClock.now < deadline && worker.isRunning, "the command never started")
            try await Task.sleep(for: .milliseconds(10))
        }
        let child = try #require(pid_t(try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(Self.isRunning(child))
        worker.kill(SIGKILL)
        #expect(await worker.waitForExit() == 128 + SIGKILL)
        #expect(try await Self.waitUntilEnded(child), "the command (pid \(child)) died with its worker")
    }

    /// With 64 descriptors a worker that leaked one per job would fail within a few dozen.
    @Test func aWorkerUnderALowDescriptorLimitRunsManyCommands() async throws {
        let directory = try TemporaryDirectory(prefix: "conveyor-commands")
        defer { directory.remove() }
        let store = directory.file("limit.sqlite")
        let backend = try SQLiteBackend(path: store)
        let total = 400
        _ = try await backend.enqueue((0..<total).map { NewJob(name: BuiltinJobs.command, payload: Data(#"{"x":\#($0)}"#.utf8), maxAttempts: 1) })
        let worker = try await ConveyorProcess.start(
            ["-c", #"ulimit -n 64 && exec "$0" "$@""#, ConveyorProcess.executable,
             "worker", "--store", store, "--queues", "default", "--burst", "--concurrency", "4", "--log-level", "error",
             "--command", "true {x}"],
            in: directory.path, log: directory.file("worker.log"), program: "/bin/sh")
        let status = await worker.waitForExit()
        let log = (try? String(contentsOfFile: directory.file("worker.log"), encoding: .utf8)) ?? ""
        #expect(status == 0, "\(log.suffix(2000))")
        let counts = try await backend.queueStats().first { $0.queue == "default" }?.counts ?? [:]
        #expect(counts == [.succeeded: total], "\(counts); log: \(log.suffix(2000))")
    }
}
