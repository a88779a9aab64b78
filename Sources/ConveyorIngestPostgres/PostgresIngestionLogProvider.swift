import ConveyorIngest
import ConveyorPostgres
import Logging
import NIOSSL
import PostgresNIO

/// Opens the ingestion log in the PostgreSQL database a store URL names
/// (`postgres://user@host:port/db?schema=…&sslmode=…`), in the table
/// `<schema>.conveyor_ingestion_log` beside the job store's tables.
public struct PostgresIngestionLogProvider: IngestionLogProvider {
    public init() {}

    public var schemes: [String] { ["postgres", "postgresql"] }

    public func withLog<T: Sendable>(_ url: String, _ body: (any IngestionLog) async throws -> T) async throws -> T {
        var (configuration, schema) = try PostgresURL.clientConfiguration(url)
        configuration.options.maximumConnections = 2
        var logger = Logger(label: "conveyor.ingest.log")
        logger.logLevel = .warning
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await client.query(PostgresQuery(unsafeSQL: "CREATE SCHEMA IF NOT EXISTS \(quotedIdentifier(schema))"), logger: logger)
            let log = try await PostgresIngestionLog(client: client, table: "\(schema).conveyor_ingestion_log", logger: logger)
            return try await body(log)
        }
    }
}

/// A `postgres://` URL as the store reads it, for the ingestion parts' own clients.
public enum PostgresURL {
    /// The client configuration and the schema (`?schema=`, `conveyor` by default) `url` names.
    public static func clientConfiguration(_ url: String) throws -> (PostgresClient.Configuration, schema: String) {
        let store = try PostgresBackend.Configuration(url: url)
        let tls: PostgresClient.Configuration.TLS = switch store.tls {
        case .disable: .disable
        case .prefer: .prefer(.makeClientConfiguration())
        case .require: .require(.makeClientConfiguration())
        }
        let configuration = PostgresClient.Configuration(host: store.host, port: store.port, username: store.username,
                                                         password: store.password, database: store.database, tls: tls)
        return (configuration, store.schema)
    }
}
