import Conveyor

/// Opens SQLite stores from `sqlite:///abs/path.sqlite`, `sqlite:relative.sqlite` or a plain
/// path, with `?synchronous=normal|full` and `?retention=seconds|forever`.
public struct SQLiteStoreProvider: StoreProvider {
    public init() {}

    public var schemes: [String] { ["sqlite"] }
    public var example: String { "sqlite:///path/to/file.sqlite (or a file path)" }

    public func open(_ url: StoreURL, patient: Bool) throws -> any JobQueueStore {
        try SQLiteBackend(configuration: configuration(url))
    }

    /// The configuration `url` describes, its options checked.
    public func configuration(_ url: StoreURL) throws -> SQLiteBackend.Configuration {
        guard !url.location.isEmpty else { throw ConveyorError.invalidStoreURL(url.text, reason: "no file path after sqlite:") }
        var configuration = SQLiteBackend.Configuration(path: url.location)
        for (key, value) in url.options {
            switch (key, value.lowercased()) {
            case ("synchronous", "normal"): configuration.synchronous = .normal
            case ("synchronous", "full"): configuration.synchronous = .full
            case ("retention", "forever"): configuration.retention = nil
            case ("retention", let seconds):
                guard let whole = Int(seconds), whole > 0 else {
                    throw ConveyorError.invalidStoreURL(url.text, reason: "retention must be a whole number of seconds or 'forever', not '\(value)'")
                }
                configuration.retention = .seconds(whole)
            default:
                throw ConveyorError.invalidStoreURL(
                    url.text, reason: "unknown option '\(key)=\(value)'; the SQLite store takes synchronous=normal|full and retention=seconds|forever")
            }
        }
        return configuration
    }
}
