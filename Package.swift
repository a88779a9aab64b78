// swift-tools-version:6.1
import PackageDescription

// Heavy dependencies stay in the targets that need them: the core and the SQLite store
// build in about a minute on two cores. Linux only: the SQLite store's cross-process wake-ups
// use inotify, so no other platform is declared.
let package = Package(
    name: "conveyor",
    products: [
        .library(name: "Conveyor", targets: ["Conveyor"]),
        .library(name: "ConveyorSQLite", targets: ["ConveyorSQLite"]),
        .library(name: "ConveyorIngest", targets: ["ConveyorIngest"]),
        .library(name: "ConveyorIngestSQLite", targets: ["ConveyorIngestSQLite"]),
        .library(name: "ConveyorIngestPostgres", targets: ["ConveyorIngestPostgres"]),
        .library(name: "ConveyorIngestHTTP", targets: ["ConveyorIngestHTTP"]),
        .library(name: "ConveyorCommands", targets: ["ConveyorCommands"]),
        .library(name: "ConveyorTesting", targets: ["ConveyorTesting"]),
        .library(name: "ConveyorRedisClient", targets: ["ConveyorRedisClient"]),
        .library(name: "ConveyorRedis", targets: ["ConveyorRedis"]),
        .library(name: "ConveyorPostgres", targets: ["ConveyorPostgres"]),
        .executable(name: "conveyor", targets: ["conveyor"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.24.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
    ],
    targets: [
        .target(
            name: "Conveyor",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "ConveyorSQLite",
            dependencies: [
                "Conveyor",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The ingestion toolkit: row readers, the batch sink, the ingestion log. No database
        // or HTTP library (the core only): the SQLite and PostgreSQL targets and the downloader are their own.
        .target(
            name: "ConveyorIngest",
            dependencies: [
                // The core: store URLs and durations as the rest of Conveyor reads them.
                "Conveyor",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "ConveyorIngestSQLite",
            // The SQLite store's URL parsing, so `--store` names the same file everywhere.
            dependencies: ["ConveyorIngest", "ConveyorSQLite", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        .target(
            name: "ConveyorIngestPostgres",
            dependencies: [
                // The store's URL parsing, so `--store postgres://…` means the same database.
                "ConveyorIngest", "ConveyorPostgres",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Streaming downloads on async-http-client and swift-crypto: only programs that
        // download link it, so the HTTP client stays out of ConveyorIngest.
        .target(
            name: "ConveyorIngestHTTP",
            dependencies: [
                "Conveyor", "ConveyorIngest",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),
        // A loopback stand-in web site for tests and benchmarks: plain NIO HTTP/1.1.
        .target(
            name: "ConveyorTestSite",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        .target(
            name: "ConveyorCommands",
            dependencies: [
                // No store module: the program passes the stores it links (the `conveyor`
                // binary: SQLite and Redis), and `demo` opens SQLite through them.
                "Conveyor", "ConveyorIngest",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                // Children of `conveyor worker --command`, without Foundation's `Process`.
                .product(name: "Subprocess", package: "swift-subprocess"),
            ],
            // The demo's key file and export figures, read when `conveyor demo` runs.
            resources: [.copy("Demo/Dataset")]
        ),
        .executableTarget(name: "conveyor", dependencies: ["ConveyorCommands", "ConveyorSQLite", "ConveyorRedis", "ConveyorPostgres", "ConveyorIngestSQLite", "ConveyorIngestPostgres"]),
        .target(name: "ConveyorTesting", dependencies: ["Conveyor"]),
        // Our own Redis client (no Swift Redis client can be had here): RESP parser, pipelined
        // connections, pool, scripts, TLS. NIO stays out of the core and the SQLite store.
        .target(
            name: "ConveyorRedisClient",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The Redis store: Lua scripts over our client, for workers on many machines.
        .target(
            name: "ConveyorRedis",
            dependencies: [
                "Conveyor", "ConveyorRedisClient",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            // The Lua, one file per subject and per operation, read at first use.
            resources: [.copy("Lua")]
        ),
        // The PostgreSQL store on postgres-nio: SKIP LOCKED claims, LISTEN/NOTIFY wake-ups,
        // enqueue inside the caller's transaction. Only programs that open PostgreSQL link it.
        .target(
            name: "ConveyorPostgres",
            dependencies: [
                "Conveyor",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "conveyor-bench",
            dependencies: [
                "Conveyor", "ConveyorSQLite", "ConveyorRedis", "ConveyorRedisClient", "ConveyorPostgres", "ConveyorTesting",
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ],
            path: "Benchmarks/ConveyorBenchmarks"
        ),
        // Seed 003 (a property batch processor) end to end: Examples/PropertyBatches/README.md.
        .executableTarget(
            name: "property-batches",
            dependencies: [
                "Conveyor", "ConveyorIngest", "ConveyorIngestSQLite", "ConveyorIngestPostgres",
                "ConveyorSQLite", "ConveyorRedis", "ConveyorPostgres",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Examples/PropertyBatches",
            exclude: ["README.md"]
        ),
        // Seed 002 (a branch/POS file fetcher) end to end: Examples/POSFetcher/README.md.
        .executableTarget(
            name: "pos-fetcher",
            dependencies: [
                "Conveyor", "ConveyorIngest", "ConveyorIngestHTTP", "ConveyorIngestSQLite", "ConveyorIngestPostgres",
                "ConveyorSQLite", "ConveyorRedis", "ConveyorPostgres", "ConveyorTestSite",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Examples/POSFetcher",
            exclude: ["README.md"]
        ),
        .executableTarget(
            name: "conveyor-ingest-bench",
            dependencies: [
                "ConveyorIngest", "ConveyorIngestSQLite", "ConveyorIngestPostgres",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"), "ConveyorTesting",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Benchmarks/IngestBenchmarks"
        ),
        .executableTarget(
            name: "conveyor-download-bench",
            dependencies: [
                "ConveyorIngestHTTP", "ConveyorTestSite",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Subprocess", package: "swift-subprocess"),
            ],
            path: "Benchmarks/DownloadBenchmarks"
        ),
        .executableTarget(
            name: "conveyor-redis-client-bench",
            dependencies: ["ConveyorRedisClient"],
            path: "Benchmarks/RedisClientBenchmarks"
        ),
        .testTarget(
            name: "ConveyorTests",
            dependencies: ["Conveyor", "ConveyorTesting", .product(name: "MetricsTestKit", package: "swift-metrics")],
            // cron-reference.jsonl: next fires from Python's croniter (scripts/cron-reference.py).
            resources: [.copy("Resources")]
        ),
        .testTarget(
            name: "ConveyorSQLiteTests",
            dependencies: ["ConveyorSQLite", "ConveyorTesting", .product(name: "GRDB", package: "GRDB.swift")]
        ),
        .testTarget(
            name: "ConveyorIngestTests",
            dependencies: [
                "ConveyorIngest", "ConveyorIngestSQLite", "ConveyorIngestPostgres",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"), "ConveyorTesting",
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ]
        ),
        .testTarget(
            name: "ConveyorIngestHTTPTests",
            dependencies: [
                "ConveyorIngestHTTP", "ConveyorTestSite", "Conveyor",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ]
        ),
        .testTarget(
            name: "ConveyorRedisClientTests",
            dependencies: [
                "ConveyorRedisClient", "ConveyorTesting",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(name: "ConveyorRedisTests", dependencies: ["ConveyorRedis", "ConveyorRedisClient", "ConveyorTesting"]),
        .testTarget(
            name: "ConveyorPostgresTests",
            dependencies: ["ConveyorPostgres", "ConveyorTesting", .product(name: "PostgresNIO", package: "postgres-nio")]
        ),
        .testTarget(
            name: "ConveyorCommandsTests",
            dependencies: [
                "ConveyorCommands", "ConveyorSQLite", "ConveyorPostgres", "ConveyorTesting", "conveyor",
                "ConveyorIngest", "ConveyorIngestSQLite", "ConveyorIngestPostgres",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                // The tests start `conveyor` processes the way the worker starts commands.
                .product(name: "Subprocess", package: "swift-subprocess"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
