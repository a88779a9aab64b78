import ArgumentParser
import Conveyor
import ConveyorIngest
import Foundation
import Logging
import Synchronization

/// The `conveyor` command line, reusable by programs that add their own job types.
///
/// ```swift
/// @main struct MyApp {
///     static func main() async {
///         var jobs = JobRegistry()
///         jobs.register(ExportHSN.self)
///         // `swift run my-app worker --store redis://…` runs ExportHSN; only Redis is linked.
///         await ConveyorCommand.main(registry: jobs, stores: [RedisStoreProvider()])
///     }
/// }
/// ```
public struct ConveyorCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "conveyor",
        abstract: "Durable job queues and batch processing.",
        discussion: "The store is chosen by --store or CONVEYOR_URL; by default ./conveyor.sqlite.",
        subcommands: [
            SubmitCommand.self, StatusCommand.self, ResultsCommand.self, RetryCommand.self, CancelCommand.self,
            PauseCommand.self, ResumeCommand.self, PurgeCommand.self, BatchCommand.self, ScheduleCommand.self, LimitsCommand.self, CircuitsCommand.self, IngestCommand.self, WorkerCommand.self,
            DemoCommand.self,
        ]
    )

    public init() {}

    /// The job types of the program embedding these commands (beside the built-in ones).
    static let userRegistry = Mutex(JobRegistry())

    public static var registry: JobRegistry { userRegistry.withLock { $0 } }

    /// The stores `--store` can name, set by the program (the `conveyor` binary passes SQLite
    /// and Redis), so a program that embeds these commands links only the stores it uses.
    static let userStores = Mutex(StoreProviders([]))

    public static var stores: StoreProviders { userStores.withLock { $0 } }

    /// Where `conveyor ingest` can open an ingestion log (the `conveyor` binary: SQLite and PostgreSQL).
    static let userIngestionLogs = Mutex<[any IngestionLogProvider]>([])

    public static var ingestionLogs: [any IngestionLogProvider] { userIngestionLogs.withLock { $0 } }

    /// Runs the command line with `registry`'s job types available to `worker`, and `stores`
    /// (with the memory store) as what `--store` can open.
    public static func main(registry: JobRegistry, stores: [any StoreProvider], ingestionLogs: [any IngestionLogProvider] = [],
                            arguments: [String]? = nil) async {
        userRegistry.withLock { $0 = registry }
        userStores.withLock { $0 = StoreProviders(stores) }
        userIngestionLogs.withLock { $0 = ingestionLogs }
        await main(arguments)
    }

    /// Parses and runs one command line and returns its exit code (for tests and embedding).
    public static func run(arguments: [String], registry: JobRegistry? = nil, stores: [any StoreProvider]? = nil,
                           ingestionLogs: [any IngestionLogProvider]? = nil) async -> Int32 {
        if let registry { userRegistry.withLock { $0 = registry } }
        if let stores { userStores.withLock { $0 = StoreProviders(stores) } }
        if let ingestionLogs { userIngestionLogs.withLock { $0 = ingestionLogs } }
        do {
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
            return 0
        } catch {
            let code = exitCode(for: error)
            if code.rawValue != 0 {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
            } else {
                let message = fullMessage(for: error)
                if !message.isEmpty { print(message) }
            }
            return code.rawValue
        }
    }
}

/// Sets up swift-log once, to standard error, at the level asked for.
enum Logs {
    private static let configured = Mutex(false)

    static func bootstrap(level: Logger.Level) {
        configured.withLock { done in
            guard !done else { return }
            done = true
            LoggingSystem.bootstrap { label in
                var handler = StreamLogHandler.standardError(label: label)
                handler.logLevel = level
                return handler
            }
        }
    }
}

/// An error the commands report to the user as it is, with a non-zero exit.
struct CommandError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
