import ArgumentParser
import Conveyor
import Foundation

/// `conveyor batch list | status ID | results ID | recover ID | cancel ID`.
struct BatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batch",
        abstract: "Follow and manage batches: list, status, results, recover, cancel.",
        subcommands: [List.self, Status.self, Results.self, Recover.self, Cancel.self]
    )

    static func find(_ id: String, in backend: any BatchStore, store: String) async throws -> Batch {
        guard let batch = try await backend.batch(id) else {
            throw CommandError("no batch '\(id)' in \(store); see: conveyor batch list")
        }
        return batch
    }

    static func line(_ batch: Batch) -> String {
        var parts = [
            String(format: "%.1f%% done", batch.percentDone),
            "\(batch.finished)/\(batch.total) finished",
            "\(batch[.succeeded]) succeeded", "\(batch[.dead]) dead", "\(batch[.cancelled]) cancelled",
            "\(batch[.active]) active", "\(batch[.retrying]) retrying", "\(batch.pending) pending",
        ]
        if let left = batch.estimatedTimeLeft(), !batch.isFinished { parts.append("about \(left.formatted) left") }
        return parts.joined(separator: " · ")
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The newest batches with their progress.")
        @OptionGroup var storeOptions: StoreOptions
        @Option(help: "Most batches listed.") var limit = 20

        func run() async throws {
            let batches = try await storeOptions.open((any BatchStore).self, for: "batch list").batches(limit: limit)
            guard !batches.isEmpty else {
                print("No batches yet. Submit one with: conveyor submit NAME --file KEYS")
                return
            }
            var table = TextTable(["batch", "name", "total", "succeeded", "dead", "cancelled", "unfinished", "done", "created"])
            for batch in batches {
                table.add([
                    batch.id, batch.name ?? "", "\(batch.total)", "\(batch[.succeeded])", "\(batch[.dead])", "\(batch[.cancelled])",
                    "\(batch.total - batch.finished)", String(format: "%.0f%%", batch.percentDone), StatusCommand.age(batch.createdAt) + " ago",
                ])
            }
            print(table.render())
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A batch's counters, percent done and time left.")
        @OptionGroup var storeOptions: StoreOptions
        @Argument(help: "The batch id.") var id: String
        @Flag(help: "Show a live progress bar until the batch finishes.") var watch = false

        func run() async throws {
            let backend = try storeOptions.open((any BatchStore & JobInspection).self, for: "batch status")
            var batch = try await BatchCommand.find(id, in: backend, store: storeOptions.shownURL)
            print("Batch \(batch.id)" + (batch.name.map { " (\($0))" } ?? ""))
            if watch && !batch.isFinished {
                let progress = ProgressBar(terminal: Terminal(), label: "  progress")
                for try await update in backend.progress(ofBatch: id) {
                    batch = update
                    progress.update(done: update.finished, total: update.total,
                                    detail: "\(update[.succeeded]) ok · \(update[.dead]) dead" + (update.estimatedTimeLeft().map { " · ~\($0.formatted) left" } ?? ""))
                }
                progress.finish()
            }
            print("  " + BatchCommand.line(batch))
            if let finished = batch.finishedAt {
                print("  finished \(StatusCommand.age(finished)) ago, after \(Duration.microseconds(Int64(finished.timeIntervalSince(batch.createdAt) * 1_000_000)).formatted)")
            }
            if let job = batch.onSuccessJob { print("  on success: job \(job)") }
            if let job = batch.onCompleteJob { print("  on completion: job \(job)") }
        }
    }

    struct Results: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A batch's jobs with their outputs or errors.")
        @OptionGroup var storeOptions: StoreOptions
        @Argument(help: "The batch id.") var id: String
        @Option(help: "Most jobs listed.") var limit = 50
        @Flag(help: "List only dead and retrying jobs.") var failed = false

        func run() async throws {
            let backend = try storeOptions.open((any BatchStore & JobInspection).self, for: "batch results")
            let batch = try await BatchCommand.find(id, in: backend, store: storeOptions.shownURL)
            let jobs = try await backend.jobs(JobQuery(states: failed ? [.dead, .retrying] : nil, batchID: id, limit: limit))
            print(ResultsCommand.report(summary: batch, jobs: jobs, limit: limit))
        }
    }

    struct Recover: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Re-enqueue a batch's dead jobs, optionally only those whose last error was retryable.")
        @OptionGroup var storeOptions: StoreOptions
        @Argument(help: "The batch id.") var id: String
        @Flag(help: "Skip jobs that failed permanently (bad input, unknown job).") var retryableOnly = false

        func run() async throws {
            let backend = try storeOptions.open((any BatchStore).self, for: "batch recover")
            let batch = try await BatchCommand.find(id, in: backend, store: storeOptions.shownURL)
            let moved = try await backend.recoverBatch(id, onlyRetryable: retryableOnly)
            let skipped = batch[.dead] - moved.count
            print("Re-enqueued \(moved.count) dead job(s) of batch \(id)" + (skipped > 0 ? "; \(skipped) left dead" + (retryableOnly ? " (permanent failures)" : "") : ""))
        }
    }

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Cancel a batch's jobs that have not started (running ones finish).")
        @OptionGroup var storeOptions: StoreOptions
        @Argument(help: "The batch id.") var id: String

        func run() async throws {
            let backend = try storeOptions.open((any BatchStore & JobAdministration & JobInspection).self, for: "batch cancel")
            _ = try await BatchCommand.find(id, in: backend, store: storeOptions.shownURL)
            let cancelled = try await backend.cancelBatch(id)
            print("Cancelled \(cancelled) job(s) of batch \(id)")
        }
    }
}
