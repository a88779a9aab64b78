import Foundation

/// Sends jobs to queues by name, like Celery's `task_routes`: the first matching pattern wins.
///
/// ```swift
/// let routes = try JobRoutes("tradestat.*=tradestat, documents.ocr=gpu")
/// routes.queue(for: "tradestat.export")   // "tradestat"
/// ```
public struct JobRoutes: Sendable, Hashable {
    public struct Route: Sendable, Hashable {
        /// A job name, or a prefix ending in `*`.
        public var pattern: String
        public var queue: String
        public init(pattern: String, queue: String) {
            self.pattern = pattern
            self.queue = queue
        }

        func matches(_ name: String) -> Bool {
            pattern.hasSuffix("*") ? name.hasPrefix(pattern.dropLast()) : name == pattern
        }
    }

    public enum Error: Swift.Error, CustomStringConvertible, Equatable {
        case malformed(String, reason: String)
        public var description: String {
            switch self {
            case .malformed(let entry, let reason): "invalid route '\(entry)': \(reason); write NAME=QUEUE or PREFIX*=QUEUE, separated by commas"
            }
        }
    }

    public var routes: [Route]

    public init(_ routes: [Route] = []) { self.routes = routes }

    /// Parses `name=queue, prefix.*=queue`.
    public init(_ text: String) throws {
        routes = try text.split(separator: ",").map { entry in
            let parts = entry.split(separator: "=", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else { throw Error.malformed(String(entry), reason: "expected one '='") }
            guard !parts[0].isEmpty, !parts[1].isEmpty else { throw Error.malformed(String(entry), reason: "empty name or queue") }
            guard !parts[0].dropLast().contains("*") else { throw Error.malformed(String(entry), reason: "'*' only at the end") }
            return Route(pattern: parts[0], queue: parts[1])
        }
    }

    public func queue(for name: String) -> String? {
        routes.first { $0.matches(name) }?.queue
    }
}
