import Conveyor
import ConveyorCommands
import ConveyorSQLite
import ConveyorTesting
import Foundation
import Testing

@Suite("conveyor CLI")
struct CLITests {
    let directory: TemporaryDirectory
    var store: String { directory.file("cli.sqlite") }

    init() throws {
        directory = try TemporaryDirectory(prefix: "conveyor-cli")
    }

    func conveyor(_ arguments: String...) async throws -> ConveyorProcess.Output {
        try await ConveyorProcess.run(arguments + (arguments.first == "demo" ? [] : ["--store", store]), in: directory.path)
    }

    /// `conveyor schedule next` shows when an expression fires, in UTC and its zone (DST rules
    /// included), and names what is wrong with a bad one.
    @Test func scheduleNextShowsFiresAndNamesBadExpressions() async throws {
        defer { directory.remove() }
        func schedule(_ arguments: String...) async throws -> ConveyorProcess.Output {
            try await ConveyorProcess.run(["schedule", "next"] + arguments, in: directory.path)
        }
        let weekly = try await schedule("--cron", "0 6 * * MON", "--tz", "Europe/Berlin", "--after", "2026-12-01T00:00:00Z", "--count", "2")
        #expect(weekly.status == 0, "\(weekly.all)")
        #expect(weekly.stdout.contains("2026-12-07T05:00:00Z  Mon 2026-12-07 06:00:00 Europe/Berlin"), "\(weekly.stdout)")
        #expect(weekly.stdout.contains("2026-12-14T05:00:00Z"))
        // 02:30 does not exist in New York on 2026-03-08: it fires once, at 03:00 local.
        let gap = try await schedule("--cron", "30 2 * * *", "--tz", "America/New_York", "--after", "2026-03-07T12:00:00Z", "--count", "2")
        #expect(gap.stdout.contains("2026-03-08T07:00:00Z  Sun 2026-03-08 03:00:00 America/New_York"), "\(gap.stdout)")
        let interval = try await schedule("--every", "6h", "--from", "2026-12-01T00:00:00Z", "--after", "2026-12-01T05:00:00Z", "--count", "1")
        #expect(interval.stdout.contains("2026-12-01T06:00:00Z"), "\(interval.stdout)")

        let hour = try await schedule("--cron", "0 24 * * *")
        #expect(hour.status != 0)
        #expect(hour.stderr.contains("hour must be 0-23; got 24 at field 2 (column 3)"), "\(hour.stderr)")
        let zone = try await schedule("--cron", "0 6 * * *", "--tz", "Europe/Berln")
        #expect(zone.stderr.contains("did you mean \"Europe/Berlin\""), "\(zone.stderr)")
        let phrase = try await schedule("--calendar", "fortnightly")
        #expect(phrase.stderr.contains("accepted forms are: hourly"), "\(phrase.stderr)")
        let both = try await schedule("--cron", "* * * * *", "--every", "1h")
        #expect(both.stderr.contains("exactly one of --cron, --calendar, --every and --manual"), "\(both.stderr)")
    }

    @Test func submitFileWorkStatusAndResults() async throws {
        defer { directory.remove() }
        try """
            # codes
            09011112
            09021010

            09 031001
            09021010
            09041110
            """.write(toFile: directory.file("keys.txt"), atomically: true, encoding: .utf8)
        let submit = try await conveyor("submit", "conveyor.echo", "--file", directory.file("keys.txt"), "--batch", "b1")
        #expect(submit.status == 0, "\(submit.all)")
        #expect(submit.stdout.contains("3 keys, 1 bad line, 1 duplicate"))
        #expect(submit.stdout.contains("bad line 5: key contains whitespace"))
        #expect(submit.stdout.contains("duplicate line 6: '09021010' (first on line 3)"))
        #expect(submit.stdout.contains("Batch b1: 3 submitted"))

        // Submitting the same file again is harmless: unique keys skip what is there.
        let again = try await conveyor("submit", "conveyor.echo", "--file", directory.file("keys.txt"), "--batch", "b2")
        #expect(again.stdout.contains("Batch b2: 0 submitted, 3 already queued or done"))

        let before = try await conveyor("status")
        #expect(before.stdout.contains("default"))
        #expect(before.stdout.contains("Workers: none seen"))

        let worker = try await conveyor("worker", "--burst", "--concurrency", "2")
        #expect(worker.status == 0, "\(worker.all)")
        #expect(worker.stdout.contains("stopped after 3 job(s)"))

        let results = try await conveyor("results", "b1")
        #expect(results.status == 0)
        #expect(results.stdout.contains("Total: 3   Succeeded: 3"))
        #expect(results.stdout.contains(#"{"key":"09041110"}"#))
        let latest = try await conveyor("results", "--json")
        #expect(latest.stdout.split(separator: "\n").count == 3, "the latest batch with jobs is b1: \(latest.all)")
    }

