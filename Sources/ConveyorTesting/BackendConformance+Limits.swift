import Conveyor
import Foundation
import Testing

/// Flow control on the store's clock: rate and concurrency limits per key, enforced inside
/// claim, and the upstream's back-pressure.
extension BackendConformance {
    static let limitCases: [Case] = [
        Case(name: "limit rules are stored, matched by key then longest prefix, and refuse bad input", body: limitRules),
        Case(name: "a rate limit never admits more starts than its setting in any window", body: rateLimitWindows),
        Case(name: "a concurrency limit is never exceeded, and a recovered lease frees its slot", body: concurrencyLimit),
        Case(name: "a deferred job keeps its attempt and holds its whole key back", body: deferredJobs),
        Case(name: "a key at its concurrency waits for a slot without spinning, and a raised limit lets its held jobs go",
             body: slotWaitAndRaisedLimit),
        Case(name: "a sliding-window rate lets up to its count start at once and never more than its count in any window",
             body: slidingWindow),
    ]

    static func slidingWindow(_ backend: any JobBackend) async throws {
        let store = try flowStore(backend)
        // Minutes, not seconds: the store's clock is the real one moved by the test, and a busy
        // machine takes a second or two between steps.
        let rate = try RateLimit(5, per: .seconds(100), sliding: true)
        #expect("\(rate)" == "5/100s sliding")
        try await store.setLimit("api:sliding", LimitSettings(rate: rate))
        #expect(try await store.limitRules().first { $0.pattern == "api:sliding" }?.settings.rate == rate, "stored as a sliding window")
        let key = "api:sliding"
        var starts: [(at: Int, id: JobID)] = []
        var elapsed = 0
        func take(_ expected: Int, _ why: String) async throws {
            let claimed = try await claimAll(store)
            #expect(claimed.count == expected, "t=\(elapsed)s: \(why)")
            starts += claimed.map { (elapsed, $0.id) }
            try await store.complete(claimed.map { .succeeded($0.lease, output: ok) })
        }
        func advance(to seconds: Int) {
            clock.advance(by: .seconds(seconds - elapsed))
            elapsed = seconds
        }

        var ids = try await store.enqueue((0..<3).map { _ in keyed([key]) }).map(\.id)
        try await take(3, "three at once: a window takes up to its count together")
        advance(to: 60)
        ids += try await store.enqueue((0..<17).map { _ in keyed([key]) }).map(\.id)
        try await take(2, "the window holds three starts: two more")
        advance(to: 90)
        try await take(0, "full until the first three leave the window")
        let state = try #require(try await store.limitStates([key]).first)
        #expect(state.nextStart.map { (5...10).contains($0.timeIntervalSince(clock.now())) } == true, "the next start in 10 s: \(state)")
        let wait = try #require(try await store.timeUntilNextDue(queues: ["default"]))
        #expect(wait <= .seconds(10), "workers wake when the window frees: \(wait)")
        for (at, count) in [(100, 3), (160, 2), (200, 3), (260, 2), (300, 3), (360, 2)] {
            advance(to: at)
            try await take(count, "the starts of \(at - 100)s left the window")
        }
        #expect(starts.map(\.id) == ids, "FIFO within what the key admits")
        for start in starts {
            let inWindow = starts.filter { $0.at >= start.at && $0.at < start.at + 100 }.count
            #expect(inWindow <= 5, "\(inWindow) starts in the 100 s from t=\(start.at)s")
        }
        #expect(throws: ConveyorError.self) { _ = try RateLimit(5, per: .seconds(1), burst: 2, sliding: true) }
        #expect(throws: ConveyorError.self) { _ = try RateLimit(RateLimit.maximumSlidingCount + 1, per: .seconds(3600), sliding: true) }
    }

    static func flowStore(_ backend: any JobBackend) throws -> any FlowControlStore & JobBackend {
        guard let store = backend as? any FlowControlStore & JobBackend else {
            throw ConveyorError.storeFailure("\(type(of: backend)) does not enforce limits (FlowControlStore)")
        }
        return store
    }

    static func keyed(_ keys: [String], priority: Priority = .normal, queue: String = "default") -> NewJob {
        var new = job(queue: queue, priority: priority)
        new.limitKeys = keys
        return new
    }

