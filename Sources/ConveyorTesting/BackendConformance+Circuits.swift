import Conveyor
import Foundation
import Testing

/// Circuit breakers per key on the store's clock: opened by failures, one probe fleet-wide,
/// waves on closing, changes by hand, and every transition recorded.
extension BackendConformance {
    static let circuitCases: [Case] = [
        Case(name: "a breaker opens after failures in a row, sends one probe, reopens on its failure and closes in waves on its success",
             body: breakerCycle),
        Case(name: "a failure rate opens a breaker; open, close and reset by hand are recorded; an unknown key is refused",
             body: breakerRateAndHand),
        Case(name: "a probe released, recovered or deferred leaves the key half-open for the next probe", body: breakerNeutralProbe),
        Case(name: "a source check's schedule records its slots without firing while its key's circuit is open, and resumes with the probe",
             body: sourceChecks),
    ]

    static let ok = Data("{}".utf8)

    static func circuit(_ store: any FlowControlStore, _ key: String) async throws -> CircuitState {
        try #require(try await store.circuitStates([key]).first)
    }

    static func breakerCycle(_ backend: any JobBackend) async throws {
        let store = try flowStore(backend)
        let breaker = try CircuitBreaker(failures: 3, coolDown: .seconds(10), wave: 2, waveInterval: .seconds(1))
        try await store.setLimit("source:*", LimitSettings(circuit: breaker))
        #expect(try await store.limitRules().first?.settings.circuit == breaker, "the breaker is stored with its rule")
        let key = "source:faostat"
        #expect(try await circuit(store, key).phase == .closed)

        // A permanent failure (the job's own fault) and one the job type says is its own do not count.
        _ = try await store.enqueue((0..<2).map { _ in keyed([key]) })
        var claimed = try await claimAll(store)
        try await store.complete([.failed(claimed[0].lease, JobFailure(.permanent, "HTTP 404"), retryAfter: nil),
                                  .failed(claimed[1].lease, JobFailure(.retryable, "bad row 7"), retryAfter: nil, countsAgainstCircuit: false)])
        var state = try await circuit(store, key)
        #expect(state.consecutiveFailures == 0 && state.recentOutcomes == 0, "\(state)")

        // Three failures in a row open it.
        let failing = try await store.enqueue((0..<3).map { _ in keyed([key]) }).map(\.id)
        claimed = try await claimAll(store)
        #expect(claimed.map(\.id) == failing)
        try await store.complete(claimed.map { .failed($0.lease, JobFailure(.retryable, "HTTP 503"), retryAfter: .zero) })
        state = try await circuit(store, key)
        #expect(state.phase == .open && state.consecutiveFailures == 3 && state.rule == "source:*", "\(state)")
        // The store's clock is the real one moved by the test: a second's slack for a slow machine.
        #expect(state.openUntil.map { (9...10).contains($0.timeIntervalSince(clock.now())) } == true, "open for the cool-down: \(state)")
        var history = try await store.circuitHistory(key, limit: 10)
        #expect(history.map(\.to) == [.open] && history[0].from == .closed)
        #expect(history[0].reason.contains("3 failures in a row") && history[0].reason.contains("HTTP 503"), "\(history[0].reason)")

        // Open: the key's jobs wait without spending attempts; other keys go.
        let waiting = try await store.enqueue((0..<5).map { _ in keyed([key]) }).map(\.id)
        let other = try await store.enqueue(keyed(["source:worldbank"])).id
        #expect(try await claimAll(store).map(\.id) == [other])
        #expect(try await claimAll(store).isEmpty)
        for id in failing { #expect(try await store.job(id)?.attempt == 1, "a held job spends no attempt") }
        let wait = try #require(try await store.timeUntilNextDue(queues: ["default"]))
        #expect(wait <= .seconds(10), "workers wake when the cool-down ends: \(wait)")

        // Half-open: exactly one probe, whoever asks.
        clock.advance(by: .seconds(10))
        var probe = try await claimAll(store)
        #expect(probe.count == 1 && failing.contains(probe[0].id), "one probe, the oldest held: \(probe.map(\.id))")
        #expect(try await claimAll(store).isEmpty)
        #expect(try await backend.claim(queues: ["default"], limit: 100, lease: lease, workerID: "another").isEmpty)
        state = try await circuit(store, key)
        #expect(state.phase == .halfOpen && state.probe == probe[0].id, "\(state)")
        // The probe fails: open for another cool-down.
        try await store.complete([.failed(probe[0].lease, JobFailure(.retryable, "timed out"), retryAfter: .zero)])
        state = try await circuit(store, key)
        #expect(state.phase == .open, "\(state)")
        #expect(try await claimAll(store).isEmpty)
        clock.advance(by: .seconds(5))
        #expect(try await claimAll(store).isEmpty, "still cooling down")
        clock.advance(by: .seconds(5))
        probe = try await claimAll(store)
        #expect(probe.count == 1)
        try await store.complete([.succeeded(probe[0].lease, output: ok)])
        state = try await circuit(store, key)
        #expect(state.phase == .recovering && state.consecutiveFailures == 0, "\(state)")
        history = try await store.circuitHistory(key, limit: 10)
        #expect(history.map(\.to) == [.recovering, .halfOpen, .open, .halfOpen, .open], "newest first: \(history.map(\.to))")
        #expect(history[0].reason.contains("probe job \(probe[0].id) succeeded") && history[2].reason.contains("failed: timed out"))

        // Closed again: the 7 jobs that waited go in waves of 2 a second, in FIFO order.
        var order: [JobID] = []
        var waves: [Int] = []
        for _ in 0..<6 {
            let wave = try await claimAll(store)
            #expect(try await claimAll(store).isEmpty, "one wave per interval")
            waves.append(wave.count)
            order += wave.map(\.id)
            try await store.complete(wave.map { .succeeded($0.lease, output: ok) })
            clock.advance(by: .seconds(1))
        }
        #expect(waves == [2, 2, 2, 1, 0, 0], "\(waves)")
        #expect(Set(order) == Set(failing + waiting).subtracting([probe[0].id]) && order.count == 7)
        // A wave that was not full ends the waves: a burst goes at once again.
        _ = try await store.enqueue((0..<4).map { _ in keyed([key]) })
        let burst = try await claimAll(store)
        #expect(burst.count == 4)
        state = try await circuit(store, key)
        #expect(state.phase == .closed, "\(state)")
        #expect(state.recentSuccesses == 8 && state.recentOutcomes == 12, "3 + 1 failures, the probe's and 7 waves' successes: \(state)")
        #expect(state.reliability.map { abs($0 - 8.0 / 12) < 1e-9 } == true)
        #expect(state.decayedScore.map { $0 > 0.5 && $0 < 0.8 } == true, "\(String(describing: state.decayedScore))")
        // The key goes idle (nothing running, nothing owed, closed) and maintenance prunes idle
        // cells: its score stays.
        try await store.complete(burst.map { .succeeded($0.lease, output: ok) })
        _ = try await store.recoverExpiredLeases()
        state = try await circuit(store, key)
        #expect(state.phase == .closed && state.recentSuccesses == 12 && state.recentOutcomes == 16, "the score outlives the idle cell: \(state)")
        #expect(try await store.circuits(after: nil, limit: 10).map(\.key) == [key])
    }

    static func breakerRateAndHand(_ backend: any JobBackend) async throws {
        let store = try flowStore(backend)
        try await store.setLimit("api:partner", LimitSettings(circuit: try CircuitBreaker(failures: 100, failureRate: 0.5, window: 4)))
        let key = "api:partner"
        for success in [true, false, true] {
            _ = try await store.enqueue(keyed([key]))
            let job = try await claimAll(store)[0]
            try await store.complete([success ? .succeeded(job.lease, output: ok) : .failed(job.lease, JobFailure(.retryable, "HTTP 502"), retryAfter: nil)])
            #expect(try await circuit(store, key).phase == .closed, "the rate waits for a full window")
        }
        _ = try await store.enqueue(keyed([key]))
        let fourth = try await claimAll(store)[0]
        try await store.complete([.failed(fourth.lease, JobFailure(.retryable, "HTTP 502"), retryAfter: nil)])
        var state = try await circuit(store, key)
        #expect(state.phase == .open && state.recentSuccesses == 2 && state.recentOutcomes == 4, "\(state)")
        #expect(try await store.circuitHistory(key, limit: 1).first?.reason.contains("2 of the last 4 outcomes failed (the limit is 50%)") == true)

        // Closed by hand: its waiting jobs go (in waves), the failures in a row start again.
        let held = try await store.enqueue(keyed([key])).id
        #expect(try await claimAll(store).isEmpty)
        state = try await store.changeCircuit(key, .close, reason: "the partner fixed it")
        #expect(state.phase == .recovering && state.consecutiveFailures == 0)
        #expect(try await claimAll(store).map(\.id) == [held], "a closed circuit lets its held jobs go at the next claim")

        // Any key can be opened by hand, breaker or not, until it is closed or reset by hand.
        let tenant = "tenant:9"
        state = try await store.changeCircuit(tenant, .open, reason: "maintenance")
        #expect(state.phase == .forcedOpen && state.rule == nil)
        let parked = try await store.enqueue(keyed([tenant])).id
        #expect(try await claimAll(store).isEmpty)
        clock.advance(by: .seconds(3600))
        #expect(try await claimAll(store).isEmpty, "open by hand has no cool-down")
        state = try await store.changeCircuit(tenant, .reset, reason: "")
        #expect(state.phase == .closed && state.recentOutcomes == 0)
        #expect(try await claimAll(store).map(\.id) == [parked])
        let history = try await store.circuitHistory(tenant, limit: 10)
        #expect(history.map(\.to) == [.closed, .forcedOpen] && history[1].reason == "opened by hand: maintenance" && history[0].reason == "reset by hand")

        // Resetting forgets the outcomes; the listing pages in key order.
        state = try await store.changeCircuit(key, .reset, reason: "new contract")
        #expect(state.recentOutcomes == 0 && state.decayedScore == nil && state.phase == .recovering)
        #expect(try await store.circuits(after: nil, limit: 10).map(\.key) == [key, tenant])
        #expect(try await store.circuits(after: key, limit: 1).map(\.key) == [tenant])

        // A key no breaker knows is refused by name; nothing is recorded for it.
        for action in [CircuitAction.close, .reset] {
            do {
                _ = try await store.changeCircuit("nobody:1", action, reason: "")
                Issue.record("\(action) of an unknown key was accepted")
            } catch {
                #expect("\(error)".contains("'nobody:1'") && "\(error)".contains(key), "\(error)")
            }
        }
        await #expect(throws: ConveyorError.self, "a key with a space") { _ = try await store.changeCircuit("a b", .open, reason: "") }
        #expect(try await store.circuits(after: nil, limit: 10).count == 2)
        // Bad breaker settings name the value.
        #expect(throws: ConveyorError.self) { _ = try CircuitBreaker(failures: 0) }
        #expect(throws: ConveyorError.self) { _ = try CircuitBreaker(failureRate: 1.5) }
        #expect(throws: ConveyorError.self) { _ = try CircuitBreaker(window: 0) }
    }

    static func breakerNeutralProbe(_ backend: any JobBackend) async throws {
        let store = try flowStore(backend)
        try await store.setLimit("host:flaky", LimitSettings(circuit: try CircuitBreaker(failures: 1, coolDown: .seconds(5))))
        let key = "host:flaky"
        let ids = try await store.enqueue((0..<2).map { _ in keyed([key]) }).map(\.id)
        var claimed = try await claimAll(store)
        try await store.complete([.failed(claimed[0].lease, JobFailure(.retryable, "reset by peer"), retryAfter: .seconds(1))])
        #expect(try await circuit(store, key).phase == .open)
        try await store.complete([.succeeded(claimed[1].lease, output: ok)])
        #expect(try await circuit(store, key).phase == .open, "a job that started before the circuit opened does not close it")
        clock.advance(by: .seconds(5))
        // Released (a worker shutting down): no verdict, the next claim sends a probe again.
        claimed = try await claimAll(store)
        #expect(claimed.map(\.id) == [ids[0]])
        try await store.release([claimed[0].lease])
        var state = try await circuit(store, key)
        #expect(state.phase == .halfOpen && state.probe == nil, "\(state)")
        claimed = try await claimAll(store)
        #expect(claimed.map(\.id) == [ids[0]], "the released probe goes again")
        // Its lease expires (a SIGKILLed worker): recovered, the key takes another probe.
        clock.advance(by: lease + .seconds(1))
        #expect(try await store.recoverExpiredLeases() == 1)
        #expect(try await circuit(store, key).probe == nil)
        claimed = try await claimAll(store)
        #expect(claimed.map(\.id) == [ids[0]])
        // Deferred by the upstream: no verdict either.
        try await store.complete([.deferred(claimed[0].lease, for: .seconds(2), keys: [key], reason: "HTTP 429")])
        state = try await circuit(store, key)
        #expect(state.phase == .halfOpen && state.probe == nil && state.consecutiveFailures == 0, "the success reset it: \(state)")
        clock.advance(by: .seconds(2))
        claimed = try await claimAll(store)
        #expect(claimed.map(\.id) == [ids[0]] && claimed[0].attempt == 3, "attempts: the failed one, the one whose lease expired, this one")
        try await store.complete([.succeeded(claimed[0].lease, output: ok)])
        state = try await circuit(store, key)
        #expect(state.phase == .recovering && state.recentSuccesses == 2 && state.recentOutcomes == 3, "\(state)")
    }
}

extension BackendConformance {
    /// Several store instances on one store (other connections, as other processes have)
    /// race for a half-open key's probe, twelve claims at once: exactly one job goes.
    public static func probeRace(_ stores: [any JobBackend], clock: ManualStoreClock) async throws {
        let first = try flowStore(try #require(stores.first))
        try await first.setLimit("source:*", LimitSettings(circuit: try CircuitBreaker(failures: 1, coolDown: .seconds(5))))
        _ = try await first.enqueue((0..<30).map { _ in keyed(["source:race"]) })
        let failing = try #require(try await first.claim(queues: ["default"], limit: 1, lease: .seconds(60), workerID: "w0").first)
        try await first.complete([.failed(failing.lease, JobFailure(.retryable, "HTTP 503"), retryAfter: .seconds(3600))])
        #expect(try await first.circuitStates(["source:race"]).first?.phase == .open)
        clock.advance(by: .seconds(5))
        let claimed = try await withThrowingTaskGroup(of: [ClaimedJob].self) { group in
            for (index, store) in stores.enumerated() {
                for task in 0..<(12 / stores.count) {
                    group.addTask { try await store.claim(queues: ["default"], limit: 10, lease: .seconds(60), workerID: "w\(index)-\(task)") }
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(claimed.count == 1, "one probe fleet-wide, not \(claimed.count)")
        let state = try await first.circuitStates(["source:race"]).first
        #expect(state?.phase == .halfOpen && state?.probe == claimed.first?.id, "\(String(describing: state))")
        if let probe = claimed.first { try await first.complete([.succeeded(probe.lease, output: ok)]) }
        #expect(try await first.circuitStates(["source:race"]).first?.phase == .recovering)
    }
}

extension BackendConformance {
    static func sourceChecks(_ backend: any JobBackend) async throws {
        let store = try flowStore(backend)
        let schedules = try scheduleStore(backend)
        try await store.setLimit("source:*", LimitSettings(circuit: try CircuitBreaker(failures: 2, coolDown: .seconds(5400))))
        let check = JobTemplate(name: "test.job", payload: Data(#"{"source":"faostat"}"#.utf8), limitKeys: ["source:faostat"])
        let schedule = Schedule(name: "faostat", recurrence: try .interval(every: .seconds(3600), anchor: epoch), target: .job(check))
        _ = try #require(try await schedules.saveSchedule(schedule, if: .absent))
        let scheduler = Scheduler(store: schedules, configuration: .init(holder: "a", lease: .seconds(600)))
        _ = try await scheduler.step()
        let first = nextHour(after: clock.now())
        func outcomes() async throws -> [ScheduleFireRecord.Outcome] {
            try await schedules.fireHistory(of: "faostat", limit: 100).reversed().map(\.outcome)
        }
        func slot(_ hour: Int, _ result: (JobLease) -> JobOutcome) async throws -> Int {
            advance(toHour: hour, after: first, plus: 1)
            _ = try await scheduler.step()
            let jobs = try await claimAll(backend)
            try await backend.complete(jobs.map { result($0.lease) })
            return jobs.count
        }
        let failed = { (lease: JobLease) in JobOutcome.failed(lease, JobFailure(.retryable, "HTTP 503"), retryAfter: nil) }
        let succeeded = { (lease: JobLease) in JobOutcome.succeeded(lease, output: ok) }

        // Two checks fail in a row: the source's circuit opens.
        #expect(try await slot(0, failed) == 1)
        #expect(try await slot(1, failed) == 1)
        #expect(try await circuit(store, "source:faostat").phase == .open)
        // Its checks are off: the slot is recorded, nothing is enqueued (no job piles up).
        #expect(try await slot(2, failed) == 0)
        #expect(try await outcomes() == [.fired, .fired, .circuitOpen])
        #expect(try await schedules.schedule(named: "faostat")?.nextFire != nil, "the schedule itself stays on")
        // The cool-down is over by the next slot: its check is the probe, and its success closes the circuit.
        #expect(try await slot(3, succeeded) == 1)
        #expect(try await circuit(store, "source:faostat").phase == .recovering)
        #expect(try await slot(4, succeeded) == 1)
        // Turned off by hand until reset.
        _ = try await store.changeCircuit("source:faostat", .open, reason: "the source moved")
        #expect(try await slot(5, succeeded) == 0)
        _ = try await store.changeCircuit("source:faostat", .reset, reason: "")
        #expect(try await slot(6, succeeded) == 1)
        #expect(try await outcomes() == [.fired, .fired, .circuitOpen, .fired, .fired, .circuitOpen, .fired])
        // With a cool-down of never, a year later the checks are still off, until reset.
        try await store.setLimit("source:*", LimitSettings(circuit: try CircuitBreaker(failures: 1, coolDown: CircuitBreaker.untilReset)))
        #expect(try await slot(7, failed) == 1)
        #expect(try await slot(7 + 24 * 365, succeeded) == 0)
        #expect(try await circuit(store, "source:faostat").phase == .open)
        _ = try await store.changeCircuit("source:faostat", .reset, reason: "looked at it")
        #expect(try await slot(8 + 24 * 365, succeeded) == 1)
    }
}
