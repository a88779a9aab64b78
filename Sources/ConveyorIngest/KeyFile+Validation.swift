/// Builds a ``KeyFile`` line by line: validates each key, keeps the first of each duplicate.
struct KeyCollector {
    private(set) var file: KeyFile
    let validator: KeyValidator
    /// The line each key was first loaded from. A dictionary keeps duplicate checks O(1),
    /// so 100,000-line files load in linear time.
    private var firstLines: [String: Int] = [:]

    init(source: String, validator: KeyValidator) {
        file = KeyFile(source: source)
        self.validator = validator
    }

    /// Loads `key` from `line`, or reports why not. `text` is what an issue shows.
    mutating func add(_ key: String, line: Int, text: String) {
        if let reason = validator.problem(with: key) {
            reject(line: line, reason: reason, text: text)
        } else if let firstLine = firstLines[key] {
            file.duplicates.append(KeyFile.Duplicate(key: key, line: line, firstLine: firstLine))
        } else {
            firstLines[key] = line
            file.keys.append(key)
            file.keyLines.append(line)
        }
    }

    mutating func reject(line: Int, reason: String, text: String) {
        file.issues.append(KeyFile.Issue(line: line, reason: reason, text: text))
    }
}

/// The checks every key must pass, in both formats.
struct KeyValidator {
    let maximumLength: Int
    /// Compiled once per load: compiling per line would dominate the load time.
    let pattern: (source: String, regex: Regex<AnyRegexOutput>)?
    /// In a TXT file a comma or quote most likely means a CSV file was loaded as TXT, and the
    /// reason says so.
    let isText: Bool

    init(_ configuration: KeyFile.Configuration, format: KeyFile.Format) throws {
        maximumLength = configuration.maximumKeyLength
        isText = format == .text
        if let source = configuration.pattern {
            do {
                pattern = (source, try Regex(source))
            } catch {
                throw KeyFileError.invalidPattern(pattern: source, reason: "\(error)")
            }
        } else {
            pattern = nil
        }
    }

    /// Why `key` (already trimmed, not empty) is bad, or `nil` if it is good.
    func problem(with key: String) -> String? {
        if let flaw = firstFlaw(in: key) { return reason(for: flaw) }
        let length = key.count
        if length > maximumLength {
            return "key is \(length) characters long, more than the maximum of \(maximumLength)"
        }
        if let pattern, (try? pattern.regex.wholeMatch(in: key)) == nil {
            return "key does not match the pattern \(pattern.source)"
        }
        return nil
    }

    /// A character no key may hold, worst first: a separator says most about what went wrong
    /// (a CSV read as TXT), invisible characters least.
    enum Flaw: Comparable {
        case comma
        case quote
        case whitespace(Unicode.Scalar)
        case control(Unicode.Scalar)
        case invisible(Unicode.Scalar)
    }

    func firstFlaw(in key: String) -> Flaw? {
        var worst: Flaw?
        for scalar in key.unicodeScalars {
            guard let flaw = Self.flaw(scalar) else { continue }
            if flaw == .comma { return flaw }
            if worst.map({ flaw < $0 }) ?? true { worst = flaw }
        }
        return worst
    }

    static func flaw(_ scalar: Unicode.Scalar) -> Flaw? {
        switch scalar {
        case ",": return .comma
        case "\"": return .quote
        case "!"..."~": return nil  // printable ASCII: the fast path for almost every key
        default: break
        }
        if isWhitespace(scalar) { return .whitespace(scalar) }
        switch scalar.properties.generalCategory {
        case .control: return .control(scalar)
        case .format: return .invisible(scalar)  // zero-width space, stray byte order mark…
        default: return nil
        }
    }

    func reason(for flaw: Flaw) -> String {
        let csvHint = " (is this a CSV file? load it as CSV and choose the key column)"
        switch flaw {
        case .comma: return "key contains a comma" + (isText ? csvHint : "")
        case .quote: return "key contains a quote" + (isText ? csvHint : "")
        case .whitespace(" "): return "key contains whitespace"
        case .whitespace("\t"): return "key contains whitespace (a tab)"
        case .whitespace("\n"), .whitespace("\r"): return "key contains a line break"
        case .whitespace(let scalar): return "key contains whitespace (\(Self.codePoint(scalar)))"
        case .control(let scalar): return "key contains a control character (\(Self.codePoint(scalar)))"
        case .invisible(let scalar): return "key contains an invisible character (\(Self.codePoint(scalar)))"
        }
    }

    /// `U+00A0`: names characters the user cannot see in their editor.
    static func codePoint(_ scalar: Unicode.Scalar) -> String {
        let hex = String(scalar.value, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }
}