    static func limitRules(_ backend: any JobBackend) async throws {
        let store = try flowStore(backend)
        try await store.setLimit("host:*", LimitSettings(rate: try RateLimit(parsing: "5/s")))
        try await store.setLimit("host:api.worldbank.org", LimitSettings(rate: try RateLimit(parsing: "1/s"), concurrency: try ConcurrencyLimit(2)))
        try await store.setLimit("*", LimitSettings(concurrency: try ConcurrencyLimit(50)))
        let rules = try await store.limitRules()
        #expect(rules.map(\.pattern) == ["*", "host:*", "host:api.worldbank.org"])
        #expect(rules[2].settings.rate == (try RateLimit(1, per: .seconds(1))) && rules[2].settings.concurrency?.maximum == 2)
        #expect(rules[1].settings.description == "rate 5/s")
        let states = try await store.limitStates(["host:api.worldbank.org", "host:faostat.org", "tenant:42"])
        #expect(states.map(\.rule) == ["host:api.worldbank.org", "host:*", "*"])
        #expect(states.allSatisfy { $0.active == 0 && $0.waiting == 0 && $0.nextStart == nil && $0.blockedUntil == nil })

        // Replacing and removing.
        try await store.setLimit("host:*", LimitSettings(rate: try RateLimit(parsing: "10/2s", burst: 3)))
        #expect(try await store.limitRules().first { $0.pattern == "host:*" }?.settings.rate == (try RateLimit(10, per: .seconds(2), burst: 3)))
        #expect(try await store.removeLimit("host:api.worldbank.org"))
        #expect(try await store.removeLimit("host:api.worldbank.org") == false)
        #expect(try await store.limitStates(["host:api.worldbank.org"]).first?.rule == "host:*")

        // Bad input names the value and the accepted forms; nothing is stored.
        for bad in ["5/x", "five/s", "5", "0/s", "-1/s", "5/0s"] {
            #expect(throws: ConveyorError.self, "rate \(bad)") { _ = try RateLimit(parsing: bad) }
        }
        do {
            _ = try RateLimit(parsing: "5/x")
        } catch {
            #expect("\(error)".contains("'5/x'") && "\(error)".contains("5/s, 100/min"))
        }
        #expect(throws: ConveyorError.self) { _ = try ConcurrencyLimit(0) }
        for pattern in ["", "host*", "a b", "host:*:x"] {
            await #expect(throws: ConveyorError.self, "pattern '\(pattern)'") {
                try await store.setLimit(pattern, LimitSettings(concurrency: try ConcurrencyLimit(1)))
            }
        }
        await #expect(throws: ConveyorError.self) { try await store.setLimit("host:*", LimitSettings()) }
        await #expect(throws: ConveyorError.self, "a key with a space") { _ = try await store.enqueue(keyed(["host a"])) }
        await #expect(throws: ConveyorError.self, "a key twice") { _ = try await store.enqueue(keyed(["a", "a"])) }
        #expect(try await store.limitRules().count == 2)

