import Conveyor

/// Opens PostgreSQL stores from `postgres://user:password@host:port/database?schema=…&sslmode=…`
/// (or `postgresql://`).
public struct PostgresStoreProvider: StoreProvider {
    public init() {}

    public var schemes: [String] { ["postgres", "postgresql"] }
    public var example: String { "postgres://user@host:5432/database?schema=conveyor" }

    public func open(_ url: StoreURL, patient: Bool) throws -> any JobQueueStore {
        try PostgresBackend(configuration: PostgresBackend.Configuration(url: url.text))
    }

    /// The URL without its password.
    public func redacted(_ url: StoreURL) -> String {
        guard let at = url.text.range(of: "@"), let scheme = url.text.range(of: "://"), scheme.upperBound < at.lowerBound else { return url.text }
        let credentials = url.text[scheme.upperBound..<at.lowerBound]
        guard let colon = credentials.firstIndex(of: ":") else { return url.text }
        return String(url.text[..<colon]) + ":***" + String(url.text[at.lowerBound...])
    }
}
