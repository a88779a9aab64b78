import Foundation

/// Limit keys: what a job counts against (`host:api.worldbank.org`, `source:faostat`,
/// `tenant:42`). A job carries zero or more, set at enqueue (``NewJob/limitKeys``) or derived by
/// its type from the payload (``Job/limitKeys``); limits are set per key or per key prefix
/// (``LimitRule``), and every limit is enforced by the store inside `claim`.
public enum LimitKey {
    /// The most keys one job may carry.
    public static let maximumCount = 8
    /// The most bytes one key may take.
    public static let maximumBytes = 200

    /// Why `key` cannot be a limit key, or `nil` when it can: 1 to 200 bytes, no spaces or
    /// control characters, no `*` (that marks a prefix rule).
    public static func problem(with key: String) -> String? {
        if key.isEmpty { return "a limit key cannot be empty" }
        if key.utf8.count > maximumBytes { return "limit key '\(key.prefix(40))…' takes \(key.utf8.count) bytes; at most \(maximumBytes) are allowed" }
        if key.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7F }) {
            return "limit key '\(key)' contains a space or control character"
        }
        if key.contains("*") { return "limit key '\(key)' contains '*', which only limit rules use (a prefix like 'host:*')" }
        return nil
    }

    /// Refuses keys a store cannot carry, naming the job.
    public static func validate(_ keys: [String], job name: String) throws {
        if keys.count > maximumCount {
            throw ConveyorError.invalidLimitKey(job: name, reason: "it has \(keys.count) limit keys; at most \(maximumCount) are allowed")
        }
        for key in keys {
            if let problem = problem(with: key) { throw ConveyorError.invalidLimitKey(job: name, reason: problem) }
        }
        if Set(keys).count != keys.count {
            throw ConveyorError.invalidLimitKey(job: name, reason: "a limit key appears twice in \(keys)")
        }
    }

    /// The stored form: the keys joined by single spaces ('' for none).
    public static func encode(_ keys: [String]) -> String { keys.joined(separator: " ") }

    public static func decode(_ text: String?) -> [String] {
        guard let text, !text.isEmpty else { return [] }
        return text.split(separator: " ").map(String.init)
    }

    /// The rule patterns that can apply to `key`, the one that wins first: the key itself,
    /// then each prefix ending at a `:` followed by `*`, longest first, then `*`.
    /// (`host:api.x` → `host:api.x`, `host:*`, `*`.)
    public static func patterns(for key: String) -> [String] {
        var patterns = [key]
        var index = key.endIndex
        while let colon = key[..<index].lastIndex(of: ":") {
            patterns.append(String(key[...colon]) + "*")
            index = colon
        }
        patterns.append("*")
        return patterns
    }

    /// Why `pattern` cannot name a limit rule, or `nil`: a key, or a prefix ending in `:`
    /// followed by `*` (`host:*`), or `*` alone (every key).
    public static func problem(withPattern pattern: String) -> String? {
        guard pattern.hasSuffix("*") else {
            return problem(with: pattern).map { $0 + " (a rule names a key, a prefix ending in ':*' like 'host:*', or '*')" }
        }
        let prefix = pattern.dropLast()
        if prefix.isEmpty { return nil }
        guard prefix.hasSuffix(":") else {
            return "limit rule '\(pattern)': a prefix rule ends in ':*' (like 'host:*'), so it applies to whole key segments"
        }
        return problem(with: String(prefix))
    }
}
