import Foundation

/// The keys of a batch submission, loaded from a TXT or CSV file: one job per key.
///
/// Bad lines never stop a load. Every good key goes in; every bad line is reported in
/// ``issues`` with its 1-based line number and the reason; a key seen again is reported in
/// ``duplicates`` and loaded only once.
///
/// ```swift
/// let file = try KeyFile.load(contentsOf: "hsn_codes.csv", format: .csv(column: "hsn_code"),
///                             configuration: .init(pattern: "[0-9]{8}"))
/// print(file.summary)                        // "hsn_codes.csv: 11000 keys, 2 bad lines, 1 duplicate"
/// for issue in file.issues { print(issue) }  // "line 7: key contains whitespace: \"09 011\""
/// submit(file.keys)
/// ```
///
/// Both formats skip blank lines and lines whose first non-space character is `#`, accept
/// `\n`, `\r\n` and `\r` line breaks, and ignore a UTF-8 byte order mark.
public struct KeyFile: Sendable, Equatable {
    /// How the file is laid out.
    public enum Format: Sendable, Equatable {
        /// One key per line, surrounding whitespace trimmed.
        case text
        /// RFC 4180 CSV with a header row. The keys come from the column with this header name
        /// (matched after trimming, case-insensitively if there is no exact match), or from the
        /// first column when `column` is `nil`.
        case csv(column: String?)
    }

    /// A line that was not loaded, and why.
    public struct Issue: Sendable, Equatable, CustomStringConvertible {
        /// The 1-based line number; for a CSV record, the line it starts on.
        public var line: Int
        public var reason: String
        /// The offending text: the trimmed line for TXT, the raw record for CSV.
        public var text: String

        public init(line: Int, reason: String, text: String) {
            self.line = line
            self.reason = reason
            self.text = text
        }

        /// `line 7: key contains whitespace: "09 011"`, on one line whatever the text holds.
        public var description: String { "line \(line): \(reason): \"\(Self.printable(text))\"" }

        /// Shows line breaks and invisible characters as escapes and shortens long text, so a
        /// report line stays one readable terminal line.
        static func printable(_ text: String, limit: Int = 80) -> String {
            var result = ""
            var length = 0
            for scalar in text.unicodeScalars {
                guard length < limit else { return result + "…" }
                switch scalar {
                case "\n": result += "\\n"
                case "\r": result += "\\r"
                case "\t": result += "\\t"
                default:
                    let category = scalar.properties.generalCategory
                    if category == .control || category == .format {
                        result += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
                    } else {
                        result.unicodeScalars.append(scalar)
                    }
                }
                length += 1
            }
            return result
        }
    }

    /// A key found again on `line`, first found on `firstLine`. Only the first is loaded.
    public struct Duplicate: Sendable, Equatable {
        public var key: String
        public var line: Int
        public var firstLine: Int

        public init(key: String, line: Int, firstLine: Int) {
            self.key = key
            self.line = line
            self.firstLine = firstLine
        }
    }

    /// Checks every key must pass.
    public struct Configuration: Sendable, Equatable {
        /// The longest key accepted, in characters.
        public var maximumKeyLength: Int
        /// A regular expression every key must match in full, e.g. `[0-9]{8}` or `^[0-9]{8}$`
        /// (anchors are optional). Compiled once per load.
        public var pattern: String?

        public init(maximumKeyLength: Int = 256, pattern: String? = nil) {
            self.maximumKeyLength = maximumKeyLength
            self.pattern = pattern
        }
    }

    /// The good keys in file order, each once (the first occurrence is kept).
    public var keys: [String]
    /// The line number of each key in ``keys``.
    public var keyLines: [Int]
    /// The bad lines, in file order.
    public var issues: [Issue]
    /// Repeated keys, in file order.
    public var duplicates: [Duplicate]
    /// The file path, or `"<input>"` for parsed text.
    public var source: String

