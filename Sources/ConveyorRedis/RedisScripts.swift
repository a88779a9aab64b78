import Conveyor
import ConveyorRedisClient
import Foundation

/// The Lua scripts behind every write of ``RedisBackend``: each contract operation is one
/// `EVALSHA` for the whole bulk, and everything that follows from it (batch counters,
/// finished batches, their callbacks, chain steps) settles inside the same script, so
/// Redis applies it atomically.
///
/// Layout (`P` is the namespace prefix, `{conveyor}:` by default; the braces make every key
/// of one namespace hash to one Redis Cluster slot):
///
/// | key | type | holds |
/// |---|---|---|
/// | `P seq` | string | the last job id |
/// | `P layout` | string | the version of the record layout below |
/// | `P J:d` | hash | job id → the part of the job written once, one MessagePack record |
/// | `P J:m` | hash | job id → the part that changes, one MessagePack record (none until it first changes) |
/// | `P rdy:<queue>:<priority>` | list | ready job ids, FIFO, one list per priority 0-9 |
/// | `P dly:<queue>` | zset | scheduled and retrying jobs by run-at (µs) |
/// | `P act` | zset | active jobs by lease expiry (µs) |
/// | `P fin` | list | `id:finished-at` of jobs as they finish, oldest first, for retention |
/// | `P uq` | hash | unique key → job id |
/// | `P qs`, `P paused` | sets | queue names, paused queue names |
/// | `P qc:<queue>` | hash | job counts by state |
/// | `P b:<id>` | hash | a batch: `n` name, `c` created, `f` finished, `s0`…`s7` counts, `os`/`oc` callbacks |
/// | `P bj:<id>` | zset | a batch's members by id |
/// | `P bw:<id>` | set | jobs waiting for the batch (callbacks, chords) |
/// | `P bs` | zset | batch ids by creation time |
/// | `P bf` | zset | finished batch ids by finish time (retention) |
/// | `P ch:<id>` | set | jobs waiting for job `id` (chain steps) |
/// | `P wake:<queue>` | list | wake-up tokens idle workers block on (BLPOP) |
/// | `P wk`, `P wks` | hash, zset | workers as JSON, by last heartbeat |
/// | `P done` | pub/sub channel | a message after every call that finished jobs |
/// | `P lead:<name>` | hash | a leader lease: `h` holder, `t` fencing token, `e` expiry |
/// | `P rec:<key>` | hash | a compare-and-set record: `v` version, `n` value |
/// | `P sd:<name>` | hash | a stored schedule: `d` definition (JSON), `v` version, `c` created, `u` updated, `nf` next fire |
/// | `P sdn` | zset | schedule names (all scores 0, read in name order) |
/// | `P sdue` | zset | schedules that are not paused or manual, by next fire (µs) |
/// | `P sv` | string | the last schedule version (one sequence for all, so a removed and re-added schedule never reuses one) |
/// | `P slots` | hash | schedule name → the last slot fired (µs); outlives the schedule's jobs and the schedule |
/// | `P lim`, `P limu` | hashes | limit rules by pattern (key, `prefix:*`, `*`): `LimitSettings.storedForm`; when each was set |
/// | `P lc:<key>` | hash | a busy limit key's cell: `t` its rate's theoretical arrival time, `a` active jobs, `bu` the upstream's wait (µs); its circuit: `cp` phase (`CircuitPhase`), `cu` open until, `pr` the probe's job id, `wa`/`wu` the wave's start and starts, `hb` 1 once a job started under a rule with a breaker (its completions count); the circuit's outcomes (`CircuitStats`): `f` failures in a row, `r` the last 100 (`1`/`0`), `sc` outcomes since it closed, `ds`/`dt`/`da` the decayed successes, outcomes and when, `ch` its last change; none when idle without outcomes |
/// | `P ct:<key>` | list | the key's last 100 circuit transitions, newest first: `at from to reason` |
/// | `P ck` | zset | keys with a circuit (all scores 0, read in key order) |
/// | `P lh:<key>` | zset | ready jobs held back by the key, by priority then id (out of the ready lists until the key admits) |
/// | `P lw` | zset | keys with held jobs, by when they may go (µs) |
/// | `P lsw:<key>` | zset | a sliding-window key's recent starts (`id@started`), by when each leaves the window (µs); expires a minute after its window |
/// | `P sh:<name>` | list | the schedule's last 100 fires, newest first: `slot|fired-at|outcome|first-job|count|batch` |
///
/// A job is two fields in namespace-wide hashes rather than a key of its own: inside Redis a
/// field of one big hash costs a fraction of a small per-job hash (measured: 1.2-1.7 µs to
/// set one field against 5-7 µs to create or update a job hash), and a whole bulk of new
/// jobs goes in with one `HSET`. A record is MessagePack values one after another (what
/// Lua's `cmsgpack.pack(a, b, …)` writes; Swift writes and reads it in `PackedRecord.swift`).
///
/// - `J:d`, written once at enqueue (layout 2): `n` name, `p` payload, `pr` priority, `m` max
///   attempts, `t` timeout µs, `u` unique key, `pa` parent (the script fills it in), `wb`/`wk`
///   batch waited for and condition, `q` queue, `b` batch, `hd` headers (a JSON object, '' for
///   none), packed by Swift; then `c` created and `r` run-at, which the script appends from
///   Redis's clock.
/// - `J:m`, written by the scripts once the job first changes state (a job that was never
///   claimed, cancelled or settled has none: its state follows from `J:d`, see `loadM`):
///   `s` state, `a` attempt, `tk` lease token, `hc` has children, `q`, `b`, `r`, `l` lease
///   expiry, `w` worker, `st` started, `f` finished, `ek` error kind (1 permanent), `em` error
///   message, `res` result.
///
/// Absent optional values are empty strings. Reads outside the scripts go through `readJob`
/// and `listJobs`, which give the fields under these names. Times are microseconds since
/// 1970 as decimal strings, read from Redis's own `TIME` at the start of every call (`NOW`):
/// callers pass durations (a lease, a retry delay, an age), never an instant, so workers whose
/// clocks disagree agree on every lease. Lua numbers are doubles, exact up to 2^53, and numbers
/// Lua computes are written with `%d` so they never turn into exponent notation. `ARGV[1]` of
/// every call is an offset in µs added to `TIME` ('' in production): tests move the store's
/// clock with it (``ManualStoreClock``).
///
/// `P layout` holds the record layout's version (``RedisBackend/layoutVersion``); a store
/// refuses a namespace whose layout it does not know.
///
/// The ready lists and `fin` are cleaned lazily: a job that leaves `ready` (cancelled) or
/// a final state (retried, purged) keeps its entry, and whoever pops an entry checks the
/// job's state (and finish time) first. That keeps every hot path O(1) per job: no
/// sorted-set insert or removal on enqueue, claim or completion except the lease index.
/// Ids come from one counter and only grow, so listings walk the id range, a bounded number
/// of ids per script call (`Configuration.listingBudget`), continuing from a cursor.
///
/// The Lua lives in `Sources/ConveyorRedis/Lua`, bundled as a resource and read at first use
/// (see `.luacheckrc` for how the files see each other). An operation's script (`EVALSHA`) is
/// the message templates, `scriptState.lua`, the prelude and the operation's file; the
/// function library is the templates, `libraryState.lua`, the prelude and every operation as a
/// function. An error Redis reports names a line of that whole; ``LuaLineMap`` names its file.
enum RedisScripts {
    // ARGV: clock offset, count, '1' when a job depends on another job ('' otherwise), when
    // each job is due ('' for all at once, else a MessagePack array with one entry per job: 0
    // now, a number a delay in µs, a string an instant in µs), each job's limit keys ('' when
    // none has any, else a MessagePack array of strings, keys joined by spaces), then each job's written-once
    // record without its times, packed by Swift. Its parent is an id, or `#i` for the i-th
    // (from 0) job of this call, which the script resolves. Returns ids, negative for
    // duplicates.
    static let enqueue = StoreScript("enqueue", using: ["enqueueArguments.lua"])

