import Conveyor
import Foundation

/// A command line fixed when the worker starts, with `{field}` placeholders filled from
/// each job's payload. Every value becomes (part of) one argument: no shell is involved,
/// so a payload can never inject a command.
///
/// ```swift
/// let template = try CommandTemplate("python3 scrape.py --hsn {key}")
/// try template.arguments(for: ["key": "09011112"])   // ["python3", "scrape.py", "--hsn", "09011112"]
/// ```
public struct CommandTemplate: Sendable, Hashable, CustomStringConvertible {
    public enum Error: Swift.Error, CustomStringConvertible, Equatable {
        case empty
        case unterminatedQuote(String)
        case missingField(String, template: String, available: [String])
        case unsupportedValue(String)

        public var description: String {
            switch self {
            case .empty: "the command template is empty"
            case .unterminatedQuote(let template): "the command template has an unterminated quote: \(template)"
            case .missingField(let field, let template, let available):
                "the job's payload has no field '\(field)' for the command template '\(template)'"
                    + (available.isEmpty ? "" : " (payload fields: \(available.sorted().joined(separator: ", ")))")
            case .unsupportedValue(let field): "payload field '\(field)' must be a string, number or boolean to go on a command line"
            }
        }
    }

    public let text: String
    /// The words of the template, split like a shell would (single and double quotes, backslash).
    public let words: [String]

    public init(_ text: String) throws {
        self.text = text
        var words: [String] = []
        var current = ""
        var inWord = false
        var quote: Character?
        var escaped = false
        for character in text {
            if escaped {
                current.append(character)
                escaped = false
            } else if character == "\\" && quote != "'" {
                escaped = true
                inWord = true
            } else if let open = quote {
                if character == open { quote = nil } else { current.append(character) }
            } else if character == "'" || character == "\"" {
                quote = character
                inWord = true
            } else if character.isWhitespace {
                if inWord { words.append(current) }
                current = ""
                inWord = false
            } else {
                current.append(character)
                inWord = true
            }
        }
        guard quote == nil else { throw Error.unterminatedQuote(text) }
        if inWord { words.append(current) }
        guard !words.isEmpty else { throw Error.empty }
        self.words = words
    }

    public var description: String { text }

    /// The argument vector for one job.
    public func arguments(for payload: [String: Any]) throws -> [String] {
        try words.map { word in
            var result = ""
            var rest = Substring(word)
            while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
                result += rest[..<open]
                let field = String(rest[rest.index(after: open)..<close])
                guard let value = payload[field] else {
                    throw Error.missingField(field, template: text, available: Array(payload.keys))
                }
                switch value {
                case let string as String: result += string
                case let number as NSNumber: result += number.stringValue
                default: throw Error.unsupportedValue(field)
                }
                rest = rest[rest.index(after: close)...]
            }
            return result + rest
        }
    }
}
