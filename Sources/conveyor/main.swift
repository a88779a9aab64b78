import Conveyor
import ConveyorCommands
import ConveyorIngestPostgres
import ConveyorIngestSQLite
import ConveyorPostgres
import ConveyorRedis
import ConveyorSQLite

// This binary runs the built-in job kinds only, on SQLite, Redis and PostgreSQL; a program embedding
// ConveyorCommands passes a registry with its own job types, and the stores it links.
await ConveyorCommand.main(registry: JobRegistry(), stores: [SQLiteStoreProvider(), RedisStoreProvider(), PostgresStoreProvider()],
                           ingestionLogs: [SQLiteIngestionLogProvider(), PostgresIngestionLogProvider()])
