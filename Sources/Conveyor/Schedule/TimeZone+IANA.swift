import Foundation

extension TimeZone {
    /// The IANA time zone with this identifier, e.g. `"Europe/Berlin"` or `"UTC"`.
    ///
    /// Case is forgiven (`"europe/berlin"` gives `Europe/Berlin`). An unknown identifier
    /// throws ``ScheduleError/unknownTimeZone(identifier:suggestions:)`` with up to three of
    /// the nearest known identifiers:
    /// ```swift
    /// try TimeZone.iana("Europe/Berln") // unknown time zone "Europe/Berln"; … did you mean "Europe/Berlin"?
    /// ```
    public static func iana(_ identifier: String) throws(ScheduleError) -> TimeZone {
        let trimmed = identifier.trimmingCharacters(in: .whitespaces)
        let known = TimeZone.knownTimeZoneIdentifiers
        if known.contains(trimmed), let zone = TimeZone(identifier: trimmed) { return zone }
        let lowered = trimmed.lowercased()
        if lowered == "utc" || lowered == "etc/utc", let utc = TimeZone(identifier: "UTC") { return utc }
        if let canonical = known.first(where: { $0.lowercased() == lowered }),
            let zone = TimeZone(identifier: canonical)
        {
            return zone
        }
        // Aliases Foundation knows but does not list, such as "UTC" or "Etc/GMT+5".
        if trimmed.contains(where: \.isLetter), let zone = TimeZone(identifier: trimmed) { return zone }
        throw .unknownTimeZone(identifier: identifier, suggestions: nearestIdentifiers(to: trimmed, among: known))
    }

    /// The identifier shown in descriptions and stored in encodings. Foundation on Linux names
    /// its UTC zone "GMT"; we say "UTC".
    var scheduleIdentifier: String {
        identifier == "GMT" ? "UTC" : identifier
    }

    /// Up to three known identifiers closest to `text` by edit distance, ignoring case; the
    /// city part alone is also compared, so "Berln" finds "Europe/Berlin".
    static func nearestIdentifiers(to text: String, among known: [String], limit: Int = 3) -> [String] {
        let query = Array(text.lowercased())
        guard !query.isEmpty else { return [] }
        let threshold = max(2, query.count / 3)
        let scored: [(distance: Int, identifier: String)] = known.compactMap { identifier in
            let lowered = identifier.lowercased()
            let city = lowered.split(separator: "/").last.map(String.init) ?? lowered
            let distance = min(
                editDistance(query, Array(lowered)),
                editDistance(query, Array(city)) + (query.contains("/") ? 1 : 0))
            return distance <= threshold ? (distance, identifier) : nil
        }
        return scored.sorted { ($0.distance, $0.identifier) < ($1.distance, $1.identifier) }
            .prefix(limit).map(\.identifier)
    }

    /// Levenshtein distance between two character arrays.
    static func editDistance(_ a: [Character], _ b: [Character]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                let substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)
                current[j] = min(substitution, previous[j] + 1, current[j - 1] + 1)
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
