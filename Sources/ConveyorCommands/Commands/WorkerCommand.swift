import ArgumentParser
import Conveyor
import Foundation
import Logging
import ServiceLifecycle

/// `conveyor worker`: runs jobs until SIGTERM or SIGINT, then drains.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run jobs of the kinds built into this program until stopped (SIGTERM/SIGINT drain gracefully).",
        discussion: """
            Built-in kinds: conveyor.command (runs --command with the job's fields), conveyor.echo, conveyor.sleep;
            plus every job type the embedding program registered.
            """
    )

    @OptionGroup var storeOptions: StoreOptions

    @Option(parsing: .upToNextOption, help: "Queues to work, in order of preference (default: every queue in the store).")
    var queues: [String] = []

    @Option(help: "Jobs run at once.")
    var concurrency = 10

    @Option(help: "Jobs claimed ahead of free slots (default: --concurrency).")
    var prefetch: Int?

    @Option(help: "Lease per claimed job; a dead worker's jobs come back this long after its last heartbeat.")
    var lease = DurationArgument(.seconds(30))

    @Option(help: "On SIGTERM, how long running jobs get to finish before they are handed back.")
    var grace = DurationArgument(.seconds(25))

    @Option(help: "Command template for conveyor.command jobs, e.g. 'python3 scrape.py {key}'. Fixed for the worker's life.")
    var command: String?

    @Option(parsing: .upToNextOption, help: "Exit statuses of --command that fail a job for good (no retry).")
    var permanentExitCodes: [Int32] = [64, 65]

    @Flag(help: "Exit when no work is left (like RQ's --burst).")
    var burst = false

    @Option(help: "Longest idle wait between checks of the store. Wake-ups on new work are immediate; this only bounds waits if one is missed.")
    var pollInterval = DurationArgument(.seconds(5))

    @Flag(help: "Do not run a scheduler: this worker never fires the store's schedules (by default every worker runs one, and one of them leads).")
    var noScheduler = false

    @Option(help: "The scheduler's leader lease: when the leading worker dies, another fires within 1.5 leases of its last renewal.")
    var schedulerLease = DurationArgument(.seconds(5))

    @Option(help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel = "info"

    func validate() throws {
        guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
        guard schedulerLease.duration >= .seconds(1) else { throw ValidationError("--scheduler-lease must be at least 1s") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level '\(logLevel)'") }
        if let command { _ = try CommandTemplate(command) }
    }

    func run() async throws {
        Logs.bootstrap(level: Logger.Level(rawValue: logLevel) ?? .info)
        let logger = Logger(label: "conveyor.worker")
        let backend = try storeOptions.open(patient: true)
        var registry = ConveyorCommand.registry
        BuiltinJobs.register(into: &registry, options: .init(
            commandTemplate: try command.map(CommandTemplate.init), permanentExitCodes: Set(permanentExitCodes)))

        var workQueues = queues.flatMap { $0.split(separator: ",").map(String.init) }
        // Without --queues: every queue of the store, including those first used later.
        let discovers = workQueues.isEmpty
        if workQueues.isEmpty {
            let inspection = try backend.require((any JobInspection).self, neededBy: "`conveyor worker` without --queues", storeName: storeOptions.shownURL)
            workQueues = try await inspection.queueStats().map(\.queue)
            if workQueues.isEmpty { workQueues = ["default"] }
        }
        let worker = Worker(backend: backend, registry: registry, configuration: .init(
            queues: workQueues, concurrency: concurrency, prefetch: prefetch, lease: lease.duration,
            shutdownGracePeriod: grace.duration, pollInterval: pollInterval.duration, stopWhenIdle: burst,
            discoversQueues: discovers, logger: logger))
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: worker, successTerminationBehavior: .gracefullyShutdownGroup),
        ]
        // A burst worker leaves when the queues are empty, so it fires no schedules.
        if !noScheduler, !burst, let store = backend as? any ScheduleStore & BatchStore {
            let scheduler = Scheduler(store: store, configuration: .init(
                holder: worker.configuration.id, lease: schedulerLease.duration, logger: Logger(label: "conveyor.scheduler")))
            // It stops with the group; its return must not cut the worker's drain short.
            services.append(.init(service: scheduler, successTerminationBehavior: .ignore))
        }
        let group = ServiceGroup(configuration: .init(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
        print("Worker \(worker.configuration.id) stopped after \(worker.processedCount) job(s)")
    }
}
