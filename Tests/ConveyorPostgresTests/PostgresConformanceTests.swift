import Conveyor
import ConveyorPostgres
import ConveyorTesting
import Foundation
import Logging
import PostgresNIO
import Testing

@Suite("PostgresBackend conformance")
struct PostgresConformanceTests {
    /// Each case gets a store in a schema of its own on the test process's PostgreSQL (a real
    /// server from Debian's binaries on an ephemeral loopback port); a missing PostgreSQL fails
    /// the case (`PostgresServer.NotInstalled`), it never skips.
    @Test(arguments: BackendConformance.names)
    func conformance(_ name: String) async throws {
        let url = try PostgresServer.freshStoreURL("c")
        await Self.slots.take()
        do {
            try await BackendConformance.run(name) { clock in try Self.backend(url, clock) }
            await Self.slots.give()
        } catch {
            await Self.slots.give()
            throw error
        }
    }

    /// A few cases at a time: every case's store is a pool on the one server, and with all of
    /// them at once on a small machine each statement waits hundreds of milliseconds, which the
    /// cases that read the store's clock in real seconds (rate windows, a slot's recheck within
    /// a second, a breaker's cool-down) cannot tell from a store that is wrong.
    static let slots = CaseSlots(max(4, 4 * ProcessInfo.processInfo.activeProcessorCount))

    static func backend(_ url: String, _ clock: ManualStoreClock) throws -> PostgresBackend {
        var configuration = try PostgresBackend.Configuration(url: url)
        configuration.clock = clock
        configuration.stepLimit = BackendConformance.stepLimit
        return try PostgresBackend(configuration: configuration)
    }
}

/// Lets at most `count` holders in at once, the rest in the order they came.
actor CaseSlots {
    private var free: Int
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(_ count: Int) { free = count }

    func take() async {
        if free > 0 {
            free -= 1
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    func give() {
        if waiting.isEmpty { free += 1 } else { waiting.removeFirst().resume() }
    }
}

@Suite("PostgresBackend flow control across connections")
struct PostgresFlowRaceTests {
    /// Three store instances (three pools, as three processes have) race for a half-open key's
    /// probe: exactly one job goes.
    @Test func oneProbeAcrossThreeStores() async throws {
        let url = try PostgresServer.freshStoreURL("p")
        let clock = ManualStoreClock()
        let stores = try (0..<3).map { _ in try PostgresConformanceTests.backend(url, clock) }
        defer { for store in stores { store.shutdown() } }
        try await BackendConformance.probeRace(stores, clock: clock)
    }

    /// Twelve claims at once on three store instances never start more jobs of a key than its
    /// concurrency, whichever keys each job carries (in any order) and however the claims'
    /// locks of several cells interleave; as slots free, the rest go, each once.
    @Test func concurrencyHoldsAcrossThreeStores() async throws {
        let url = try PostgresServer.freshStoreURL("q")
        let clock = ManualStoreClock()
        let stores = try (0..<3).map { _ in try PostgresConformanceTests.backend(url, clock) }
        defer { for store in stores { store.shutdown() } }
        try await stores[0].setLimit("tenant:*", LimitSettings(concurrency: try ConcurrencyLimit(3)))
        let keySets = [["tenant:a"], ["tenant:b"], ["tenant:a", "tenant:b"], ["tenant:c", "tenant:a"], ["tenant:c", "tenant:b"]]
        let ids = try await stores[0].enqueue((0..<60).map { index in
            var job = NewJob(name: "test.job", payload: Data("{}".utf8))
            job.limitKeys = keySets[index % keySets.count]
            return job
        }).map(\.id)
        var started: [JobID] = []
        for _ in 0..<40 where started.count < ids.count {
            let claimed = try await withThrowingTaskGroup(of: [ClaimedJob].self) { group in
                for (index, store) in stores.enumerated() {
                    for task in 0..<4 {
                        group.addTask { try await store.claim(queues: ["default"], limit: 5, lease: .seconds(60), workerID: "w\(index)-\(task)") }
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            for key in ["tenant:a", "tenant:b", "tenant:c"] {
                let running = claimed.filter { $0.limitKeys.contains(key) }.count
                #expect(running <= 3, "at most 3 of \(key) at once, not \(running)")
                #expect(try await stores[1].limitStates([key]).first?.active == running)
            }
            started += claimed.map(\.id)
            try await stores[2].complete(claimed.map { .succeeded($0.lease, output: Data("{}".utf8)) })
        }
        #expect(started.sorted() == ids, "every job started once")
        #expect(try await stores[0].limitStates(["tenant:a", "tenant:b", "tenant:c"]).map(\.active) == [0, 0, 0])
        #expect(try await stores[0].queueStats().first?.counts == [.succeeded: ids.count])
    }
    /// A claim that holds a due key's cell (letting its held jobs go) takes the cell of a key
    /// ordered before it only if free: while another transaction holds that cell, the job is
    /// passed over (left ready, no attempt spent) instead of waited for out of key order.
    @Test func aBusyCellEarlierInKeyOrderIsPassedOver() async throws {
        let url = try PostgresServer.freshStoreURL("o")
        let store = try PostgresConformanceTests.backend(url, ManualStoreClock())
        defer { store.shutdown() }
        func keyed(_ key: String) -> NewJob {
            var job = NewJob(name: "test.job", payload: Data("{}".utf8))
            job.limitKeys = [key]
            return job
        }
        try await store.setLimit("tenant:b", LimitSettings(concurrency: try ConcurrencyLimit(1)))
        let b = try await store.enqueue([keyed("tenant:b"), keyed("tenant:b")]).map(\.id)
        let first = try await store.claim(queues: ["default"], limit: 10, lease: .seconds(60), workerID: "w")
        #expect(first.map(\.id) == [b[0]], "the second waits for the slot")
        let a = try await store.enqueue(keyed("tenant:a")).id
        // Its slot frees: tenant:b's held job is due.
        try await store.complete([.succeeded(first[0].lease, output: Data("{}".utf8))])
        let logger = Logger(label: "test")
        try await store.transaction { connection in
            _ = try await connection.query("INSERT INTO limit_cells (key) VALUES ('tenant:a') ON CONFLICT DO NOTHING", logger: logger)
        }
        let claimed = try await store.transaction { connection in
            // Another transaction holds tenant:a's cell (as an enqueue holding a job on it would).
            try await connection.query("SELECT 1 FROM limit_cells WHERE key = 'tenant:a' FOR UPDATE", logger: logger)
            return try await store.claim(queues: ["default"], limit: 10, lease: .seconds(60), workerID: "w")
        }
        #expect(claimed.map(\.id) == [b[1]], "tenant:a's job is passed over while its cell is busy")
        let record = try #require(try await store.job(a))
        #expect(record.state == .ready && record.attempt == 0 && record.startedAt == nil)
        let next = try await store.claim(queues: ["default"], limit: 10, lease: .seconds(60), workerID: "w")
        #expect(next.map(\.id) == [a] && next[0].attempt == 1, "and claimed once the cell is free")
    }
}