    // ARGV: clock offset, leadership name ('' run now), its token, schedule, slot µs, version
    // ('' none), next fire µs, outcome, batch id, then enqueue's arguments after its clock
    // offset. Returns enqueue's ids, 'already' and the last slot, or 'outdated' and the
    // version now; an error NOTLEADER when the leadership no longer holds.
    static let fire = StoreScript(name: "fire", files: ["operations/fire.lua", "operations/enqueue.lua"])

    // ARGV: clock offset, name, condition ('' always, 'absent', a version), definition JSON,
    // indexed ('1' or ''). Returns the stored schedule (schedules.lua), or ''.
    static let saveSchedule = StoreScript("saveSchedule", using: ["schedules.lua"])

    // ARGV: clock offset, mode ('name', 'after', 'due'), name, limit. Returns now, the next
    // fire of those not returned, then eight values per schedule.
    static let readSchedules = StoreScript("readSchedules", using: ["schedules.lua"])

    // ARGV: clock offset, name, condition ('' always, a version). Returns 1 or 0.
    static let removeSchedule = StoreScript("removeSchedule")

    // ARGV: clock offset, leadership name, token, then schedule, version, next fire µs per
    // change. Returns 1 or 0 per change; an error NOTLEADER when the leadership no longer holds.
    static let reschedule = StoreScript("reschedule")

