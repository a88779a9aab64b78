import Conveyor

/// Opens Redis stores from `redis://[[user]:password@]host[:port][/db]` (`rediss://` for TLS),
/// with `?namespace=name` and `?retention=seconds`.
public struct RedisStoreProvider: StoreProvider {
    public init() {}

    public var schemes: [String] { ["redis", "rediss"] }
    public var example: String { "redis://host:port/db" }

    /// A patient caller (a worker) waits out a Redis that is down; others give up after 3 s.
    public func open(_ url: StoreURL, patient: Bool) throws -> any JobQueueStore {
        var configuration = try RedisBackend.Configuration(url: url.text)
        if !patient { configuration.redis.connectionWaitTimeout = .seconds(3) }
        return RedisBackend(configuration: configuration)
    }

    public func redacted(_ url: StoreURL) -> String { RedisBackend.Configuration.redacted(url.text) }
}
