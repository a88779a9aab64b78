import Foundation

/// Maps stored job names to the code that runs them.
///
/// ```swift
/// var registry = JobRegistry()
/// registry.register(ExportHSN.self)
/// registry.register(name: "echo") { payload, _ in payload }
/// ```
public struct JobRegistry: Sendable {
    /// Runs one job: decodes the payload, runs it, encodes the output as JSON.
    public typealias Handler = @Sendable (_ payload: Data, _ context: JobContext) async throws -> Data

    /// Whether a job's failure is its source's (it counts against its keys' circuits).
    public typealias CircuitJudge = @Sendable (_ error: any Error) -> Bool

    public struct Entry: Sendable {
        public var name: String
        public var retryPolicy: RetryPolicy
        public var handler: Handler
        public var countsAgainstCircuit: CircuitJudge = JobRegistry.retryableCounts
    }

    /// The default: a retryable failure is the source's, a permanent one the job's own.
    public static let retryableCounts: CircuitJudge = { Worker.classify($0).kind == .retryable }

    private var entries: [String: Entry] = [:]

    public init() {}

    /// Registers a ``Job`` type under its `name`.
    public mutating func register<J: Job>(_ type: J.Type) {
        entries[J.name] = Entry(name: J.name, retryPolicy: J.retryPolicy, handler: { payload, context in
            let job: J
            do {
                job = try JSONDecoder().decode(J.self, from: payload)
            } catch {
                throw ConveyorError.undecodablePayload(job: J.name, reason: Self.describe(error))
            }
            let output = try await job.run(context)
            do {
                return try JSONEncoder().encode(output)
            } catch {
                throw ConveyorError.unencodableOutput(job: J.name, reason: "\(error)")
            }
        }, countsAgainstCircuit: { J.countsAgainstCircuit($0) })
    }

    /// Registers a handler that works on raw JSON payloads (built-in kinds, other languages' jobs).
    public mutating func register(name: String, retryPolicy: RetryPolicy = .default,
                                  countsAgainstCircuit: @escaping CircuitJudge = JobRegistry.retryableCounts,
                                  handler: @escaping Handler) {
        entries[name] = Entry(name: name, retryPolicy: retryPolicy, handler: handler, countsAgainstCircuit: countsAgainstCircuit)
    }

    public var names: [String] { entries.keys.sorted() }
    public func entry(named name: String) -> Entry? { entries[name] }
    public func retryPolicy(for name: String) -> RetryPolicy { entries[name]?.retryPolicy ?? .default }
    /// Whether `error`, thrown by a job named `name`, counts against its keys' circuits (an
    /// unknown name is no source's fault).
    public func countsAgainstCircuit(_ error: any Error, name: String) -> Bool {
        entries[name].map { $0.countsAgainstCircuit(error) } ?? false
    }

    /// Runs `payload` with the handler registered as `name`.
    /// - Throws: ``ConveyorError/unknownJobName(_:known:)`` when nothing is registered under `name`.
    public func run(name: String, payload: Data, context: JobContext) async throws -> Data {
        guard let entry = entries[name] else {
            throw ConveyorError.unknownJobName(name, known: names)
        }
        return try await entry.handler(payload, context)
    }

    /// Decoding errors say which field was wrong, not only that something was.
    static func describe(_ error: any Error) -> String {
        guard let error = error as? DecodingError else { return "\(error)" }
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }
            return keys.isEmpty ? "" : " at '\(keys.joined(separator: "."))'"
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "missing field '\(key.stringValue)'\(path(context))"
        case .typeMismatch(let type, let context):
            return "expected \(type)\(path(context)): \(context.debugDescription)"
        case .valueNotFound(let type, let context):
            return "missing value of type \(type)\(path(context))"
        case .dataCorrupted(let context):
            return "invalid JSON\(path(context)): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }
}
