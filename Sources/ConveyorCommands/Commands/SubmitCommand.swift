import ArgumentParser
import Conveyor
import ConveyorIngest
import Foundation

/// `conveyor submit NAME --payload JSON` or `conveyor submit NAME --file KEYS`.
struct SubmitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Enqueue one job, or one job per key of a TXT/CSV file as one batch.",
        // Lines end in `\` so that each paragraph is one line of text, which the help wraps to the terminal.
        discussion: """
            With --file, each key becomes a job whose payload is {"<key-field>": "<key>"}, all in one batch \
            that `conveyor results` reports on. Unique keys (NAME:KEY) make a second submission of the same file \
            skip the keys already queued or done, so an interrupted submission can simply be run again.

            Bad lines and duplicates are reported with their line numbers: the first 20 bad lines and 10 duplicates \
            on the terminal. For every one of them, use --errors FILE (one per line, as JSON lines \
            {"line":N,"kind":"invalid"|"duplicate","key":"…","reason":"…"}, or as plain text when FILE ends in .txt) \
            or --json (a JSON summary on standard output instead of the text report).
            """
    )

    @OptionGroup var storeOptions: StoreOptions

    @Argument(help: "The job name, as registered with the workers (e.g. conveyor.command).")
    var name: String

    @Option(help: "The job's payload as JSON.")
    var payload: String?

    @Option(help: "A key file: one key per line (TXT) or a CSV with a header row.")
    var file: String?

    @Option(help: "The CSV column holding the keys (default: the first).")
    var column: String?

    @Option(help: "The payload field each key is put in.")
    var keyField = "key"

    @Option(help: "A regular expression every key must match (e.g. '^[0-9]{8}$'); other lines are reported as bad.")
    var pattern: String?

    @Flag(inversion: .prefixedNo, help: "Give each key's job the unique key NAME:KEY.")
    var unique = true

    @OptionGroup var settings: JobSettings

    @Option(help: "Run no earlier than this from now (e.g. 30s, 5m).")
    var delay: DurationArgument?

    @Option(help: "Unique key of a single job (--payload).")
    var uniqueKey: String?

    @Option(help: "Batch id to use instead of a generated one.")
    var batch: String?

    @Option(help: ArgumentHelp(
        "With --file: write every bad line and duplicate to this file, one per line, as JSON lines or, when the name ends in .txt, as plain text.",
        valueName: "file"))
    var errors: String?

    @Flag(help: "With --file: print a JSON summary (submitted count, batch id, every bad line and duplicate) instead of the text report.")
    var json = false

    func validate() throws {
        if payload != nil && file != nil {
            throw ValidationError("use either --payload or --file, not both")
        }
        if file == nil, errors != nil || json {
            throw ValidationError("--errors and --json report on a key file: use them with --file")
        }
    }

    func run() async throws {
        let terminal = Terminal()
        let backend = try storeOptions.open((any BatchStore).self, for: "submit")
        let client = JobClient(backend: backend)
        let delay = self.delay?.duration
        let priority = settings.priorityValue
        let queue = try settings.queue(for: name)
        let (maxAttempts, timeout) = (settings.maxAttempts, settings.timeout)

        guard let file else {
            let body = try Self.validatedJSON(payload ?? "{}")
            let result = try await client.enqueue([NewJob(
                name: name, queue: queue, payload: body, priority: priority, delay: delay,
                maxAttempts: maxAttempts, timeout: timeout.duration, uniqueKey: uniqueKey, batchID: batch,
                limitKeys: settings.limitKeys)])[0]
            terminal.line(result.isDuplicate ? "Already queued as job \(result.id) (unique key \(uniqueKey ?? ""))" : "Submitted job \(result.id)")
            return
        }

        let format: KeyFile.Format? = column.map { .csv(column: $0) }
        let keys = try KeyFile.load(contentsOf: file, format: format, configuration: .init(pattern: pattern))
        if let errors { try Self.writeProblems(keys.problems, to: errors) }
        if !json { Self.report(keys, errorsFile: errors, on: terminal) }
        guard !keys.keys.isEmpty else {
            if json { terminal.line(try Self.summaryJSON(keys, batchID: nil, submitted: 0, alreadyQueued: 0)) }
            throw CommandError("\(file): no valid keys to submit")
        }

        let batchID = batch ?? Self.makeBatchID()
        try await backend.createBatch(NewBatch(id: batchID, name: "\(name) × \(URL(fileURLWithPath: file).lastPathComponent)"))
        // Standard output carries only the summary with --json.
        let progress = json ? nil : ProgressBar(terminal: terminal, label: "Submitting")
        var created = 0
        var duplicates = 0
        let encoder = JSONEncoder()
        for chunkStart in stride(from: 0, to: keys.keys.count, by: 1000) {
            let chunk = keys.keys[chunkStart..<min(keys.keys.count, chunkStart + 1000)]
            let jobs = try chunk.map { key in
                NewJob(name: name, queue: queue, payload: try encoder.encode([keyField: key]), priority: priority,
                       delay: delay, maxAttempts: maxAttempts, timeout: timeout.duration,
                       uniqueKey: unique ? "\(name):\(key)" : nil, batchID: batchID, limitKeys: settings.limitKeys)
            }
            let results = try await client.enqueue(jobs)
            duplicates += results.filter(\.isDuplicate).count
            created += results.count - results.filter(\.isDuplicate).count
            progress?.update(done: chunkStart + chunk.count, total: keys.keys.count)
        }
        progress?.finish()
        if json {
            terminal.line(try Self.summaryJSON(keys, batchID: batchID, submitted: created, alreadyQueued: duplicates))
            return
        }
        terminal.line("Batch \(batchID): \(created) submitted" + (duplicates > 0 ? ", \(duplicates) already queued or done (unique keys)" : ""))
        terminal.line("Follow it with: conveyor batch status \(batchID) --watch   ·   conveyor batch results \(batchID)")
    }

    static func makeBatchID() -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        formatter.timeZone = TimeZone(identifier: "UTC")
        return "b-\(formatter.string(from: Date()))-\(String(UInt16.random(in: 0...UInt16.max), radix: 16))"
    }

    /// Checks that `text` is JSON and says where it is not.
    static func validatedJSON(_ text: String) throws -> Data {
        let data = Data(text.utf8)
        do {
            _ = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
            return data
        } catch {
            let reason = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "\(error)"
            throw CommandError("--payload is not valid JSON: \(reason)\n  payload: \(text.clipped(200))")
        }
    }
}
