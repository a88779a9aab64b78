import ArgumentParser
import Conveyor
import Foundation

/// `conveyor results [BATCH]`: the finished and failed jobs of a submission.
struct ResultsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "results",
        abstract: "Show a submission's jobs with their outputs or errors (default: the latest submission)."
    )

    @OptionGroup var storeOptions: StoreOptions

    @Argument(help: "The batch id printed by `submit` (default: the latest).")
    var batch: String?

    @Option(help: "Most jobs listed.")
    var limit = 50

    @Flag(help: "List only dead and retrying jobs.")
    var failed = false

    @Flag(help: "Wait until every job of the batch has finished.")
    var wait = false

    @Flag(help: "Print one JSON object per job instead of a table.")
    var json = false

    func run() async throws {
        let backend = try storeOptions.open((any BatchStore & JobInspection).self, for: "results")
        let terminal = Terminal()
        let latest = batch == nil ? try await backend.batches(limit: 50).first(where: { $0.total > 0 })?.id : nil
        guard let batchID = batch ?? latest else {
            throw CommandError("no submissions in \(storeOptions.shownURL) yet; submit some with: conveyor submit NAME --file KEYS")
        }
        if wait {
            let progress = ProgressBar(terminal: terminal, label: "Waiting")
            while true {
                let generation = backend.completionSignal.generation
                let summary = try await backend.batch(batchID) ?? Batch(id: batchID)
                progress.update(done: summary.finished, total: summary.total)
                if summary.isFinished || summary.total == 0 { break }
                await backend.completionSignal.wait(after: generation, timeout: .seconds(1))
            }
            progress.finish()
        }
        guard let summary = try await backend.batch(batchID), summary.total > 0 else { throw CommandError("no jobs in batch '\(batchID)' in \(storeOptions.shownURL)") }
        let states: [JobState]? = failed ? [.dead, .retrying] : nil
        let jobs = try await backend.jobs(JobQuery(states: states, batchID: batchID, limit: limit))
        if json {
            for job in jobs { terminal.line(Self.json(job)) }
            return
        }
        terminal.line(Self.report(summary: summary, jobs: jobs, limit: limit))
    }

    static func report(summary: Batch, jobs: [JobRecord], limit: Int) -> String {
        var lines = [
            "Batch \(summary.id)",
            "Total: \(summary.total)   Succeeded: \(summary[.succeeded])   Dead: \(summary[.dead])   Cancelled: \(summary[.cancelled])   Pending: \(summary.total - summary.finished)",
            "",
        ]
        var table = TextTable(["id", "key", "state", "attempts", "result or error"])
        for job in jobs {
            let outcome: String
            switch job.state {
            case .succeeded: outcome = job.result.map { String(decoding: $0, as: UTF8.self) } ?? ""
            case .dead, .retrying: outcome = job.lastError?.description ?? ""
            default: outcome = ""
            }
            table.add(["\(job.id)", keyOf(job).clipped(24), job.state.description, "\(job.attempt)/\(job.maxAttempts)", outcome.clipped(80)])
        }
        lines.append(table.render())
        if summary.total > jobs.count && jobs.count == limit {
            lines.append("… first \(limit) shown; use --limit or --json for more")
        }
        return lines.joined(separator: "\n")
    }

    /// The key a job was submitted for: its payload's `key` field, or its only field, else the payload.
    static func keyOf(_ job: JobRecord) -> String {
        if let object = try? JSONSerialization.jsonObject(with: job.payload) as? [String: Any],
           let value = object["key"] ?? (object.count == 1 ? object.values.first : nil) {
            return "\(value)"
        }
        return String(decoding: job.payload, as: UTF8.self)
    }

    static func json(_ job: JobRecord) -> String {
        var object: [String: Any] = [
            "id": job.id.rawValue, "name": job.name, "queue": job.queue, "state": job.state.description,
            "attempt": job.attempt, "maxAttempts": job.maxAttempts,
            "payload": (try? JSONSerialization.jsonObject(with: job.payload, options: .fragmentsAllowed)) ?? NSNull(),
        ]
        if let result = job.result { object["result"] = (try? JSONSerialization.jsonObject(with: result, options: .fragmentsAllowed)) ?? NSNull() }
        if let error = job.lastError { object["error"] = ["kind": error.kind.rawValue, "message": error.message] }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}
