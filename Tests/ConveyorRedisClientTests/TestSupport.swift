import ConveyorRedisClient
import ConveyorTesting
import Logging
import Synchronization
import Testing

extension RedisServer {
    func configuration(_ modify: (inout RedisConfiguration) -> Void = { _ in }) throws -> RedisConfiguration {
        var configuration = try RedisConfiguration(url: url)
        modify(&configuration)
        return configuration
    }

    func connect(_ modify: (inout RedisConfiguration) -> Void = { _ in }) async throws -> RedisConnection {
        try await RedisConnection.connect(configuration: configuration(modify))
    }
}

/// Polls `condition` every 10 ms until it holds; fails the test after `seconds`. For states
/// only the server can report (a client blocked in BLPOP), where there is no event to wait on.
func eventually(
    _ what: String,
    within seconds: Double = 10,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () async throws -> Bool
) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + .milliseconds(Int(seconds * 1000))
    while clock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(10))
    }
    Issue.record("timed out waiting for: \(what)", sourceLocation: sourceLocation)
    throw CancellationError()
}

/// Waits until `count` clients are blocked (BLPOP) on the server.
func waitForBlockedClients(_ count: Int, on server: RedisServer) async throws {
    let probe = try await server.connect()
    defer { Task { await probe.close() } }
    try await eventually("\(count) blocked client(s)") {
        let info = try await probe.send("INFO", "clients").string ?? ""
        return info.contains("blocked_clients:\(count)\r")
    }
}

/// A log handler that keeps messages and lets a test await one.
final class LogRecorder: Sendable {
    private struct State {
        var messages: [String] = []
        var waiters: [(String, CheckedContinuation<String, Never>)] = []
    }

    private let state = Mutex(State())

    var logger: Logger {
        Logger(label: "test") { _ in Handler(recorder: self) }
    }

    var messages: [String] { state.withLock { $0.messages } }

    func record(_ message: String) {
        let ready = state.withLock { state -> [CheckedContinuation<String, Never>] in
            state.messages.append(message)
            let (matched, rest) = (
                state.waiters.filter { message.contains($0.0) }, state.waiters.filter { !message.contains($0.0) }
            )
            state.waiters = rest
            return matched.map(\.1)
        }
        for continuation in ready { continuation.resume(returning: message) }
    }

    /// The first message containing `text`, waiting for it if needed.
    func message(containing text: String) async -> String {
        await withCheckedContinuation { continuation in
            let existing = state.withLock { state -> String? in
                if let m = state.messages.first(where: { $0.contains(text) }) { return m }
                state.waiters.append((text, continuation))
                return nil
            }
            if let existing { continuation.resume(returning: existing) }
        }
    }

    struct Handler: LogHandler {
        let recorder: LogRecorder
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            recorder.record("\(event.level): \(event.message)")
        }
    }
}
