import Foundation

/// The keys of a batch submission, loaded from a TXT or CSV file.
///
/// Bad lines never stop a load: every good key goes in, every bad line is reported with
/// its 1-based line number and the reason, and repeated keys are reported as duplicates.
///
/// ```swift
/// let file = try KeyFile.load(contentsOf: "hsn_codes.csv", format: .csv(column: "hsn_code"))
/// print(file.summary)                 // "hsn_codes.csv: 11000 keys, 2 bad lines, 1 duplicate"
/// for issue in file.issues { print(issue) }   // "line 7: key contains whitespace: \"09 011\""
/// ```
public struct KeyFile: Sendable {
    public enum Format: Sendable, Equatable {
        /// One key per line; blank lines and `#` comments are skipped.
        case text
        /// A header row, then records; the keys come from `column` (the first column when `nil`).
        case csv(column: String?)
    }

    /// A line that was not loaded, and why.
    public struct Issue: Sendable, Equatable, CustomStringConvertible {
        public var line: Int
        public var reason: String
        public var text: String
        public var description: String { "line \(line): \(reason): \"\(text.count > 80 ? String(text.prefix(79)) + "…" : text)\"" }
    }

    /// A key seen again on `line`, first seen on `firstLine`.
    public struct Duplicate: Sendable, Equatable {
        public var key: String
        public var line: Int
        public var firstLine: Int
    }

    public struct Configuration: Sendable {
        public var maximumKeyLength: Int
        /// A regular expression every key must match in full, e.g. `^[0-9]{8}$`.
        public var pattern: String?
        public init(maximumKeyLength: Int = 256, pattern: String? = nil) {
            self.maximumKeyLength = maximumKeyLength
            self.pattern = pattern
        }
    }

    /// Good keys in file order, each once.
    public var keys: [String] = []
    /// The line of each key in `keys`.
    public var keyLines: [Int] = []
    public var issues: [Issue] = []
    public var duplicates: [Duplicate] = []
    public var source: String

    public var summary: String {
        var parts = ["\(keys.count) key\(keys.count == 1 ? "" : "s")"]
        if !issues.isEmpty { parts.append("\(issues.count) bad line\(issues.count == 1 ? "" : "s")") }
        if !duplicates.isEmpty { parts.append("\(duplicates.count) duplicate\(duplicates.count == 1 ? "" : "s")") }
        return "\(source): " + parts.joined(separator: ", ")
    }

    /// Loads a file. Without a format, a `.csv` file is read as CSV keyed by its first column,
    /// anything else as TXT.
    public static func load(contentsOf path: String, format: Format? = nil, configuration: Configuration = .init()) throws -> KeyFile {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            let reason = FileManager.default.fileExists(atPath: path) ? "cannot be read (\(error.localizedDescription))" : "no such file"
            throw KeyFileError.unreadable(path: path, reason: reason)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw KeyFileError.unreadable(path: path, reason: "not UTF-8 text (first bad byte on line \(firstInvalidUTF8Line(data)))")
        }
        let chosen = format ?? (path.lowercased().hasSuffix(".csv") ? .csv(column: nil) : .text)
        return try parse(text, format: chosen, source: path, configuration: configuration)
    }

    public static func parse(_ text: String, format: Format, source: String = "<input>", configuration: Configuration = .init()) throws -> KeyFile {
        var file = KeyFile(source: source)
        let validator = try KeyValidator(configuration)
        var firstSeen: [String: Int] = [:]
        let accept = { (key: String, line: Int, file: inout KeyFile) in
            if let first = firstSeen[key] {
                file.duplicates.append(Duplicate(key: key, line: line, firstLine: first))
            } else {
                firstSeen[key] = line
                file.keys.append(key)
                file.keyLines.append(line)
            }
        }
        var body = Substring(text)
        if body.hasPrefix("\u{FEFF}") { body = body.dropFirst() }
        switch format {
        case .text:
            for (index, rawLine) in lines(body).enumerated() {
                let line = index + 1
                let key = rawLine.trimmingCharacters(in: .whitespaces)
                if key.isEmpty || key.hasPrefix("#") { continue }
                if let reason = validator.problem(key, textFile: true) {
                    file.issues.append(Issue(line: line, reason: reason, text: String(rawLine)))
                } else {
                    accept(key, line, &file)
                }
            }
        case .csv(let column):
            try parseCSV(body, column: column, source: source, validator: validator, file: &file, accept: accept)
        }
        return file
    }

    /// Splits on `\n`, dropping a `\r` before it.
    static func lines(_ text: Substring) -> [Substring] {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last == "" { lines.removeLast() }
        return lines.map { $0.hasSuffix("\r") ? $0.dropLast() : $0 }
    }

    static func firstInvalidUTF8Line(_ data: Data) -> Int {
        var line = 1
        var index = data.startIndex
        while index < data.endIndex {
            let end = data[index...].firstIndex(of: 0x0A) ?? data.endIndex
            if String(data: data[index..<end], encoding: .utf8) == nil { return line }
            line += 1
            index = end < data.endIndex ? data.index(after: end) : end
        }
        return line
    }
}

/// Errors that stop a load: the file as a whole cannot be used.
public enum KeyFileError: Error, CustomStringConvertible, Equatable {
    case unreadable(path: String, reason: String)
    case missingColumn(path: String, column: String, available: [String])
    case emptyHeader(path: String)
    case invalidPattern(String, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason):
            "key file \(path): \(reason)"
        case .missingColumn(let path, let column, let available):
            "key file \(path): no column '\(column)' in the header; it has: \(available.map { "'\($0)'" }.joined(separator: ", ")). Choose one with --column"
        case .emptyHeader(let path):
            "key file \(path): the CSV has no header row; its first line must name the columns"
        case .invalidPattern(let pattern, let reason):
            "invalid key pattern '\(pattern)': \(reason)"
        }
    }
}

/// Checks one key; returns the reason it is bad, or `nil`.
struct KeyValidator {
    let configuration: KeyFile.Configuration
    let regex: NSRegularExpression?

    init(_ configuration: KeyFile.Configuration) throws {
        self.configuration = configuration
        if let pattern = configuration.pattern {
            do {
                regex = try NSRegularExpression(pattern: pattern)
            } catch {
                throw KeyFileError.invalidPattern(pattern, reason: "\(error.localizedDescription)")
            }
        } else {
            regex = nil
        }
    }

    func problem(_ key: String, textFile: Bool) -> String? {
        if key.isEmpty { return "empty key" }
        if key.utf8.count > configuration.maximumKeyLength {
            return "key is \(key.utf8.count) bytes, longer than the limit of \(configuration.maximumKeyLength)"
        }
        if textFile, key.contains(where: { $0 == "," || $0 == "\"" || $0 == ";" || $0 == "\t" }) {
            return "key contains a separator or quote (is this a CSV file? use --column)"
        }
        if key.unicodeScalars.contains(where: { CharacterSet.controlCharacters.contains($0) }) {
            return "key contains a control character"
        }
        if key.contains(where: \.isWhitespace) { return "key contains whitespace" }
        if let regex, let pattern = configuration.pattern {
            let range = NSRange(key.startIndex..., in: key)
            let match = regex.firstMatch(in: key, options: [.anchored], range: range)
            if match?.range != range { return "key does not match the pattern \(pattern)" }
        }
        return nil
    }
}
