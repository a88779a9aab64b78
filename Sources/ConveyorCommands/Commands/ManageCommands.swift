import ArgumentParser
import Conveyor
import Foundation

/// Job ids on the command line; a bad one is named.
func parseIDs(_ texts: [String]) throws -> [JobID] {
    try texts.map { text in
        guard let id = JobID(text) else { throw ValidationError("'\(text)' is not a job id (a positive number, as shown by `conveyor results`)") }
        return id
    }
}


struct RetryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retry", abstract: "Make dead (or cancelled) jobs ready again with fresh attempts.")

    @OptionGroup var storeOptions: StoreOptions
    @Argument(help: "Job ids.") var ids: [String] = []
    @Flag(help: "Every dead job (of --queue or --batch if given).") var allDead = false
    @Option(help: "Only jobs of this queue.") var queue: String?
    @Option(help: "Only jobs of this batch.") var batch: String?

    func validate() throws {
        if ids.isEmpty && !allDead && batch == nil { throw ValidationError("name job ids, or use --all-dead or --batch") }
    }

    func run() async throws {
        let backend = try storeOptions.open((any JobAdministration & JobInspection).self, for: "retry")
        let targets = try parseIDs(ids)
        var moved = targets.isEmpty ? 0 : try await backend.retry(targets).count
        var asked = targets.count
        if allDead || batch != nil {
            // A page of dead jobs per store call, so millions never go in one call.
            let dead = try await backend.retryAllDead(queue: queue, batchID: batch)
            moved += dead.moved
            asked += dead.moved + dead.stayed
        }
        print("Retrying \(moved) job(s)" + (moved < asked ? "; \(asked - moved) were not dead or cancelled, or their unique key is taken" : ""))
    }
}

struct CancelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cancel", abstract: "Cancel jobs that have not started (running jobs finish).")

    @OptionGroup var storeOptions: StoreOptions
    @Argument(help: "Job ids.") var ids: [String] = []
    @Option(help: "Cancel every waiting job of this batch.") var batch: String?

    func validate() throws {
        if ids.isEmpty && batch == nil { throw ValidationError("name job ids or a --batch") }
    }

    func run() async throws {
        let backend = try storeOptions.open((any JobAdministration & JobInspection).self, for: "cancel")
        let targets = try parseIDs(ids)
        let cancelled = targets.isEmpty ? 0 : try await backend.cancel(targets).count
        var ofBatch = 0
        if let batch { ofBatch = try await backend.cancelBatch(batch) }
        print("Cancelled \(cancelled + ofBatch) job(s)" + (cancelled < targets.count ? "; \(targets.count - cancelled) were running or already finished" : ""))
    }
}

struct PauseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "pause", abstract: "Stop workers from claiming a queue's jobs.")
    @OptionGroup var storeOptions: StoreOptions
    @Argument(help: "The queue.") var queue: String

    func run() async throws {
        try await storeOptions.open((any JobAdministration).self, for: "pause").pause(queue: queue)
        print("Paused queue '\(queue)'; running jobs finish, no new ones start. Undo with: conveyor resume \(queue)")
    }
}

struct ResumeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "resume", abstract: "Let workers claim a paused queue's jobs again.")
    @OptionGroup var storeOptions: StoreOptions
    @Argument(help: "The queue.") var queue: String

    func run() async throws {
        try await storeOptions.open((any JobAdministration).self, for: "resume").resume(queue: queue)
        print("Resumed queue '\(queue)'")
    }
}

struct PurgeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "purge", abstract: "Delete finished jobs (succeeded, dead, cancelled by default). Running jobs are never deleted.")

    @OptionGroup var storeOptions: StoreOptions
    @Option(help: "Only this queue.") var queue: String?
    @Option(parsing: .upToNextOption, help: "States to delete: scheduled ready retrying succeeded dead cancelled.")
    var state: [String] = ["succeeded", "dead", "cancelled"]
    @Option(help: "Only jobs finished longer ago than this (e.g. 7d).") var olderThan: DurationArgument?

    func run() async throws {
        let states = try state.flatMap { $0.split(separator: ",") }.map { name in
            guard let state = JobState(name: String(name)), state != .active else {
                throw ValidationError("unknown or unpurgeable state '\(name)': use scheduled, ready, retrying, succeeded, dead or cancelled")
            }
            return state
        }
        let request = PurgeRequest(queue: queue, states: states, olderThan: olderThan?.duration)
        let count = try await storeOptions.open((any JobAdministration).self, for: "purge").purge(request)
        print("Purged \(count) job(s)")
    }
}