        // Keys round-trip to claims and records.
        let id = try await store.enqueue(keyed(["tenant:42", "host:x.org"])).id
        #expect(try await store.job(id)?.limitKeys == ["tenant:42", "host:x.org"])
        let claimed = try await claimAll(store)
        #expect(claimed.map(\.limitKeys) == [["tenant:42", "host:x.org"]])
        #expect(try await store.limitStates(["tenant:42", "host:x.org"]).map(\.active) == [1, 1])
        try await store.complete([.succeeded(claimed[0].lease, output: Data("{}".utf8))])
        #expect(try await store.limitStates(["tenant:42", "host:x.org"]).map(\.active) == [0, 0])
    }

    static func rateLimitWindows(_ backend: any JobBackend) async throws {
        let store = try flowStore(backend)
        try await store.setLimit("host:*", LimitSettings(rate: try RateLimit(parsing: "5/s")))
        try await store.setLimit("burst:*", LimitSettings(rate: try RateLimit(parsing: "5/s", burst: 3)))
        let a = try await store.enqueue((0..<40).map { _ in keyed(["host:a"]) }).map(\.id)
        let b = try await store.enqueue((0..<12).map { _ in keyed(["host:b"]) }).map(\.id)
        let burst = try await store.enqueue((0..<30).map { _ in keyed(["burst:c"]) }).map(\.id)
        let free = try await store.enqueue((0..<10).map { _ in job() }).map(\.id)
        let began = clock.now()
        let first = try await claimAll(store)
        #expect(Set(free).isSubset(of: first.map(\.id)), "jobs of no key are not held back")
        var claimedOrder: [JobID] = first.map(\.id)
        try await store.complete(first.map { .succeeded($0.lease, output: Data("{}".utf8)) })
        // Four seconds of the store's clock in 40 ms steps, claiming everything admitted.
        var lastClaim = clock.now(), longestGap = 0.0
        for _ in 0..<100 {
            clock.advance(by: .milliseconds(40))
            longestGap = max(longestGap, clock.now().timeIntervalSince(lastClaim))
            lastClaim = clock.now()
            let claimed = try await claimAll(store)
            claimedOrder += claimed.map(\.id)
            #expect(claimed.allSatisfy { $0.attempt == 1 }, "a job held back spent no attempt")
            try await store.complete(claimed.map { .succeeded($0.lease, output: Data("{}".utf8)) })
        }
        let elapsed = clock.now().timeIntervalSince(began)
        func starts(_ ids: [JobID]) async throws -> [Date] {
            var times: [Date] = []
            for id in ids { if let started = try await store.job(id)?.startedAt { times.append(started) } }
            return times.sorted()
        }
        /// The most starts in any window of `length` (from each start on).
        func mostInAnyWindow(_ times: [Date], _ length: TimeInterval) -> Int {
            var most = 0
            for (i, start) in times.enumerated() {
                most = max(most, times[i...].prefix { $0.timeIntervalSince(start) < length - 0.000_001 }.count)
            }
            return most
        }
        let aStarts = try await starts(a), bStarts = try await starts(b), burstStarts = try await starts(burst)
        #expect(mostInAnyWindow(aStarts, 1) <= 5, "host:a: \(mostInAnyWindow(aStarts, 1)) starts in one second")
        #expect(mostInAnyWindow(bStarts, 1) <= 5)
        #expect(mostInAnyWindow(burstStarts, 1) <= 5 + 3 - 1, "a burst of 3 lets at most 2 more through")
        // And it keeps its rate: over about 4 s of the store's clock (plus the real time the loop
        // took), a start every 200 ms, each at most one claim's gap late; one more for the start
        // at once, two more for the burst.
        let expected = Int(elapsed * 5), fewest = Int(elapsed / (0.2 + longestGap))
        #expect((fewest...expected + 1).contains(aStarts.count), "host:a started \(aStarts.count) times in \(elapsed) s at 5/s (gap \(longestGap))")
        #expect(bStarts.count == 12, "host:b had only 12")
        #expect((fewest + 2...expected + 3).contains(burstStarts.count), "burst:c started \(burstStarts.count) times in \(elapsed) s")
        // In line within the key: FIFO.
        let aOrder = claimedOrder.filter { a.contains($0) }
        #expect(aOrder == aOrder.sorted(), "a key's jobs start in FIFO order")
        let waiting = try await store.limitStates(["host:a"])[0]
        #expect(waiting.waiting == 40 - aStarts.count || waiting.waiting == 0, "held-back jobs are counted: \(waiting)")
        // (A count of none is absent: on a slow run every job may have started.)
        #expect(try await store.queueStats().first { $0.queue == "default" }?.counts[.ready] ?? 0 == 40 - aStarts.count + 30 - burstStarts.count,
                "held-back jobs are still ready")
    }

    static func concurrencyLimit(_ backend: any JobBackend) async throws {
        let store = try flowStore(backend)
        try await store.setLimit("tenant:1", LimitSettings(concurrency: try ConcurrencyLimit(2)))
        let ids = try await store.enqueue((0..<6).map { _ in keyed(["tenant:1"]) }).map(\.id)
        let other = try await store.enqueue(keyed(["tenant:2"])).id
        var claimed = try await claimAll(store)
        #expect(claimed.map(\.id) == [ids[0], ids[1], other])
        #expect(try await claimAll(store).isEmpty, "at its limit: nothing more, however often asked")
        var state = try await store.limitStates(["tenant:1"])[0]
        #expect(state.active == 2 && state.waiting == 4)
        // A later high-priority job waits behind nobody of lower priority once a slot frees.
        let urgent = try await store.enqueue(keyed(["tenant:1"], priority: .high)).id
        #expect(try await claimAll(store).isEmpty)
        try await store.complete([.succeeded(claimed[0].lease, output: Data("{}".utf8))])
        let next = try await claimAll(store)
        #expect(next.map(\.id) == [urgent], "priority holds within what the key admits")
        #expect(try await store.limitStates(["tenant:1"])[0].active == 2)
        // A SIGKILLed holder: its lease expires, recovery frees the slot, the next job goes.
        claimed = [claimed[1]] + next
        clock.advance(by: lease + .seconds(1))
        #expect(try await store.recoverExpiredLeases() == 3)
        state = try await store.limitStates(["tenant:1"])[0]
        #expect(state.active == 0)
        let afterRecovery = try await claimAll(store)
        let tenantJobs = afterRecovery.filter { $0.limitKeys == ["tenant:1"] }
        // Priority first, then the oldest: the recovered job keeps its turn.
        #expect(tenantJobs.map(\.id) == [urgent, ids[1]], "\(afterRecovery.map(\.id))")
        #expect(afterRecovery.map(\.id).contains(other))
        // Release and every outcome free the slot too.
        try await store.release([tenantJobs[0].lease])
        #expect(try await store.limitStates(["tenant:1"])[0].active == 1)
        try await store.complete([.failed(tenantJobs[1].lease, JobFailure(.retryable, "503"), retryAfter: .seconds(600))])
        #expect(try await store.limitStates(["tenant:1"])[0].active == 0)
        var seen = 0
        while true {
            let batch = try await claimAll(store)
            if batch.isEmpty { break }
            #expect(batch.count <= 2)
            #expect(try await store.limitStates(["tenant:1"])[0].active <= 2)
            seen += batch.count
            try await store.complete(batch.map { .succeeded($0.lease, output: Data("{}".utf8)) })
        }
        #expect(seen == 5, "the released one and the four held back ran two at a time: \(seen)")
        // Raising the limit lets more go at once.
        try await store.setLimit("tenant:1", LimitSettings(concurrency: try ConcurrencyLimit(10)))
        clock.advance(by: .seconds(601))
        _ = try await store.enqueue((0..<3).map { _ in keyed(["tenant:1"]) })
        #expect(try await claimAll(store).count == 4, "the retrying one and three new")
    }

    static func deferredJobs(_ backend: any JobBackend) async throws {
        let store = try flowStore(backend)
        let first = try await store.enqueue(keyed(["host:slow.example"])).id
        let claimed = try await claimAll(store)
        #expect(claimed.map(\.attempt) == [1])
        try await store.complete([.deferred(claimed[0].lease, for: .seconds(30), keys: ["host:slow.example"], reason: "HTTP 429")])
        var record = try #require(try await store.job(first))
        #expect(record.state == .retrying && record.attempt == 0, "the attempt is not counted: \(record.state) \(record.attempt)")
        #expect(record.lastError?.message.contains("HTTP 429") == true)
        let state = try await store.limitStates(["host:slow.example"])[0]
        #expect(state.blockedUntil.map { $0.timeIntervalSince(clock.now()) > 25 } == true, "\(state)")
        // The whole key waits; others do not.
        let second = try await store.enqueue(keyed(["host:slow.example"])).id
        let unrelated = try await store.enqueue([keyed(["host:fast.example"]), job()]).map(\.id)
        #expect(Set(try await claimAll(store).map(\.id)) == Set(unrelated))
        let wait = try #require(try await store.timeUntilNextDue(queues: ["default"]))
        #expect(wait > .seconds(20) && wait <= .seconds(30), "workers wake when the key may go again: \(wait)")
        clock.advance(by: .seconds(31))
        let again = try await claimAll(store)
        #expect(Set(again.map(\.id)) == [first, second])
        #expect(again.first { $0.id == first }?.attempt == 1, "the deferred job runs its first attempt again")
        record = try #require(try await store.job(first))
        #expect(record.maxAttempts == 3 && record.attempt == 1)
    }

    static func slotWaitAndRaisedLimit(_ backend: any JobBackend) async throws {
        let store = try flowStore(backend)
        try await store.setLimit("tenant:both", LimitSettings(rate: try RateLimit(100, per: .seconds(1)), concurrency: try ConcurrencyLimit(1)))
        let ids = try await store.enqueue((0..<3).map { _ in keyed(["tenant:both"]) }).map(\.id)
        #expect(try await claimAll(store).map(\.id) == [ids[0]])
        // The rate admits again long since; only the slot is taken.
        clock.advance(by: .seconds(5))
        #expect(try await claimAll(store).isEmpty)
        let lookedAt = ContinuousClock.now
        #expect(try await claimAll(store).isEmpty)
        let wait = try #require(try await store.timeUntilNextDue(queues: ["default"]))
        // A wake-up in the past (the rate's "next start" while only the slot stops it) made every
        // claim look again at once: idle workers spun. Now it is a second after that claim (the
        // store's clock runs on in real time: a run slower than that second may find it due).
        let took = ContinuousClock.now - lookedAt
        #expect(wait <= .seconds(1) && (wait > .zero || took >= .seconds(1)),
                "held jobs waiting for a slot are looked at again within a second, not at once: \(wait) (the calls took \(took))")
        #expect(try await store.limitStates(["tenant:both"])[0].waiting == 2)
        try await store.setLimit("tenant:both", LimitSettings(concurrency: try ConcurrencyLimit(3)))
        #expect(try await claimAll(store).map(\.id) == [ids[1], ids[2]], "a raised limit lets the held jobs go at the next claim")
    }
}