    // ARGV: clock offset, name, holder, ttl µs. Returns the token and expiry, or '' while
    // another holder's lease runs.
    static let acquireLeadership = StoreScript("acquireLeadership")

    // ARGV: clock offset, name, token.
    static let releaseLeadership = StoreScript("releaseLeadership")

    // ARGV: clock offset, key, expected version ('' none), value. Returns the new version or ''.
    static let compareAndSet = StoreScript("compareAndSet")

    // ARGV: clock offset, lease µs, worker id, limit, queues... Returns the leases' expiry,
    // then per claimed job its id, its written-once record, attempt and lease token.
    static let claim = StoreScript("claim")

    // ARGV: clock offset, then 6 per outcome: id, lease token, kind (s succeeded, r retry, d
    // dead), result or error message, error kind (1 permanent), retry delay µs. Returns 1 when
    // work was made (0 otherwise), then the id, token pairs of outcomes ignored because their
    // lease is no longer held.
    static let complete = StoreScript("complete")

    // ARGV: clock offset, lease µs, then id, token pairs. Returns the pairs no longer held.
    static let heartbeat = StoreScript("heartbeat")

    // ARGV: clock offset, then id, token pairs.
    static let release = StoreScript("release")

    // ARGV: clock offset, retention µs ('' keeps everything), most jobs to handle. Recovers at
    // most that many expired leases (the earliest first) and deletes at most that many finished
    // jobs older than the retention, so a call never holds Redis for long. Returns the number of
    // recovered jobs and 1 when more finished jobs are due for deletion (0 otherwise).
    static let recover = StoreScript("recover")

    // ARGV: clock offset, ids... Returns the ids cancelled.
    static let cancel = StoreScript("cancel")

    // ARGV: clock offset, ids... Returns the ids moved.
    static let retry = StoreScript("retry", using: ["revive.lua"])

    // ARGV: clock offset, batch id, only retryable (1/0). Returns the ids moved, in id order.
    static let recoverBatch = StoreScript("recoverBatch", using: ["revive.lua"])

    // ARGV: clock offset, id, name, then for on-success and on-complete: present (1/0) and 9 fields:
    // name, queue, payload, priority, max attempts, timeout, unique key, outer batch, headers.
    // Returns the batch hash.
    static let createBatch = StoreScript("createBatch")

    // ARGV: clock offset, queue ('' any), age µs ('' any), where to continue ('' from the
    // start), budget, states... Returns the number deleted and where to continue ('' when
    // done). Purging finished jobs walks the finish list from its oldest entry, at most
    // `budget` entries per call, dropping leading entries whose job is gone; purging other
    // states walks ids, at most `budget` of them per call.
    static let purge = StoreScript("purge")

    // ARGV: clock offset, batch ('' any), queue ('' any), after id ('' none), limit, budget, newest
    // first ('1') or oldest first (''), states ('' any)...
    // Looks at no more than `budget` ids (or batch members) per call, so a listing over
    // millions of jobs never holds Redis for long. Returns the last id looked at ('' when
    // nothing is left), then id and the job's fields and values per job found.
    static let listJobs = StoreScript("listJobs")

    // ARGV: clock offset (unused), id. Returns the job's fields and values (empty if there is none).
    static let readJob = StoreScript("readJob")

    // ARGV: clock offset, worker id, JSON. Its last-seen time is Redis's.
    static let registerWorker = StoreScript("registerWorker")

    // ARGV: clock offset, age µs. Returns id, last seen, JSON per worker seen within the age.
    static let listWorkers = StoreScript("listWorkers")

    // ARGV: clock offset, queues... Returns µs until the earliest scheduled or retrying job of a
    // queue that is not paused is due (0 when one is due already), or '' when none waits.
    static let untilNextDue = StoreScript("untilNextDue")

    // ARGV: clock offset, the layout this version writes. Returns the namespace's layout,
    // recording ours in a namespace that holds no jobs yet; '1' for jobs from before layouts
    // were recorded.
    static let layout = StoreScript("layout")

