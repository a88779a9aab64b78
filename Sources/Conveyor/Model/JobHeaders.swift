import Foundation

/// A job's headers: a small string map carried with it from enqueue to every attempt (trace
/// context, limit keys, tenant, source host). Stores keep them as the JSON object this writes,
/// keys sorted; no headers is the empty string.
public enum JobHeaders {
    /// The most bytes a job's encoded headers may take.
    public static let maximumBytes = 16 << 10

    public static func encode(_ headers: [String: String]) -> String {
        guard !headers.isEmpty else { return "" }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // A [String: String] always encodes.
        return String(decoding: (try? encoder.encode(headers)) ?? Data("{}".utf8), as: UTF8.self)
    }

    /// The headers a store kept; an empty map for the empty string. A stored value that is not
    /// such a map is an error naming the job, never silently dropped.
    public static func decode(_ text: String?, job: JobID) throws -> [String: String] {
        guard let text, !text.isEmpty else { return [:] }
        do {
            return try JSONDecoder().decode([String: String].self, from: Data(text.utf8))
        } catch {
            throw ConveyorError.storeFailure("job \(job)'s stored headers are not a map of strings: \(text.prefix(100))")
        }
    }

    /// The headers as inspection shows them: a record whose stored headers cannot be read is
    /// still listed (its claim failed it, saying why), with the stored text under
    /// ``unreadableKey`` instead of failing the whole listing.
    public static func inspected(_ text: String?) -> [String: String] {
        guard let text, !text.isEmpty else { return [:] }
        return (try? JSONDecoder().decode([String: String].self, from: Data(text.utf8))) ?? [unreadableKey: text]
    }

    /// Where ``inspected(_:)`` puts stored headers it cannot read.
    public static let unreadableKey = "conveyor-unreadable-headers"

    /// Refuses headers too large to carry, naming the job.
    public static func validate(_ headers: [String: String], job name: String) throws {
        let size = headers.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count }
        if size > maximumBytes {
            throw ConveyorError.invalidHeaders(job: name, reason: "they take \(size) bytes; at most \(maximumBytes) are allowed")
        }
    }
}