    public init(source: String, keys: [String] = [], keyLines: [Int] = [], issues: [Issue] = [], duplicates: [Duplicate] = []) {
        self.source = source
        self.keys = keys
        self.keyLines = keyLines
        self.issues = issues
        self.duplicates = duplicates
    }

    /// One line for the terminal, e.g. `hsn.txt: 14 keys, 2 bad lines, 1 duplicate`.
    public var summary: String {
        "\(source): \(Self.count(keys.count, "key")), \(Self.count(issues.count, "bad line")), \(Self.count(duplicates.count, "duplicate"))"
    }

    static func count(_ number: Int, _ noun: String) -> String {
        "\(number) \(noun)\(number == 1 ? "" : "s")"
    }
}

// MARK: - Loading

extension KeyFile {
    /// Reads and parses a key file.
    ///
    /// Without a `format`, a file whose name ends in `.csv` is read as CSV keyed by its first
    /// column, anything else as TXT.
    ///
    /// ```swift
    /// let file = try KeyFile.load(contentsOf: "hsn.txt", configuration: .init(pattern: "[0-9]{8}"))
    /// ```
    ///
    /// - Throws: ``KeyFileError`` when the file as a whole cannot be used: missing, not UTF-8,
    ///   a CSV without a usable header or the requested column, or an invalid `pattern`.
    ///   Bad lines do not throw; they are reported in ``issues``.
    public static func load(contentsOf path: String, format: Format? = nil, configuration: Configuration = .init()) throws -> KeyFile {
        let text = try decode(try contents(of: path), path: path)
        return try parse(text, format: format ?? defaultFormat(forPath: path), source: path, configuration: configuration)
    }

    /// Parses key file text already in memory.
    ///
    /// ```swift
    /// let file = try KeyFile.parse("hsn_code,name\n09011112,\"Coffee, not roasted\"\n", format: .csv(column: "hsn_code"))
    /// // file.keys == ["09011112"], file.keyLines == [2]
    /// ```
    ///
    /// - Parameter source: The name used in ``summary`` and in error messages.
    public static func parse(_ text: String, format: Format, source: String = "<input>", configuration: Configuration = .init()) throws -> KeyFile {
        var collector = KeyCollector(source: source, validator: try KeyValidator(configuration, format: format))
        let bytes = withoutByteOrderMark(Array(text.utf8))
        switch format {
        case .text:
            readText(bytes, into: &collector)
        case .csv(let column):
            try readCSV(bytes, column: column, source: source, into: &collector)
        }
        return collector.file
    }

    static func defaultFormat(forPath path: String) -> Format {
        path.lowercased().hasSuffix(".csv") ? .csv(column: nil) : .text
    }

    static func withoutByteOrderMark(_ bytes: [UInt8]) -> ArraySlice<UInt8> {
        bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? bytes.dropFirst(3) : bytes[...]
    }