    // ARGV: clock offset, pattern, stored settings ('' removes). Returns 1 when it was there.
    static let setLimit = StoreScript("setLimit")

    // ARGV: clock offset, keys... (none: every rule). Returns NOW, then eight values per key
    // (pattern, stored settings, active, held, tat µs, blocked until µs, a sliding window's
    // count and when it frees µs) or three per rule.
    static let limitStates = StoreScript("limitStates")

    // ARGV: clock offset, mode ('keys', 'after', 'history'), keys... or key and limit. Returns
    // NOW, then 13 values per key, or the key's transitions newest first.
    static let circuits = StoreScript("circuits")

    // ARGV: clock offset, key, action ('open', 'close', 'reset'), reason. Returns { 'ok' }, or
    // 'unknown' and keys with a circuit.
    static let changeCircuit = StoreScript("changeCircuit")

    static let all: [StoreScript] = [
        enqueue, claim, complete, heartbeat, release, recover, cancel, retry, recoverBatch, createBatch, purge, listJobs,
        readJob, registerWorker, listWorkers, untilNextDue, layout, fire, acquireLeadership, releaseLeadership, compareAndSet,
        saveSchedule, readSchedules, removeSchedule, reschedule, setLimit, limitStates, circuits, changeCircuit,
    ]

    /// The helpers every operation shares, in this order: a part sees what the parts before it
    /// define (`.luacheckrc` checks that).
    static let prelude = ["support.lua", "records.lua", "counters.lua", "transitions.lua", "cascade.lua", "limits.lua"]

    /// The bundled files, assembled once, at first use.
    private static let bundled = Result { () throws(LuaResourceError) in try StoreLua(files: LuaFiles.bundled()) }

    /// The store's Lua, assembled from the bundled files; a file missing from the installation
    /// is an error naming it.
    static func loaded() throws(LuaResourceError) -> StoreLua { try bundled.get() }

    /// The message templates: Lua string constants written by the same Swift helpers every
    /// store uses, so the wording lives once, with named placeholders (`{parent}`, `{total}`…)
    /// the Lua fills in (`fill` in support.lua). Where a helper takes a string, the placeholder
    /// goes in as the argument; where it takes a number or an id, a sentinel does, which is then
    /// replaced by the placeholder.
    static var messageTemplates: String {
        let parent = (sentinel: JobID(777_000_777), placeholder: "{parent}")
        func chainStopped(_ state: JobState, reason: String?) -> String {
            template(JobFailure.chainStopped(parent: parent.sentinel, state: state, reason: reason),
                     [(parent.sentinel.description, parent.placeholder)])
        }
        let chordFailed = template(
            JobFailure.chordFailed(batch: "{batch}", total: 700_000_007, succeeded: 100_000_001, dead: 300_000_003, cancelled: 400_000_004),
            [("600000006", "{failed}"), ("700000007", "{total}"), ("300000003", "{dead}"), ("400000004", "{cancelled}")])
        return """
            -- Message templates, written by RedisScripts.swift from the Swift JobFailure helpers.
            local CHAIN_PREFIX = \(lua(JobFailure.chainStoppedPrefix))
            local CHAIN_STOPPED = {
              [5] = \(chainStopped(.dead, reason: nil)),
              [6] = \(chainStopped(.cancelled, reason: nil)),
            }
            local CHAIN_STOPPED_WITH_REASON = {
              [5] = \(chainStopped(.dead, reason: "{reason}")),
              [6] = \(chainStopped(.cancelled, reason: "{reason}")),
            }
            local CHORD_FAILED = \(chordFailed)
            local LEASE_EXPIRED = \(template(JobFailure.leaseExpired(worker: "{worker}"), []))

            """
    }

    /// `failure`'s message as a Lua string literal, each sentinel replaced by its placeholder.
    private static func template(_ failure: JobFailure, _ sentinels: [(sentinel: String, placeholder: String)]) -> String {
        var text = failure.message
        for (sentinel, placeholder) in sentinels {
            text = text.replacingOccurrences(of: sentinel, with: placeholder)
        }
        return lua(text)
    }

    /// A Lua string literal for `text`: every byte outside printable ASCII, and quotes and
    /// backslashes, as a decimal escape of three digits (so a digit after it is not read as
    /// part of it).
    static func lua(_ text: String) -> String {
        var out = "\""
        for byte in text.utf8 {
            if byte >= 0x20 && byte < 0x7f && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\") {
                out.append(Character(Unicode.Scalar(byte)))
            } else {
                let digits = String(byte)
                out += "\\" + String(repeating: "0", count: 3 - digits.count) + digits
            }
        }
        return out + "\""
    }
}