    @Test func submitFileListsEveryBadLineAndDuplicateWithErrorsOrJSON() async throws {
        defer { directory.remove() }
        // 35 good keys; after each, a bad line, or every seventh time the previous good key again:
        // 30 bad lines and 5 duplicates, more bad lines than the terminal report shows.
        var lines: [String] = []
        var expected: [(line: Int, kind: String, key: String, reason: String)] = []
        for index in 0..<35 {
            lines.append(String(10_000_000 + index))
            if index % 7 == 3 {
                lines.append(String(10_000_000 + index - 1))
                expected.append((lines.count, "duplicate", lines[lines.count - 4], "first on line \(lines.count - 3)"))
            } else {
                lines.append("bad key \(index)")
                expected.append((lines.count, "invalid", "bad key \(index)", "key contains whitespace"))
            }
        }
        try #require(expected.filter { $0.kind == "invalid" }.count == 30)
        try #require(expected.filter { $0.kind == "duplicate" }.count == 5)
        let keys = directory.file("keys.txt")
        try lines.joined(separator: "\n").write(toFile: keys, atomically: true, encoding: .utf8)

        let plain = try await conveyor("submit", "conveyor.echo", "--file", keys, "--batch", "b0")
        #expect(plain.status == 0, "\(plain.all)")
        #expect(plain.stdout.contains("35 keys, 30 bad lines, 5 duplicates"))
        #expect(plain.stdout.components(separatedBy: "  bad line ").count - 1 == 20, "\(plain.stdout)")
        #expect(plain.stdout.contains("  … and 10 more bad lines; use --errors FILE or --json for all"), "\(plain.stdout)")
        #expect(plain.stdout.components(separatedBy: "  duplicate line ").count - 1 == 5)

        let errors = directory.file("problems.jsonl")
        let written = try await conveyor("submit", "conveyor.echo", "--file", keys, "--batch", "b1", "--errors", errors)
        #expect(written.status == 0, "\(written.all)")
        #expect(written.stdout.contains("  … and 10 more bad lines; all are in \(errors)"), "\(written.stdout)")
        #expect(written.stdout.contains("Wrote 30 bad lines and 5 duplicates to \(errors)"), "\(written.stdout)")
        let rows = try String(contentsOfFile: errors, encoding: .utf8).split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not a JSON object: \(line)")
        }
        #expect(rows.count == 35)
        for (row, want) in zip(rows, expected) {
            #expect(row["line"] as? Int == want.line)
            #expect(row["kind"] as? String == want.kind)
            #expect(row["key"] as? String == want.key)
            #expect(row["reason"] as? String == want.reason)
            #expect(row.count == 4, "\(row)")
        }

        // --json prints only the summary: every problem, the batch, the count submitted.
        let text = directory.file("problems.txt")
        let json = try await conveyor("submit", "conveyor.echo", "--file", keys, "--batch", "b2", "--json", "--errors", text)
        #expect(json.status == 0, "\(json.all)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any], "\(json.all)")
        #expect(summary["batch"] as? String == "b2")
        #expect(summary["submitted"] as? Int == 0)
        #expect(summary["alreadyQueued"] as? Int == 35, "unique keys: b1 queued them all")
        #expect(summary["keys"] as? Int == 35)
        #expect(summary["invalid"] as? Int == 30)
        #expect(summary["duplicates"] as? Int == 5)
        let problems = try #require(summary["problems"] as? [[String: Any]])
        #expect(problems.compactMap { $0["line"] as? Int } == expected.map(\.line))
        #expect(problems.compactMap { $0["kind"] as? String } == expected.map(\.kind))
        #expect(problems.compactMap { $0["key"] as? String } == expected.map(\.key))
        // Plain text when the name ends in .txt.
        let textLines = try String(contentsOfFile: text, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(textLines == expected.map { "line \($0.line): \($0.kind): \($0.reason): \"\($0.key)\"" })

        // Nothing to submit: the summary still lists the problems, with no batch, and the exit says so.
        try "bad one\nbad two\n".write(toFile: directory.file("bad.txt"), atomically: true, encoding: .utf8)
        let none = try await conveyor("submit", "conveyor.echo", "--file", directory.file("bad.txt"), "--json")
        #expect(none.status != 0)
        #expect(none.stderr.contains("no valid keys to submit"))
        let empty = try #require(try JSONSerialization.jsonObject(with: Data(none.stdout.utf8)) as? [String: Any], "\(none.all)")
        #expect(empty["batch"] is NSNull)
        #expect((empty["problems"] as? [Any])?.count == 2)

        let misuse = try await conveyor("submit", "conveyor.echo", "--payload", "{}", "--json")
        #expect(misuse.status != 0)
        #expect(misuse.stderr.contains("use them with --file"))
    }

