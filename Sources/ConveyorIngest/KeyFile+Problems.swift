extension KeyFile {
    /// A line that did not become a job, bad or repeated, in one shape for reports that list
    /// them all (`conveyor submit --errors FILE`, `--json`).
    ///
    /// ```swift
    /// for problem in file.problems { print(problem) }
    /// // line 7: invalid: key contains whitespace: "09 011"
    /// // line 9: duplicate: first on line 4: "09011112"
    /// ```
    public struct Problem: Sendable, Equatable, Codable, CustomStringConvertible {
        public enum Kind: String, Sendable, Equatable, Codable {
            /// The line failed a check (``KeyFile/issues``); it was not loaded.
            case invalid
            /// The key was loaded from an earlier line (``KeyFile/duplicates``).
            case duplicate
        }

        /// The 1-based line number; for a CSV record, the line it starts on.
        public var line: Int
        public var kind: Kind
        /// The key, or for an invalid line the offending text (the trimmed line for TXT, the
        /// raw record for CSV), unshortened.
        public var key: String
        /// Why the line did not become a job, e.g. "first on line 4".
        public var reason: String

        public init(line: Int, kind: Kind, key: String, reason: String) {
            self.line = line
            self.kind = kind
            self.key = key
            self.reason = reason
        }

        /// One line whatever the key holds: line breaks and invisible characters are escaped.
        /// Unlike ``KeyFile/Issue/description`` the key is never shortened, so a report written
        /// to a file keeps all of it.
        public var description: String {
            "line \(line): \(kind.rawValue): \(reason): \"\(Issue.printable(key, limit: .max))\""
        }
    }

    /// Every bad line and every duplicate, in line order (a bad line and a duplicate never
    /// share a line).
    public var problems: [Problem] {
        var merged: [Problem] = []
        merged.reserveCapacity(issues.count + duplicates.count)
        var issueIndex = issues.startIndex
        var duplicateIndex = duplicates.startIndex
        // Both lists are already in file order: merge them instead of sorting.
        while issueIndex < issues.endIndex || duplicateIndex < duplicates.endIndex {
            let takeIssue = duplicateIndex == duplicates.endIndex
                || (issueIndex < issues.endIndex && issues[issueIndex].line <= duplicates[duplicateIndex].line)
            if takeIssue {
                let issue = issues[issueIndex]
                merged.append(Problem(line: issue.line, kind: .invalid, key: issue.text, reason: issue.reason))
                issueIndex += 1
            } else {
                let duplicate = duplicates[duplicateIndex]
                merged.append(Problem(line: duplicate.line, kind: .duplicate, key: duplicate.key,
                                      reason: "first on line \(duplicate.firstLine)"))
                duplicateIndex += 1
            }
        }
        return merged
    }
}
