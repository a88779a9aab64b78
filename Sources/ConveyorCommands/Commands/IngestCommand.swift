import ArgumentParser
import Conveyor
import ConveyorIngest
import Foundation

/// `conveyor ingest log [SOURCE]` and `conveyor ingest prune`: the ingestion log, kept in the
/// store's database (SQLite, PostgreSQL) or in the one `--log` names (a Redis deployment's).
struct IngestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "The ingestion log: every attempt to ingest a source, with its counts, checksum and error.",
        subcommands: [Log.self, Prune.self]
    )

    struct Location: ParsableArguments {
        @OptionGroup var storeOptions: StoreOptions
        @Option(help: ArgumentHelp("Where the log lives, when not in the store's database: a SQLite path or URL, or postgres://… (a Redis store keeps no log of its own).", valueName: "url"))
        var log: String?

        /// Opens the log and runs `body` with it.
        func withLog<T: Sendable>(_ body: (any IngestionLog) async throws -> T) async throws -> T {
            let url = log ?? storeOptions.url
            let scheme = StoreURL(url).scheme
            guard let provider = ConveyorCommand.ingestionLogs.first(where: { $0.schemes.contains(scheme) }) else {
                let shown = log == nil ? storeOptions.shownURL : url
                if scheme == "redis" || scheme == "rediss" || scheme == "memory" {
                    throw IngestionLogError.noLog(shown, reason: "this store keeps no ingestion log; name one with --log sqlite:PATH or --log postgres://…")
                }
                let known = ConveyorCommand.ingestionLogs.flatMap(\.schemes).filter { !$0.isEmpty }
                throw IngestionLogError.noLog(shown, reason: "this program opens ingestion logs in \(known.isEmpty ? "no database" : known.joined(separator: ", ") + " databases")")
            }
            return try await provider.withLog(url, body)
        }
    }

    struct Log: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "log", abstract: "List ingestion attempts, newest first.")
        @OptionGroup var location: Location
        @Argument(help: "Only this source.") var source: String?
        @Option(help: "Only this status: succeeded, unchanged, not-modified, html-error or failed.") var status: String?
        @Option(help: "Only attempts that started within this long ago (e.g. 24h, 7d).") var since: DurationArgument?
        @Option(help: "Start after this entry id (paging).") var before: Int64?
        @Option(help: "At most this many entries.") var limit = 50
        @Flag(help: "Print JSON.") var json = false

        func validate() throws {
            guard (1...10_000).contains(limit) else { throw ValidationError("--limit \(limit): give 1 to 10000") }
            if let status, IngestionEntry.Status(rawValue: status) == nil {
                let known = IngestionEntry.Status.allCases.map(\.rawValue).joined(separator: ", ")
                throw ValidationError("--status \(status): not a status; the statuses are \(known)")
            }
        }

        func run() async throws {
            let entries = try await location.withLog { log in
                let since: Date? = if let since = self.since {
                    try await log.now().addingTimeInterval(-since.duration.seconds)
                } else { nil }
                return try await log.entries(IngestionQuery(
                    source: source, status: status.flatMap(IngestionEntry.Status.init), since: since, before: before, limit: limit))
            }
            if json {
                try printJSON(entries)
                return
            }
            guard !entries.isEmpty else {
                print(before == nil ? "No ingestion attempts recorded\(source.map { " for \($0)" } ?? "")." : "No more entries.")
                return
            }
            print(Self.table(entries))
            if entries.count == limit, let last = entries.last {
                print("More: conveyor ingest log\(source.map { " \($0)" } ?? "") --before \(last.id)")
            }
        }

        static func table(_ entries: [IngestionEntry]) -> String {
            var table = TextTable(["ID", "SOURCE", "STARTED (UTC)", "TOOK", "STATUS", "ADDED", "UPDATED", "SKIPPED", "FAILED", "BYTES", "CHECKSUM", "ERROR"])
            let format = Date.ISO8601FormatStyle(timeZone: .gmt).year().month().day().time(includingFractionalSeconds: false)
            for entry in entries {
                let took = entry.duration.seconds
                table.add([
                    String(entry.id), entry.source, entry.startedAt.formatted(format), String(format: took < 10 ? "%.2fs" : "%.0fs", took),
                    entry.status.rawValue, String(entry.added), String(entry.updated), String(entry.skipped), String(entry.failed),
                    String(entry.bytes), entry.checksum.map { String($0.prefix(12)) } ?? "-", entry.error.map { String($0.prefix(60)) } ?? "",
                ])
            }
            return table.render()
        }
    }

    struct Prune: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "prune", abstract: "Delete log entries older than the retention (90 days by default), a bounded number per statement.")
        @OptionGroup var location: Location
        @Option(name: .customLong("older-than"), help: "Delete entries that started longer ago than this.") var olderThan = DurationArgument(.seconds(90 * 86_400))

        func run() async throws {
            let deleted = try await location.withLog { log in try await log.pruneAll(olderThan: olderThan.duration) }
            print("Deleted \(deleted) ingestion log \(deleted == 1 ? "entry" : "entries") older than \(olderThan).")
        }
    }
}