    @Test func commandKindRunsTheWorkersTemplateWithTheJobsArguments() async throws {
        defer { directory.remove() }
        _ = try await conveyor("submit", "conveyor.command", "--payload", #"{"key":"09011112; rm -rf /"}"#, "--max-attempts", "1")
        _ = try await conveyor("submit", "conveyor.command", "--payload", #"{"other":"x"}"#, "--max-attempts", "1")
        _ = try await conveyor("submit", "conveyor.command", "--payload", #"{"key":"fail"}"#, "--max-attempts", "1")
        let script = directory.file("scrape.sh")
        try """
            #!/bin/sh
            if [ "$1" = "fail" ]; then echo "HTTP 503 from source" >&2; exit 3; fi
            echo "scraped [$1]"
            """.write(toFile: script, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script)
        let worker = try await conveyor("worker", "--burst", "--command", "\(script) {key}")
        #expect(worker.status == 0, "\(worker.all)")
        let backend = try SQLiteBackend(path: store)
        let jobs = try await backend.jobs(JobQuery())
        try #require(jobs.count == 3)
        let result = try JSONDecoder().decode(CommandResult.self, from: try #require(jobs[0].result))
        #expect(result.exitStatus == 0)
        // The whole value is one argument: no shell ever sees it.
        #expect(result.outputTail == "scraped [09011112; rm -rf /]\n")
        #expect(jobs[1].state == .dead)
        #expect(jobs[1].lastError?.message.contains("no field 'key'") == true)
        #expect(jobs[1].lastError?.kind == .permanent)
        #expect(jobs[2].state == .dead)
        #expect(jobs[2].lastError?.message.contains("exited with status 3") == true)
        #expect(jobs[2].lastError?.message.contains("HTTP 503 from source") == true)
    }

    @Test func batchCommandsFollowRecoverAndCancel() async throws {
        defer { directory.remove() }
        try "good\nflaky\nbroken\n".write(toFile: directory.file("keys.txt"), atomically: true, encoding: .utf8)
        let script = directory.file("job.sh")
        try """
            #!/bin/sh
            case "$1" in flaky) exit 3;; broken) exit 64;; esac
            echo "ok $1"
            """.write(toFile: script, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script)
        _ = try await conveyor("submit", "conveyor.command", "--file", directory.file("keys.txt"), "--batch", "nightly", "--max-attempts", "1")
        let worker = try await conveyor("worker", "--burst", "--command", "\(script) {key}")
        #expect(worker.status == 0, "\(worker.all)")

        let list = try await conveyor("batch", "list")
        #expect(list.stdout.contains("nightly"))
        #expect(list.stdout.contains("conveyor.command × keys.txt"))
        let status = try await conveyor("batch", "status", "nightly", "--watch")
        #expect(status.stdout.contains("100.0% done · 3/3 finished · 1 succeeded · 2 dead"), "\(status.all)")
        let failed = try await conveyor("batch", "results", "nightly", "--failed")
        #expect(failed.stdout.contains("exited with status 3"))
        #expect(failed.stdout.contains("permanent: command exited with status 64"))

        let recover = try await conveyor("batch", "recover", "nightly", "--retryable-only")
        #expect(recover.stdout.contains("Re-enqueued 1 dead job(s) of batch nightly; 1 left dead (permanent failures)"))
        let cancel = try await conveyor("batch", "cancel", "nightly")
        #expect(cancel.stdout.contains("Cancelled 1 job(s) of batch nightly"))
        let after = try await conveyor("batch", "status", "nightly")
        #expect(after.stdout.contains("1 succeeded · 1 dead · 1 cancelled"))
        let missing = try await conveyor("batch", "status", "nope")
        #expect(missing.stderr.contains("no batch 'nope'"))
    }

    /// `conveyor schedule add / list / show / pause / resume / run-now / remove`, and a worker
    /// whose scheduler fires a stored every-second schedule.
    @Test func storedSchedulesChangeAtRunTimeAndWorkersFireThem() async throws {
        defer { directory.remove() }
        let unknown = try await conveyor("schedule", "add", "tick", "--every", "1s", "--job", "nobody.knows")
        #expect(unknown.status != 0)
        #expect(unknown.stderr.contains("its job 'nobody.knows' is not a registered job type"), "\(unknown.all)")
        #expect(unknown.stderr.contains("conveyor.echo") && unknown.stderr.contains("--any-job"), "\(unknown.all)")
        let badCron = try await conveyor("schedule", "add", "bad", "--cron", "0 6 * * FUN", "--job", "conveyor.echo")
        #expect(badCron.stderr.contains("field 5"), "\(badCron.all)")
        let badMissed = try await conveyor("schedule", "add", "bad", "--every", "1h", "--job", "conveyor.echo", "--missed", "catchup:0")
        #expect(badMissed.stderr.contains("catchup needs a number of slots of at least 1"), "\(badMissed.all)")
        let badOverlap = try await conveyor("schedule", "add", "bad", "--every", "1h", "--job", "conveyor.echo", "--overlap", "never")
        #expect(badOverlap.stderr.contains("--overlap 'never' is not a policy: use allow, skip or one"), "\(badOverlap.all)")

        let tick = try await conveyor("schedule", "add", "tick", "--every", "1s", "--job", "conveyor.echo", "--payload", #"{"n":1}"#,
                                      "--missed", "catchup:1000")
        #expect(tick.status == 0, "\(tick.all)")
        #expect(tick.stdout.contains("Schedule 'tick': every 1s"), "\(tick.stdout)")
        let again = try await conveyor("schedule", "add", "tick", "--every", "1s", "--job", "conveyor.echo")
        #expect(again.stderr.contains("a schedule named 'tick' exists; add --replace"), "\(again.all)")
        try "4001\n4002\n4003\n".write(toFile: directory.file("codes.txt"), atomically: true, encoding: .utf8)
        let weekly = try await conveyor("schedule", "add", "export-weekly", "--calendar", "weekly on monday at 02:00", "--tz", "Asia/Kolkata",
                                        "--job", "conveyor.echo", "--file", directory.file("codes.txt"), "--overlap", "skip")
        #expect(weekly.stdout.contains("a batch of 3 conveyor.echo jobs"), "\(weekly.all)")
        #expect(weekly.stdout.contains("Asia/Kolkata"), "\(weekly.stdout)")
        try "4001\n\"broken\n".write(toFile: directory.file("bad.csv"), atomically: true, encoding: .utf8)
        let badFile = try await conveyor("schedule", "add", "bad-file", "--every", "1h", "--job", "conveyor.echo", "--file", directory.file("bad.csv"))
        #expect(badFile.status != 0 && badFile.stderr.contains("1 bad line(s)") && badFile.stderr.contains("line "), "\(badFile.all)")
        let elsewhere = try await conveyor("schedule", "add", "elsewhere", "--every", "1h", "--job", "other.program.job", "--any-job", "--paused")
        #expect(elsewhere.status == 0 && elsewhere.stdout.contains("(paused)"), "\(elsewhere.all)")
        #expect(try await conveyor("schedule", "remove", "elsewhere").status == 0)
        let manual = try await conveyor("schedule", "add", "on-event", "--manual", "--job", "conveyor.echo")
        #expect(manual.stdout.contains("Fires only on demand"), "\(manual.all)")

        let list = try await conveyor("schedule", "list")
        #expect(list.stdout.contains("export-weekly") && list.stdout.contains("weekly on monday at 02:00 (Asia/Kolkata)"), "\(list.stdout)")
        #expect(list.stdout.contains("on demand"), "\(list.stdout)")
        let three = try await conveyor("schedule", "list", "--next", "3", "--json")
        let weeklyLine = try #require(three.stdout.split(separator: "\n").first { $0.contains(#""name":"export-weekly""#) }, "\(three.all)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(weeklyLine.utf8)) as? [String: Any])
        let fires = try #require(object["nextFires"] as? [String])
        #expect(fires.count == 3 && fires[0] == object["nextFire"] as? String, "\(weeklyLine)")
        let gaps = zip(fires, fires.dropFirst()).compactMap { pair -> Double? in
            guard let a = ISO8601DateFormatter().date(from: pair.0), let b = ISO8601DateFormatter().date(from: pair.1) else { return nil }
            return b.timeIntervalSince(a)
        }
        #expect(gaps == [7 * 86_400, 7 * 86_400], "weekly fires a week apart: \(fires)")
        #expect(try await conveyor("schedule", "list", "--next", "3").stdout.contains("NEXT 3 FIRES"))
        let show = try await conveyor("schedule", "show", "export-weekly", "--next", "3")
        #expect(show.stdout.contains("Next fires:") && show.stdout.contains("Mon ") && show.stdout.contains("02:00:00 Asia/Kolkata"), "\(show.stdout)")
        #expect(show.stdout.contains("overlap: skip"), "\(show.stdout)")

        let run = try await conveyor("schedule", "run-now", "export-weekly")
        #expect(run.stdout.contains("Ran schedule 'export-weekly' now: 3 jobs"), "\(run.all)")
        let backend = try SQLiteBackend(path: store)
        let runNow = try await backend.fireHistory(of: "export-weekly", limit: 10)
        #expect(runNow.map(\.outcome) == [.ranNow])
        #expect(try await backend.jobs(JobQuery()).count == 3)

        #expect(try await conveyor("schedule", "pause", "tick").stdout.contains("Paused schedule 'tick'"))
        #expect(try await backend.schedule(named: "tick")?.schedule.paused == true)
        #expect(try await conveyor("schedule", "show", "tick").stdout.contains("none while paused"))
        #expect(try await conveyor("schedule", "resume", "tick").stdout.contains("Resumed schedule 'tick'; next fire"))

        // A worker's scheduler leads and fires `tick` every second; its jobs run.
        let worker = try await ConveyorProcess.start(["worker", "--store", store, "--queues", "default"], in: directory.path,
                                                     log: directory.file("worker.log"))
        let clock = ContinuousClock()
        let deadline = clock.now + .seconds(60)
        while try await backend.fireHistory(of: "tick", limit: 10).filter({ $0.outcome == .fired }).count < 3 {
            try #require(clock.now < deadline, "tick did not fire 3 times: \((try? String(contentsOfFile: directory.file("worker.log"), encoding: .utf8)) ?? "")")
            let generation = backend.completionSignal.generation
            await backend.completionSignal.wait(after: generation, timeout: .milliseconds(500))
        }
        worker.kill(SIGTERM)
        #expect(await worker.waitForExit() == 0)
        let fired = try await backend.jobs(JobQuery()).filter { $0.headers[JobTemplate.scheduleHeader] == "tick" }
        let slots = fired.compactMap { $0.headers[JobTemplate.slotHeader] }
        #expect(slots.count >= 3 && Set(slots).count == slots.count, "one job per slot: \(slots)")
        let history = try await conveyor("schedule", "show", "tick", "--history", "2")
        #expect(history.stdout.contains("History (newest first):") && history.stdout.contains("fired"), "\(history.stdout)")
        let listed = try await conveyor("schedule", "list", "--json")
        #expect(listed.stdout.split(separator: "\n").count == 3, "\(listed.stdout)")
        #expect(listed.stdout.contains(#""name":"tick""#) && listed.stdout.contains(#""outcome":"fired""#), "\(listed.stdout)")

        #expect(try await conveyor("schedule", "remove", "tick").stdout.contains("Removed schedule 'tick'"))
        let gone = try await conveyor("schedule", "show", "tick")
        #expect(gone.status != 0 && gone.stderr.contains("no schedule named 'tick'"), "\(gone.all)")
    }

    /// `conveyor limits` sets, lists, shows and removes limits; submitted jobs carry their
    /// limit keys; `conveyor status` shows the rules; bad input names the value and the forms.
    @Test func limitsAreSetShownAndRemovedAndBadInputIsNamed() async throws {
        defer { directory.remove() }
        let set = try await conveyor("limits", "set", "host:*", "--rate", "5/s", "--burst", "10")
        #expect(set.status == 0, "\(set.all)")
        #expect(set.stdout.contains("Limit 'host:*': rate 5/s burst 10"), "\(set.stdout)")
        #expect(try await conveyor("limits", "set", "tenant:42", "--concurrency", "4").status == 0)
        let sliding = try await conveyor("limits", "set", "api:partner", "--rate", "100/min", "--sliding-window")
        #expect(sliding.status == 0 && sliding.stdout.contains("rate 100/min sliding"), "\(sliding.all)")
        let slidingBurst = try await conveyor("limits", "set", "api:partner", "--rate", "100/min", "--sliding-window", "--burst", "5")
        #expect(slidingBurst.status != 0 && slidingBurst.stderr.contains("takes no burst"), "\(slidingBurst.all)")
        #expect(try await conveyor("limits", "remove", "api:partner").status == 0)
        let submitted = try await conveyor("submit", "fetch", "--payload", "{}", "--limit-key", "tenant:42", "--limit-key", "host:x.org")
        #expect(submitted.status == 0, "\(submitted.all)")
        let list = try await conveyor("limits")
        #expect(list.status == 0, "\(list.all)")
        #expect(list.stdout.contains("host:*") && list.stdout.contains("5/s burst 10"), "\(list.stdout)")
        #expect(list.stdout.contains("tenant:42"), "\(list.stdout)")
        let json = try await conveyor("limits", "list", "--json")
        #expect(json.stdout.contains(#""pattern":"tenant:42""#) && json.stdout.contains(#""concurrency":4"#), "\(json.stdout)")
        let show = try await conveyor("limits", "show", "host:api.worldbank.org", "tenant:42")
        #expect(show.stdout.contains("host:api.worldbank.org  host:*"), "\(show.stdout)")
        let status = try await conveyor("status")
        #expect(status.stdout.contains("Limits: 2 rule(s)"), "\(status.stdout)")
        let store = try SQLiteBackend(configuration: .init(path: self.store))
        #expect(try await store.jobs(JobQuery()).first?.limitKeys == ["tenant:42", "host:x.org"])

        let badRate = try await conveyor("limits", "set", "host:*", "--rate", "5/x")
        #expect(badRate.status != 0 && badRate.stderr.contains("rate '5/x'") && badRate.stderr.contains("5/s, 100/min"), "\(badRate.all)")
        let zero = try await conveyor("limits", "set", "host:*", "--concurrency", "0")
        #expect(zero.status != 0 && zero.stderr.contains("a concurrency of 0"), "\(zero.all)")
        let negative = try await conveyor("limits", "set", "host:*", "--rate=-1/s")
        #expect(negative.status != 0 && negative.stderr.contains("-1/s"), "\(negative.all)")
        let pattern = try await conveyor("limits", "set", "host*", "--rate", "1/s")
        #expect(pattern.status != 0 && pattern.stderr.contains("ends in ':*'"), "\(pattern.all)")
        let unknown = try await conveyor("limits", "remove", "host:nope")
        #expect(unknown.status != 0 && unknown.stderr.contains("no limit rule 'host:nope'") && unknown.stderr.contains("host:*"), "\(unknown.all)")
        let badKey = try await conveyor("submit", "fetch", "--limit-key", "a b")
        #expect(badKey.status != 0 && badKey.stderr.contains("space"), "\(badKey.all)")
        #expect(try await conveyor("limits", "remove", "host:*").status == 0)
        #expect(!(try await conveyor("limits").stdout.contains("host:*")))
    }

    /// `conveyor limits set --breaker` stores a breaker; `conveyor circuits` lists, shows,
    /// opens, closes and resets circuits with their reliability and history; `conveyor status`
    /// shows them; bad input names the value.
    @Test func circuitsAreShownAndChangedByHand() async throws {
        defer { directory.remove() }
        let set = try await conveyor("limits", "set", "source:*", "--breaker", "2", "--failure-rate", "50%", "--window", "4",
                                     "--cool-down", "1m", "--wave", "3", "--wave-interval", "2s")
        #expect(set.status == 0, "\(set.all)")
        #expect(set.stdout.contains("breaker opens after 2 failures in a row or 50% of the last 4, probes after 1m"), "\(set.stdout)")
        #expect(try await conveyor("limits").stdout.contains("2 in a row or 50% of 4, 1m cool-down"))
        #expect(try await conveyor("limits", "list", "--json").stdout.contains(#""breaker":{"coolDownSeconds":60,"failureRate":0.5"#))
        #expect(try await conveyor("circuits").stdout.contains("No circuits yet"))

        // Two failures in a row open source:faostat.
        let store = try SQLiteBackend(configuration: .init(path: self.store))
        _ = try await store.enqueue((0..<3).map { _ in
            var job = NewJob(name: "fetch")
            job.limitKeys = ["source:faostat"]
            return job
        })
        let claimed = try await store.claim(queues: ["default"], limit: 3, lease: .seconds(60), workerID: "test")
        try await store.complete([.succeeded(claimed[0].lease, output: Data("{}".utf8))] + claimed.dropFirst().map {
            .failed($0.lease, JobFailure(.retryable, "HTTP 503"), retryAfter: .seconds(60))
        })
        let list = try await conveyor("circuits")
        #expect(list.status == 0, "\(list.all)")
        #expect(list.stdout.contains("source:faostat") && list.stdout.contains("open until") && list.stdout.contains("33% of 3"), "\(list.stdout)")
        let show = try await conveyor("circuits", "show", "source:faostat")
        #expect(show.stdout.contains("2 failures in a row; the last, job 3: HTTP 503"), "\(show.stdout)")
        #expect(show.stdout.contains("Breaker:      opens after 2 failures") && show.stdout.contains("rule source:*"), "\(show.stdout)")
        let status = try await conveyor("status")
        #expect(status.stdout.contains("Circuits: 1 key(s), 1 open"), "\(status.stdout)")
        // A source check on the key: its schedule's checks are off while the circuit is open.
        let check = try await conveyor("schedule", "add", "faostat", "--calendar", "quarterly", "--job", "conveyor.echo",
                                       "--limit-key", "source:faostat")
        #expect(check.status == 0, "\(check.all)")
        let checks = try await conveyor("schedule", "list")
        #expect(checks.stdout.contains("CHECKS") && checks.stdout.contains("off: source:faostat open, 2 failures in a row"), "\(checks.stdout)")
        #expect(try await conveyor("schedule", "list", "--json").stdout.contains(#""checks":{"circuits":[{"consecutiveFailures":2"#))

        // By hand: close (the waves), open any key, reset; each recorded with its reason.
        let close = try await conveyor("circuits", "close", "source:faostat", "--reason", "fixed upstream")
        #expect(close.status == 0 && close.stdout.contains("Circuit 'source:faostat': closed (waves)."), "\(close.all)")
        #expect(try await conveyor("schedule", "list").stdout.contains(" on "), "checks are on again")
        #expect(try await conveyor("circuits", "open", "tenant:7", "--reason", "maintenance").stdout.contains("open (by hand)"))
        let json = try await conveyor("circuits", "show", "source:faostat", "--json")
        #expect(json.stdout.contains(#""reason":"closed by hand: fixed upstream""#) && json.stdout.contains(#""phase":"closed (waves)""#), "\(json.stdout)")
        #expect(try await conveyor("circuits", "reset", "tenant:7").stdout.contains("Circuit 'tenant:7': closed."))
        let paged = try await conveyor("circuits", "list", "--after", "source:faostat", "--json")
        #expect(paged.stdout.contains(#""key":"tenant:7""#) && !paged.stdout.contains("faostat"), "\(paged.stdout)")

        let unknown = try await conveyor("circuits", "reset", "host:nope")
        #expect(unknown.status != 0 && unknown.stderr.contains("no circuit breaker knows the key 'host:nope'") && unknown.stderr.contains("source:faostat"), "\(unknown.all)")
        let badRate = try await conveyor("limits", "set", "source:*", "--breaker", "5", "--failure-rate", "150%")
        #expect(badRate.status != 0 && badRate.stderr.contains("a failure rate of '150%'"), "\(badRate.all)")
        let alone = try await conveyor("limits", "set", "source:*", "--window", "10")
        #expect(alone.status != 0 && alone.stderr.contains("go with --breaker"), "\(alone.all)")
        let zero = try await conveyor("limits", "set", "source:*", "--breaker", "0")
        #expect(zero.status != 0 && zero.stderr.contains("after 0 failures"), "\(zero.all)")
        let never = try await conveyor("limits", "set", "source:*", "--breaker", "5", "--cool-down", "never")
        #expect(never.stdout.contains("stays open until closed or reset by hand"), "\(never.all)")
        let soon = try await conveyor("limits", "set", "source:*", "--breaker", "5", "--cool-down", "soon")
        #expect(soon.status != 0 && soon.stderr.contains("a cool-down of 'soon'"), "\(soon.all)")
        let badKey = try await conveyor("circuits", "open", "a b")
        #expect(badKey.status != 0 && badKey.stderr.contains("space"), "\(badKey.all)")
    }

    @Test func manageJobsAndQueues() async throws {
        defer { directory.remove() }
        let backend = try SQLiteBackend(path: store)
        let ids = try await backend.enqueue((0..<3).map { _ in NewJob(name: "nobody.knows", queue: "q", maxAttempts: 1) }).map(\.id)
        let waiting = try await backend.enqueue(NewJob(name: "conveyor.echo", queue: "q", delay: .seconds(3600))).id

        #expect(try await conveyor("pause", "q").stdout.contains("Paused queue 'q'"))
        #expect(try await conveyor("status").stdout.contains("paused"))
        _ = try await conveyor("worker", "--burst", "--queues", "q")
        #expect(try await backend.job(ids[0])?.state == .ready, "a paused queue is not worked")
        _ = try await conveyor("resume", "q")
        let cancel = try await conveyor("cancel", "\(waiting)")
        #expect(cancel.stdout.contains("Cancelled 1 job(s)"))
        let worker = try await conveyor("worker", "--burst", "--queues", "q")
        #expect(worker.status == 0, "\(worker.all)")
        let dead = try #require(try await backend.job(ids[0]))
        #expect(dead.state == .dead)
        #expect(dead.lastError?.message.contains("unknown job name 'nobody.knows'") == true)

        let retry = try await conveyor("retry", "--all-dead")
        #expect(retry.stdout.contains("Retrying 3 job(s)"))
        #expect(try await backend.job(ids[1])?.state == .ready)
        let purge = try await conveyor("purge", "--state", "ready", "cancelled")
        #expect(purge.stdout.contains("Purged 4 job(s)"))
        #expect(try await backend.jobs(JobQuery()).isEmpty)
    }

    @Test func badInputGetsClearErrors() async throws {
        defer { directory.remove() }
        let payload = try await conveyor("submit", "x", "--payload", "{not json")
        #expect(payload.status != 0)
        #expect(payload.stderr.contains("--payload is not valid JSON"))

        let missing = try await conveyor("submit", "x", "--file", directory.file("nope.txt"))
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("nope.txt: no such file"))

        try "code,name\n1,a\n".write(toFile: directory.file("k.csv"), atomically: true, encoding: .utf8)
        let column = try await conveyor("submit", "x", "--file", directory.file("k.csv"), "--column", "hsn")
        #expect(column.stderr.contains("no column 'hsn' in the header; it has: 'code', 'name'"))

        let routed = try await ConveyorProcess.run(["submit", "tradestat.export", "--payload", "{}", "--store", store], in: directory.path,
                                                   environment: ["CONVEYOR_ROUTES": "other=x, tradestat.*=scrapers"])
        #expect(routed.status == 0, "\(routed.all)")
        #expect(try await SQLiteBackend(path: store).jobs(JobQuery()).map(\.queue) == ["scrapers"])
        let badRoutes = try await ConveyorProcess.run(["submit", "x", "--payload", "{}", "--store", store], in: directory.path,
                                                      environment: ["CONVEYOR_ROUTES": "nonsense"])
        #expect(badRoutes.stderr.contains("invalid route 'nonsense'"))

        let full = try await ConveyorProcess.run(["status", "--store", "sqlite:durable.sqlite?synchronous=full"], in: directory.path)
        #expect(full.status == 0, "\(full.all)")
        let option = try await ConveyorProcess.run(["status", "--store", "x.sqlite?mode=fast"], in: directory.path)
        #expect(option.stderr.contains("unknown option 'mode=fast'"))

        // Nothing listens on port 1: a one-shot command gives up after a few seconds and says why.
        let redis = try await ConveyorProcess.run(["status", "--store", "redis://127.0.0.1:1"], in: directory.path)
        #expect(redis.status != 0)
        #expect(redis.stderr.contains("no connection to Redis at 127.0.0.1:1"), "\(redis.all)")
        #expect(redis.stderr.contains("Connection refused"), "\(redis.all)")
        let postgres = try await ConveyorProcess.run(["status", "--store", "postgres://127.0.0.1:1/x"], in: directory.path)
        #expect(postgres.status != 0)
        #expect(postgres.stderr.contains("PostgreSQL store at 127.0.0.1:1"), "\(postgres.all)")

        let id = try await conveyor("retry", "abc")
        #expect(id.stderr.contains("'abc' is not a job id"))

        let template = try await conveyor("worker", "--command", "echo 'unterminated")
        #expect(template.stderr.contains("unterminated quote"))

        let none = try await conveyor("results")
        #expect(none.stderr.contains("no submissions"))
    }

    @Test func theDemosJobIsRegisteredByTheDemoOnlyNotByTheWorker() async throws {
        defer { directory.remove() }
        let payload = #"{"key":"09011112","exportDirectory":"\#(directory.file("exports"))"}"#
        let submit = try await conveyor("submit", "tradestat.export", "--payload", payload, "--queue", "tradestat", "--max-attempts", "1")
        #expect(submit.status == 0, "\(submit.all)")
        let worker = try await conveyor("worker", "--burst", "--log-level", "error")
        #expect(worker.status == 0, "\(worker.all)")
        let job = try #require(try await SQLiteBackend(path: store).jobs(JobQuery()).first)
        #expect(job.state == .dead)
        #expect(job.lastError?.message.contains("unknown job name 'tradestat.export'") == true, "\(String(describing: job.lastError))")
        #expect(try await conveyor("worker", "--help").stdout.contains("tradestat") == false)
    }

    @Test func demoRunsTwiceInARow() async throws {
        defer { directory.remove() }
        for _ in 0..<2 {
            let demo = try await conveyor("demo")
            #expect(demo.status == 0, "\(demo.all)")
            #expect(demo.stdout.contains("14 keys, 1 bad line, 1 duplicate"))
            #expect(demo.stdout.contains("succeeded on attempt 2"))
            #expect(demo.stdout.contains("limited to 10/s burst 3 on host:tradestat.commerce.gov.in"), "\(demo.stdout)")
            #expect(demo.stdout.contains("09021010 got HTTP 429 with Retry-After 400ms: the whole host waited, and it succeeded on attempt 1"),
                    "\(demo.stdout)")
            #expect(demo.stdout.contains("09103020"))
        }
        let export = directory.file(".conveyor-demo/exports/09011112/09011112_export.json")
        let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: export))) as? [String: Any]
        #expect((object?["years"] as? [String: Any])?.count == 7)
    }
}
