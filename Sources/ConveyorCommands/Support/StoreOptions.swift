import ArgumentParser
import Conveyor
import Foundation

/// Where the jobs live: `--store URL`, else `CONVEYOR_URL`, else `conveyor.sqlite` here.
///
/// Forms: `sqlite:///abs/path.sqlite`, `sqlite:relative.sqlite`, a plain file path,
/// `redis://[[user]:password@]host[:port][/db]` (`rediss://` for TLS; `?namespace=` and
/// `?retention=seconds`), or `memory:` (this process only). For SQLite, `?synchronous=full`
/// makes every commit survive a power loss. Which of them a program opens is up to the
/// stores it passes to ``ConveyorCommand/main(registry:stores:arguments:)``.
public struct StoreOptions: ParsableArguments, Sendable {
    @Option(name: .long, help: ArgumentHelp("The store: a SQLite file path or URL (sqlite:///path), or redis://host:port/db. Default: $CONVEYOR_URL, else ./conveyor.sqlite.", valueName: "url"))
    public var store: String?

    public init() {}

    public static let defaultPath = "conveyor.sqlite"

    public var url: String {
        store ?? ProcessInfo.processInfo.environment["CONVEYOR_URL"] ?? Self.defaultPath
    }

    /// The URL as messages show it: a password in it is replaced by `***`.
    public var shownURL: String { ConveyorCommand.stores.redacted(url) }

    /// Opens the store as `capability`, which `command` needs (for example
    /// `(any JobAdministration & JobInspection).self` for `conveyor retry`): a store that
    /// lacks it is named in a clear error. A `patient` caller (a worker) waits out a store
    /// server that is down; one-shot commands give up after a few seconds.
    public func open<Capability>(_ capability: Capability.Type, for command: String, patient: Bool = false) throws -> Capability {
        try ConveyorCommand.stores.open(url, as: capability, neededBy: "`conveyor \(command)`", patient: patient)
    }

    /// Opens the store with the core only (enough for a worker or an enqueue).
    public func open(patient: Bool = false) throws -> any JobQueueStore {
        try ConveyorCommand.stores.open(url, patient: patient)
    }
}
