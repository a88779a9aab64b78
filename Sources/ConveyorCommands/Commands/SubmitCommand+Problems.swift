import ConveyorIngest
import Foundation

/// How `conveyor submit --file` reports the lines that did not become jobs: a short list on
/// the terminal, every one of them with `--errors FILE` or `--json`.
extension SubmitCommand {
    /// The most bad lines and duplicates the text report shows; the rest are counted.
    static let shownIssues = 20
    static let shownDuplicates = 10

    /// The text report: the file's summary, then the first bad lines and duplicates.
    static func report(_ keys: KeyFile, errorsFile: String?, on terminal: Terminal) {
        let whereTheRestAre = errorsFile.map { "all are in \($0)" } ?? "use --errors FILE or --json for all"
        terminal.line("Loaded \(keys.summary)")
        for issue in keys.issues.prefix(shownIssues) { terminal.line("  bad \(issue)") }
        if keys.issues.count > shownIssues {
            terminal.line("  … and \(keys.issues.count - shownIssues) more bad lines; \(whereTheRestAre)")
        }
        for duplicate in keys.duplicates.prefix(shownDuplicates) {
            terminal.line("  duplicate line \(duplicate.line): '\(duplicate.key)' (first on line \(duplicate.firstLine))")
        }
        if keys.duplicates.count > shownDuplicates {
            terminal.line("  … and \(keys.duplicates.count - shownDuplicates) more duplicates; \(whereTheRestAre)")
        }
        if let errorsFile {
            terminal.line("Wrote \(counted(keys.issues.count, "bad line")) and \(counted(keys.duplicates.count, "duplicate")) to \(errorsFile)")
        }
    }

    static func counted(_ number: Int, _ noun: String) -> String {
        "\(number) \(noun)\(number == 1 ? "" : "s")"
    }

    /// Writes every problem to `path`, one per line: JSON lines, or plain text when the name
    /// ends in `.txt`. The file is written even when there are none, so a script can rely on it.
    static func writeProblems(_ problems: [KeyFile.Problem], to path: String) throws {
        var output = Data()
        if path.lowercased().hasSuffix(".txt") {
            for problem in problems { output.append(Data("\(problem)\n".utf8)) }
        } else {
            let encoder = summaryEncoder()
            for problem in problems {
                output.append(try encoder.encode(problem))
                output.append(Data("\n".utf8))
            }
        }
        do {
            try output.write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw CommandError("cannot write --errors \(path): \(error.localizedDescription); check that its folder exists and is writable")
        }
    }

    /// The `--json` report, on one line. `batchID` is `nil` when nothing was submitted.
    static func summaryJSON(_ keys: KeyFile, batchID: String?, submitted: Int, alreadyQueued: Int) throws -> String {
        let summary = FileSubmission(
            file: keys.source, batch: batchID, keys: keys.keys.count, submitted: submitted, alreadyQueued: alreadyQueued,
            invalid: keys.issues.count, duplicates: keys.duplicates.count, problems: keys.problems)
        return String(decoding: try summaryEncoder().encode(summary), as: UTF8.self)
    }

    static func summaryEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        // Sorted keys: the same input gives the same bytes.
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }
}

/// What `conveyor submit --file --json` prints.
struct FileSubmission: Encodable {
    var file: String
    /// `null` when the file had no valid key and nothing was submitted.
    var batch: String?
    /// Distinct valid keys in the file.
    var keys: Int
    var submitted: Int
    /// Keys whose unique key was already queued or done.
    var alreadyQueued: Int
    var invalid: Int
    var duplicates: Int
    /// Every bad line and duplicate, in line order.
    var problems: [KeyFile.Problem]

    enum CodingKeys: String, CodingKey {
        case file, batch, keys, submitted, alreadyQueued, invalid, duplicates, problems
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(file, forKey: .file)
        try container.encode(batch, forKey: .batch)  // null rather than absent: a script can test it
        try container.encode(keys, forKey: .keys)
        try container.encode(submitted, forKey: .submitted)
        try container.encode(alreadyQueued, forKey: .alreadyQueued)
        try container.encode(invalid, forKey: .invalid)
        try container.encode(duplicates, forKey: .duplicates)
        try container.encode(problems, forKey: .problems)
    }
}