/// One store operation: its name (of its function in the library) and its Lua files, the
/// operation's own (`operations/<name>.lua`) last.
struct StoreScript: Sendable, Hashable {
    let name: String
    let files: [String]

    init(_ name: String, using shared: [String] = []) {
        self.name = name
        files = shared + ["operations/\(name).lua"]
    }

    init(name: String, files: [String]) {
        self.name = name
        self.files = files
    }
}

/// One operation as a script for `EVALSHA` (Redis before 7, or ``RedisBackend/Configuration/useFunctions`` off).
struct CompiledScript: Sendable {
    let eval: RedisScript
    let lines: LuaLineMap
}

/// The store's Lua, assembled: every operation as a script, and all of them as one function
/// library.
struct StoreLua: Sendable {
    /// Every script as one Redis Functions library, so that a call runs only its own code and
    /// not the whole prelude (measured: a trivial `EVALSHA` costs 6.5 µs inside Redis, the
    /// prelude's ~45 helper closures another ~24 µs per call). Its name carries a hash of its
    /// source, so workers of different versions can share a Redis.
    let library: RedisFunctionLibrary
    let libraryLines: LuaLineMap
    private let scripts: [String: CompiledScript]

    init(files: LuaFiles) throws(LuaResourceError) {
        let shared = try SharedParts(files: files)
        var scripts: [String: CompiledScript] = [:]
        var library = AssembledLua()
        library.append("#!lua name=LIBRARY_NAME\n", from: "the library's first line (RedisScripts.swift)")
        library.append(shared.templates, from: SharedParts.templatesName)
        library.append(shared.libraryState, from: "Lua/libraryState.lua")
        for part in shared.prelude { library.append(part.text, from: part.name) }
        for operation in RedisScripts.all {
            var body: [(name: String, text: String)] = []
            for file in operation.files { body.append(("Lua/" + file, try files.read(file))) }
            scripts[operation.name] = shared.script(body)

            let wrapper = "the library's function \(operation.name) (RedisScripts.swift)"
            library.append(
                "redis.register_function('LIBRARY_NAME_\(operation.name)', function(KEYS, ARGV)\nbegin(KEYS, ARGV)\n", from: wrapper)
            for part in body { library.append(part.text, from: part.name) }
            library.append("end)\n", from: wrapper)
        }
        let name = "conveyor_" + RedisScript(library.text).sha1.prefix(12)
        self.library = RedisFunctionLibrary(name: name, source: library.text.replacingOccurrences(of: "LIBRARY_NAME", with: name))
        libraryLines = library.lines
        self.scripts = scripts
    }

    /// A script of `body` (Lua that is no operation, named `name` in errors) after the same
    /// templates, state and prelude as every operation: for tests of the helpers.
    static func script(_ body: String, named name: String, files: LuaFiles) throws(LuaResourceError) -> CompiledScript {
        try SharedParts(files: files).script([(name, body)])
    }

    /// What every operation's script starts with, and the library too.
    private struct SharedParts {
        static let templatesName = "the message templates (RedisScripts.swift)"
        let templates = RedisScripts.messageTemplates
        let scriptState: String
        let libraryState: String
        let prelude: [(name: String, text: String)]

        init(files: LuaFiles) throws(LuaResourceError) {
            scriptState = try files.read("scriptState.lua")
            libraryState = try files.read("libraryState.lua")
            var prelude: [(name: String, text: String)] = []
            for file in RedisScripts.prelude { prelude.append(("Lua/" + file, try files.read(file))) }
            self.prelude = prelude
        }

        /// Templates, script state, prelude, then `body`.
        func script(_ body: [(name: String, text: String)]) -> CompiledScript {
            var script = AssembledLua()
            script.append(templates, from: Self.templatesName)
            script.append(scriptState, from: "Lua/scriptState.lua")
            for part in prelude + body { script.append(part.text, from: part.name) }
            return CompiledScript(eval: RedisScript(script.text), lines: script.lines)
        }
    }

    func script(_ operation: StoreScript) -> CompiledScript {
        guard let script = scripts[operation.name] else {
            preconditionFailure("\(operation.name) is not in RedisScripts.all")
        }
        return script
    }

    func functionName(_ operation: StoreScript) -> String { library.name + "_" + operation.name }
}
