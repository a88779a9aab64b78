import ArgumentParser
import Conveyor
import Foundation

/// `conveyor status`: per-queue counts by state and the workers seen.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show each queue's jobs by state and the workers seen in the last minute."
    )

    @OptionGroup var storeOptions: StoreOptions

    @Option(help: "Workers seen within this long count as alive.")
    var workersSeenWithin = DurationArgument(.seconds(60))

    func run() async throws {
        let backend = try storeOptions.open((any JobInspection & WorkerRegistry).self, for: "status")
        let terminal = Terminal()
        terminal.line(try await Self.report(backend: backend, url: storeOptions.shownURL, workersSeenWithin: workersSeenWithin.duration))
    }

    static func report(backend: any JobInspection & WorkerRegistry, url: String, workersSeenWithin: Duration) async throws -> String {
        let stats = try await backend.queueStats()
        var lines = ["Store: \(url)", ""]
        if stats.isEmpty {
            lines.append("No queues yet. Submit work with: conveyor submit NAME --payload '{...}'")
        } else {
            var table = TextTable(["queue", "ready", "scheduled", "active", "retrying", "dead", "succeeded", "cancelled", ""])
            for queue in stats {
                table.add([
                    queue.queue, "\(queue[.ready])", "\(queue[.scheduled])", "\(queue[.active])", "\(queue[.retrying])",
                    "\(queue[.dead])", "\(queue[.succeeded])", "\(queue[.cancelled])", queue.paused ? "paused" : "",
                ])
            }
            lines.append(table.render())
        }
        let workers = try await backend.workers(seenWithin: workersSeenWithin)
        lines.append("")
        if workers.isEmpty {
            lines.append("Workers: none seen in the last \(workersSeenWithin.formatted). Start one with: conveyor worker")
        } else {
            lines.append("Workers: \(workers.count)")
            var table = TextTable(["worker", "queues", "running", "concurrency", "up", "last seen"])
            for worker in workers {
                table.add([
                    worker.id, worker.queues.joined(separator: ","), "\(worker.running)", "\(worker.concurrency)",
                    Self.age(worker.startedAt), Self.age(worker.lastSeenAt) + " ago",
                ])
            }
            lines.append(table.render())
        }
        // Limits, when the store keeps them and has any.
        if let limits = backend as? any FlowControlStore {
            let rules = try await limits.limitRules()
            if !rules.isEmpty {
                let states = try await limits.limitStates(rules.map(\.pattern).filter { !$0.hasSuffix("*") })
                lines += ["", "Limits: \(rules.count) rule(s) (conveyor limits)", LimitsCommand.table(rules, states)]
            }
            let circuits = try await limits.circuits(after: nil, limit: 21)
            if !circuits.isEmpty {
                let open = circuits.filter { $0.phase.isOpen }.count
                let more = circuits.count > 20 ? ", the first 20" : ""
                lines += ["", "Circuits: \(min(20, circuits.count)) key(s)\(more), \(open) open (conveyor circuits)",
                          CircuitsCommand.table(Array(circuits.prefix(20)))]
            }
        }
        return lines.joined(separator: "\n")
    }

    static func age(_ date: Date) -> String {
        let seconds = max(0, Int(Date().timeIntervalSince(date)))
        if seconds < 60 { return "\(seconds)s" }
        if seconds < 3600 { return "\(seconds / 60)m\(seconds % 60)s" }
        return "\(seconds / 3600)h\(seconds / 60 % 60)m"
    }
}
