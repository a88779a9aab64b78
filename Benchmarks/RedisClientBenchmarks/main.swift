// conveyor-redis-client-bench: raw throughput of our RESP client against a running Redis.
//
//   redis-server --port 6390 --save '' --appendonly no --daemonize yes
//   swift run -c release conveyor-redis-client-bench redis://127.0.0.1:6390
//   redis-benchmark -p 6390 -q -n 100000 -t set,ping [-P 100]     # Redis's own figures, same machine
import ConveyorRedisClient
import Foundation

let url = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "redis://127.0.0.1:6379"
let redis = try await RedisConnection.connect(configuration: RedisConfiguration(url: url))
let clock = ContinuousClock()

func report(_ name: String, _ ops: Int, _ body: () async throws -> Void) async throws {
    let start = clock.now
    try await body()
    let elapsed = clock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    print("\(name): \(Int(Double(ops) / seconds)) ops/s (\(ops) ops in \(String(format: "%.2f", seconds)) s)")
}

for command in ["PING", "SET"] {
    let args: [RESPArgument] = command == "PING" ? ["PING"] : ["SET", "key:__rand_int__", "xxx"]
    try await report("\(command) one at a time", 20_000) {
        for _ in 0..<20_000 { _ = try await redis.send(args) }
    }
    try await report("\(command) 64 tasks, one connection", 200_000) {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<64 {
                group.addTask { for _ in 0..<(200_000 / 64) { _ = try await redis.send(args) } }
            }
            try await group.waitForAll()
        }
    }
    for size in [100, 1000] {
        let batch = [[RESPArgument]](repeating: args, count: size)
        try await report("\(command) pipeline of \(size)", 1_000_000) {
            for _ in 0..<(1_000_000 / size) { _ = try await redis.pipeline(batch) }
        }
    }
}
await redis.close()