    /// Reads the file, turning the usual failures into messages a user can act on.
    static func contents(of path: String) throws -> Data {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw KeyFileError.unreadable(path: path, reason: "no such file; check the path")
        }
        guard !isDirectory.boolValue else {
            throw KeyFileError.unreadable(path: path, reason: "is a directory; give the key file inside it")
        }
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            let reason = FileManager.default.isReadableFile(atPath: path)
                ? "cannot be read (\(error.localizedDescription))"
                : "permission denied; check the file's permissions"
            throw KeyFileError.unreadable(path: path, reason: reason)
        }
    }

    /// Decodes UTF-8, saying where the file is not: a spreadsheet saved as Latin-1 or
    /// UTF-16 should fail with a pointer to the problem, not load mangled keys.
    static func decode(_ data: Data, path: String) throws -> String {
        let bytes = [UInt8](data)
        if bytes.starts(with: [0xFF, 0xFE]) || bytes.starts(with: [0xFE, 0xFF]) {
            throw KeyFileError.unreadable(path: path, reason: "is UTF-16 text; save it as UTF-8")
        }
        if let (offset, line) = firstNUL(in: bytes) {
            // Valid UTF-8, but no text file holds NULs: it is UTF-16 without a byte order mark,
            // or binary. Rejecting it beats reporting every line as bad.
            throw KeyFileError.unreadable(
                path: path, reason: "contains a NUL byte at offset \(offset) (line \(line)); is it UTF-16 or binary? save it as UTF-8 text")
        }
        if let text = String(validating: bytes, as: UTF8.self) { return text }
        let (offset, line) = firstInvalidUTF8(in: bytes)
        let byte = "0x" + String(bytes[offset], radix: 16, uppercase: true)
        throw KeyFileError.unreadable(
            path: path, reason: "is not UTF-8 text: invalid byte \(byte) at offset \(offset) (line \(line)); save it as UTF-8")
    }

    static func firstNUL(in bytes: [UInt8]) -> (offset: Int, line: Int)? {
        guard let offset = bytes.firstIndex(of: 0) else { return nil }
        return (offset, lineNumber(ofOffset: offset, in: bytes))
    }

    /// Only called once decoding has failed, so the slow scalar-by-scalar walk costs nothing
    /// on good files.
    static func firstInvalidUTF8(in bytes: [UInt8]) -> (offset: Int, line: Int) {
        var iterator = bytes.makeIterator()
        var parser = Unicode.UTF8.ForwardParser()
        var offset = 0
        while case .valid(let scalar) = parser.parseScalar(from: &iterator) {
            offset += scalar.count
        }
        return (offset, lineNumber(ofOffset: offset, in: bytes))
    }

    static func lineNumber(ofOffset offset: Int, in bytes: [UInt8]) -> Int {
        bytes[..<offset].reduce(1) { $1 == ASCII.lf ? $0 + 1 : $0 }
    }
}

// MARK: - Errors

/// Why a key file cannot be used at all. Problems with single lines are not errors: they are
/// reported in ``KeyFile/issues``.
public enum KeyFileError: Error, CustomStringConvertible, Equatable {
    /// The file is missing, unreadable, or not UTF-8 text; `reason` says which and where.
    case unreadable(path: String, reason: String)
    /// The CSV header has no column named `column`; `available` lists the ones it has.
    case missingColumn(path: String, column: String, available: [String])
    /// The CSV has no header row, or its header names no columns.
    case emptyHeader(path: String)
    /// The CSV header row itself is malformed, e.g. an unterminated quote.
    case malformedHeader(path: String, line: Int, reason: String)
    /// ``KeyFile/Configuration/pattern`` is not a valid regular expression.
    case invalidPattern(pattern: String, reason: String)

    public var description: String {
        switch self {
        case .unreadable(let path, let reason):
            "cannot load keys from \(path): \(reason)"
        case .missingColumn(let path, let column, let available):
            "key file \(path): no column '\(column)' in the header; it has: "
                + available.map { "'\($0)'" }.joined(separator: ", ")
                + ". Choose one of them as the key column (--column)"
        case .emptyHeader(let path):
            "key file \(path): no CSV header row; the first line must name the columns, e.g. hsn_code,description"
        case .malformedHeader(let path, let line, let reason):
            "key file \(path), line \(line): bad CSV header row (\(reason)); fix the header"
        case .invalidPattern(let pattern, let reason):
            "invalid key pattern '\(pattern)': \(reason); give a regular expression every key must match, e.g. [0-9]{8}"
        }
    }
}

/// The bytes the scanners look for. Key files are UTF-8, where these never occur inside a
/// multi-byte character, so scanning bytes is safe and much faster than scanning `Character`s.
enum ASCII {
    static let tab: UInt8 = 0x09
    static let lf: UInt8 = 0x0A
    static let cr: UInt8 = 0x0D
    static let space: UInt8 = 0x20
    static let quote: UInt8 = 0x22
    static let hash: UInt8 = 0x23
    static let comma: UInt8 = 0x2C
}
