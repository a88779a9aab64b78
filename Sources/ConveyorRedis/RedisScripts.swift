import Conveyor
import ConveyorRedisClient

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
///
/// A job is two fields in namespace-wide hashes rather than a key of its own: inside Redis a
/// field of one big hash costs a fraction of a small per-job hash (measured: 1.2-1.7 µs to
/// set one field against 5-7 µs to create or update a job hash), and a whole bulk of new
/// jobs goes in with one `HSET`. A record is MessagePack values one after another (what
/// Lua's `cmsgpack.pack(a, b, …)` writes; Swift writes and reads it in `PackedRecord.swift`).
///
/// - `J:d`, written once at enqueue (layout 2): `n` name, `p` payload, `pr` priority, `m` max
///   attempts, `t` timeout µs, `u` unique key, `pa` parent (the script fills it in), `wb`/`wk`
///   batch waited for and condition, `q` queue, `b` batch, packed by Swift; then `c` created
///   and `r` run-at, which the script appends from Redis's clock.
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
enum RedisScripts {
    /// Message templates built by the same Swift code every store uses, so wording lives once.
    private static var templates: String {
        let parent = JobID(777_000_777)
        let chordMessage = JobFailure.chordFailed(
            batch: "\u{2}", total: 700_000_007, succeeded: 100_000_001, dead: 300_000_003, cancelled: 400_000_004
        ).message
        return """
            local CHAIN_PREFIX = \(lua(JobFailure.chainStoppedPrefix))
            local T_CHAIN = {
              [5] = \(lua(JobFailure.chainStopped(parent: parent, state: .dead, reason: nil).message)),
              [6] = \(lua(JobFailure.chainStopped(parent: parent, state: .cancelled, reason: nil).message)),
            }
            local T_CHAIN_R = {
              [5] = \(lua(JobFailure.chainStopped(parent: parent, state: .dead, reason: "\u{1}").message)),
              [6] = \(lua(JobFailure.chainStopped(parent: parent, state: .cancelled, reason: "\u{1}").message)),
            }
            local T_CHORD = \(lua(chordMessage))
            local T_LEASE = \(lua(JobFailure.leaseExpired(worker: "\u{1}").message))

            """
    }

    /// A Lua string literal for `text`: every byte outside printable ASCII, and quotes and
    /// backslashes, as a decimal escape.
    static func lua(_ text: String) -> String {
        var out = "\""
        for byte in text.utf8 {
            if byte >= 0x20 && byte < 0x7f && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\") {
                out.append(Character(Unicode.Scalar(byte)))
            } else {
                out += "\\\(byte)"
            }
        }
        return out + "\""
    }

    private static let prelude = #"""
        local function fmt(n) return string.format('%d', n) end
        -- Priorities as text, so building a key does not format a Lua number (a double) per job.
        local PRIOS = { [0] = '0', '1', '2', '3', '4', '5', '6', '7', '8', '9' }
        local function rkey(q, prio) return P .. 'rdy:' .. q .. ':' .. (PRIOS[prio] or prio or '5') end
        -- Whether time `a` comes after `b`, both decimal µs: compared as text, without parsing.
        local function later(a, b) return #a > #b or (#a == #b and a > b) end
        local function isFinal(s) return s == 3 or s == 5 or s == 6 end
        local function nz(v) if v == '' then return nil end return v end
        local function subst(t, key, val)
          local i, j = string.find(t, key, 1, true)
          if not i then return t end
          return string.sub(t, 1, i - 1) .. val .. string.sub(t, j + 1)
        end
        local function startsWith(s, prefix) return s and string.sub(s, 1, #prefix) == prefix end

        -- Bulk commands with many members go out in chunks that Lua's unpack can take (an
        -- even number, so field, value pairs stay together).
        local function many(cmd, key, list)
          local n = #list
          local i = 1
          while i <= n do
            local last = math.min(n, i + 999)
            redis.call(cmd, key, unpack(list, i, last))
            i = last + 1
          end
        end

        -- The job record (see the layout notes). `J:d` holds the part written once: n, p, pr,
        -- m, t, c, u, pa, wb, wk, q, b, r. `J:m` holds the part that changes: s, a, tk, hc, q,
        -- b, r, l, w, st, f, ek, em, res; a job has none until it first leaves its first state,
        -- which follows from the written-once part. Absent optional values are ''.
        local function fromM(raw)
          local s, a, tk, hc, q, b, r, l, w, st, f, ek, em, res = munpack(raw)
          return { s = s, a = a, tk = tk, hc = nz(hc), q = q, b = b, r = r, l = nz(l), w = nz(w), st = nz(st),
                   f = nz(f), ek = nz(ek), em = nz(em), res = nz(res) }
        end
        -- The state a job is created in: waiting for a parent or batch, scheduled, or ready.
        local function firstState(pa, wb, r, c)
          if pa ~= '' or wb ~= '' then return 7 end
          if later(r, c) then return 0 end
          return 1
        end
        -- The written-once part's fields that decide where a job is (see the layout notes):
        -- the one place that knows their positions, besides `load`.
        local function route(d)
          local _, _, _, _, _, _, pa, wb, _, q, b, c, r = munpack(d)
          return pa, wb, q, b, c, r
        end
        local function loadM(id)
          local raw = redis.call('HGET', JM, id)
          if raw then return fromM(raw) end
          local d = redis.call('HGET', JD, id)
          if not d then return nil end
          local pa, wb, q, b, c, r = route(d)
          return { s = firstState(pa, wb, r, c), a = 0, tk = 0, q = q, b = b, r = r }
        end
        local function saveM(id, h)
          redis.call('HSET', JM, id, mpack(h.s, h.a, h.tk, h.hc or '', h.q, h.b, h.r, h.l or '', h.w or '', h.st or '',
                                           h.f or '', h.ek or '', h.em or '', h.res or ''))
        end
        local function load(id)
          local d = redis.call('HGET', JD, id)
          if not d then return nil end
          local n, p, pr, m, t, u, pa, wb, wk, q, b, c, r = munpack(d)
          local raw = redis.call('HGET', JM, id)
          local h
          if raw then h = fromM(raw) else h = { s = firstState(pa, wb, r, c), a = 0, tk = 0, q = q, b = b, r = r } end
          h.n, h.p, h.pr, h.m, h.t, h.c, h.u, h.pa, h.wb, h.wk = n, p, pr, m, t, c, nz(u), nz(pa), nz(wb), nz(wk)
          return h
        end
        -- A job as field, value pairs (the names of the layout notes), for reading and listing.
        local function fieldsOf(id, h)
          local out = {}
          for _, k in ipairs({ 'n', 'q', 'p', 'pr', 's', 'a', 'm', 't', 'r', 'c', 'st', 'f', 'u', 'b', 'w', 'l', 'ek', 'em', 'pa', 'wb', 'wk', 'tk', 'res' }) do
            local v = h[k]
            if v and v ~= '' then
              out[#out + 1] = k
              out[#out + 1] = type(v) == 'number' and fmt(v) or v
            end
          end
          return out
        end

        local function stateOf(id)
          local pending = fresh[id]
          if pending then return pending.s end
          local h = loadM(id)
          return h and h.s
        end

        -- Counter changes of this script, applied once per queue and batch (see applyBatches).
        local function move(q, b, old, new)
          if old == new then return end
          local t = qd[q]
          if not t then t = {}; qd[q] = t end
          if old then t[old] = (t[old] or 0) - 1 end
          t[new] = (t[new] or 0) + 1
          if b and b ~= '' then
            local u = bd[b]
            if not u then u = {}; bd[b] = u; border[#border + 1] = b end
            if old then u[old] = (u[old] or 0) - 1 end
            u[new] = (u[new] or 0) + 1
          end
          if new == 1 then woke[q] = true end
        end

        local function ensureBatch(b)
          if redis.call('HSETNX', P .. 'b:' .. b, 'c', NOW) == 1 then redis.call('ZADD', P .. 'bs', NOW, b) end
        end

        -- Ready lists and fin are cleaned lazily (see the layout notes): leaving them costs nothing.
        local function unindex(id, s, q)
          if s == 0 or s == 4 then redis.call('ZREM', P .. 'dly:' .. q, id)
          elseif s == 2 then redis.call('ZREM', P .. 'act', id) end
        end
        -- `front`: back to the head of its line (a released or recovered job keeps its turn).
        local function reindex(id, s, q, prio, runAt, front)
          if s == 0 or s == 4 then redis.call('ZADD', P .. 'dly:' .. q, runAt, id)
          elseif s == 1 then redis.call(front and 'LPUSH' or 'RPUSH', rkey(q, prio), id)
          elseif isFinal(s) then redis.call('RPUSH', P .. 'fin', id .. ':' .. NOW) end
        end

        -- Moves a loaded job to state `new` with `fields` changed ('' clears one), keeping
        -- indexes and counters right.
        local function setState(id, h, new, fields, front)
          local old = h.s
          unindex(id, old, h.q)
          for i = 1, #fields, 2 do h[fields[i]] = nz(fields[i + 1]) end
          h.s = new
          saveM(id, h)
          reindex(id, new, h.q, h.pr, h.r, front)
          move(h.q, h.b, old, new)
        end

        local function finished(id, s, hc)
          if hc and isFinal(s) then settled[#settled + 1] = { id, s } end
        end

        -- The job holding unique key `u` while it is not dead or cancelled, if any.
        local function uniqueHolder(u)
          local holder = redis.call('HGET', P .. 'uq', u)
          if not holder then return nil end
          local s = stateOf(holder)
          if s and s ~= 5 and s ~= 6 then return holder end
          return nil
        end

        local function chainStopped(parent, s, reason)
          if startsWith(reason, CHAIN_PREFIX) then return reason end
          if reason then return subst(subst(T_CHAIN_R[s], '777000777', parent), '\1', reason) end
          return subst(T_CHAIN[s], '777000777', parent)
        end

        local function settleChildren(parent, s)
          local kids = redis.call('SMEMBERS', P .. 'ch:' .. parent)
          if #kids == 0 then return end
          table.sort(kids, function(x, y) return tonumber(x) < tonumber(y) end)
          if s == 3 then
            for _, c in ipairs(kids) do
              local h = load(c)
              if h and h.s == 7 then setState(c, h, 1, { 'r', NOW }) end
            end
            return
          end
          local ph = loadM(parent)
          local msg = chainStopped(parent, s, ph and ph.em)
          for _, c in ipairs(kids) do
            local h = load(c)
            if h and h.s == 7 then
              setState(c, h, 6, { 'f', NOW, 'ek', '1', 'em', msg })
              finished(c, 6, h.hc)
            end
          end
        end

        -- Applies batch counter changes; returns the batches whose last member just finished.
        local function applyBatches()
          local fin = {}
          local order, deltas = border, bd
          bd, border = {}, {}
          for _, b in ipairs(order) do
            local k = P .. 'b:' .. b
            local changed = false
            for s, d in pairs(deltas[b]) do
              if d ~= 0 then redis.call('HINCRBY', k, 's' .. s, d); changed = true end
            end
            if changed then
              local c = redis.call('HMGET', k, 's0', 's1', 's2', 's3', 's4', 's5', 's6', 's7', 'f')
              local total, done = 0, 0
              for i = 1, 8 do
                local n = tonumber(c[i]) or 0
                total = total + n
                if i == 4 or i == 6 or i == 7 then done = done + n end
              end
              if total > 0 and done == total then
                if not c[9] then
                  redis.call('HSET', k, 'f', NOW)
                  redis.call('ZADD', P .. 'bf', NOW, b)
                  fin[#fin + 1] = { b, (tonumber(c[4]) or 0) == total }
                end
              elseif c[9] then
                redis.call('HDEL', k, 'f')
                redis.call('ZREM', P .. 'bf', b)
              end
            end
          end
          return fin
        end

        local function releaseWaiters(b, allSucceeded)
          local ids = redis.call('SMEMBERS', P .. 'bw:' .. b)
          table.sort(ids, function(x, y) return tonumber(x) < tonumber(y) end)
          local failing = {}
          for _, id in ipairs(ids) do
            local h = load(id)
            if h and h.s == 7 then
              if h.wk == '2' or allSucceeded then setState(id, h, 1, { 'r', NOW })
              elseif h.wk == '3' then failing[#failing + 1] = { id, h } end
            end
          end
          if #failing == 0 then return end
          local c = redis.call('HMGET', P .. 'b:' .. b, 's0', 's1', 's2', 's3', 's4', 's5', 's6', 's7')
          local total = 0
          for i = 1, 8 do total = total + (tonumber(c[i]) or 0) end
          local succeeded = tonumber(c[4]) or 0
          local msg = T_CHORD
          msg = subst(msg, '600000006', fmt(total - succeeded))
          msg = subst(msg, '700000007', fmt(total))
          msg = subst(msg, '300000003', fmt(tonumber(c[6]) or 0))
          msg = subst(msg, '400000004', fmt(tonumber(c[7]) or 0))
          msg = subst(msg, '\2', b)
          for _, f in ipairs(failing) do
            setState(f[1], f[2], 5, { 'f', NOW, 'ek', '1', 'em', msg })
            finished(f[1], 5, f[2].hc)
          end
        end

        -- A job runs again (retry, recover): what its stop cancelled waits for it again, down
        -- the whole chain, and so do strict chord callbacks its batch had failed.
        local function restoreDependents(id, b)
          local parents = { id }
          if b and b ~= '' then
            for _, w in ipairs(redis.call('SMEMBERS', P .. 'bw:' .. b)) do
              local h = load(w)
              if h and h.s == 5 and h.wk == '3' and h.a == 0 then
                setState(w, h, 7, { 'f', '', 'ek', '', 'em', '' })
                parents[#parents + 1] = w
              end
            end
          end
          while #parents > 0 do
            local p = table.remove(parents)
            for _, c in ipairs(redis.call('SMEMBERS', P .. 'ch:' .. p)) do
              local h = load(c)
              if h and h.s == 6 and startsWith(h.em, CHAIN_PREFIX) then
                setState(c, h, 7, { 'f', '', 'ek', '', 'em', '' })
                parents[#parents + 1] = c
              end
            end
          end
        end

        local function wake(q)
          local k = P .. 'wake:' .. q
          if redis.call('LLEN', k) < 4 then redis.call('RPUSH', k, '1') end
        end

        -- Settles everything that follows from this script's changes, until nothing moves.
        local function runCascade()
          while true do
            if #settled > 0 then
              local parents = settled
              settled = {}
              for _, p in ipairs(parents) do settleChildren(p[1], p[2]) end
            else
              local fin = applyBatches()
              if #fin == 0 then break end
              for _, f in ipairs(fin) do releaseWaiters(f[1], f[2]) end
            end
          end
          for q, t in pairs(qd) do
            for s, d in pairs(t) do
              if d ~= 0 then redis.call('HINCRBY', P .. 'qc:' .. q, s, d) end
            end
          end
          qd = {}
          local any = 0
          for q, _ in pairs(woke) do wake(q); any = 1 end
          woke = {}
          return any
        end

        -- Deletes a job and every index entry that names it. Batch counters keep it (history).
        local function deleteJob(id, h)
          unindex(id, h.s, h.q)
          if h.u and redis.call('HGET', P .. 'uq', h.u) == id then redis.call('HDEL', P .. 'uq', h.u) end
          if h.b ~= '' then redis.call('ZREM', P .. 'bj:' .. h.b, id) end
          if h.wb then redis.call('SREM', P .. 'bw:' .. h.wb, id) end
          if h.pa then redis.call('SREM', P .. 'ch:' .. h.pa, id) end
          redis.call('DEL', P .. 'ch:' .. id)
          redis.call('HDEL', JM, id)
          redis.call('HDEL', JD, id)
          redis.call('HINCRBY', P .. 'qc:' .. h.q, h.s, -1)
        end

        """#

    // ARGV: clock offset, count, '1' when a job depends on another job ('' otherwise), when
    // each job is due ('' for all at once, else a MessagePack array with one entry per job: 0
    // now, a number a delay in µs, a string an instant in µs), then each job's written-once
    // record without its times, packed by Swift. Its parent is an id, or `#i` for the i-th
    // (from 0) job of this call, which the script resolves. Returns ids, negative for
    // duplicates.
    static let enqueue = script("enqueue", #"""
        local n = tonumber(ARGV[2])
        local linked = ARGV[3] == '1'
        local due = nil
        if ARGV[4] ~= '' then due = munpack(ARGV[4]) end
        local nowTail = mpack(NOW, NOW)
        -- Check every parent first: a script cannot roll back what it already wrote.
        if linked then
          for i = 1, n do
            local pa = select(7, munpack(ARGV[4 + i]))
            if pa ~= '' and string.sub(pa, 1, 1) ~= '#' and redis.call('HEXISTS', JD, pa) == 0 then
              return redis.error_reply('NOJOB ' .. pa)
            end
          end
        end
        local results, immutable, ready, members, queues, recheck = {}, {}, {}, {}, {}, {}
        local reservedEnd = redis.call('INCRBY', P .. 'seq', n)
        local nextID = reservedEnd - n
        for i = 1, n do
          local record = ARGV[4 + i]
          local _, _, pr, _, _, u, pa, wb, _, q, b = munpack(record)
          local r, tail = NOW, nowTail
          if due then
            local d = due[i]
            if type(d) == 'string' then r = d
            elseif d and d > 0 then r = fmt(tonumber(NOW) + d) end
            if r ~= NOW then tail = mpack(NOW, r) end
          end
          local dup = nil
          if u ~= '' then dup = uniqueHolder(u) end
          if dup then
            results[i] = -tonumber(dup)
          else
            nextID = nextID + 1
            local id = fmt(nextID)
            local state = 1
            if later(r, NOW) then state = 0 end
            if b ~= '' then
              local list = members[b]
              if not list then
                ensureBatch(b)
                list = {}
                members[b] = list
              end
              list[#list + 1] = id; list[#list + 1] = id
            end
            if pa ~= '' then
              local parent = pa
              if string.sub(pa, 1, 1) == '#' then
                parent = fmt(math.abs(results[tonumber(string.sub(pa, 2)) + 1]))
                local v = { munpack(record) }
                v[7] = parent
                record = mpack(unpack(v))
              end
              local ps = stateOf(parent)
              local pending = fresh[parent]
              if pending then pending.hc = '1'
              else
                local ph = loadM(parent)
                ph.hc = '1'
                saveM(parent, ph)
              end
              redis.call('SADD', P .. 'ch:' .. parent, id)
              state = 7
              -- A parent that already finished settles its new child at once.
              finished(parent, ps, true)
            end
            if wb ~= '' then
              ensureBatch(wb)
              state = 7
              redis.call('SADD', P .. 'bw:' .. wb, id)
              recheck[#recheck + 1] = wb
            end
            if u ~= '' then redis.call('HSET', P .. 'uq', u, id) end
            -- Until the records are written below, jobs that later ones of this call may name
            -- (as holder of a unique key, or as parent) are known from here.
            if linked or u ~= '' then fresh[id] = { s = state, q = q, b = b, r = r } end
            immutable[#immutable + 1] = id
            immutable[#immutable + 1] = record .. tail
            if state == 1 then
              local k = rkey(q, pr)
              local list = ready[k]
              if not list then list = {}; ready[k] = list end
              list[#list + 1] = id
            elseif state == 0 then
              redis.call('ZADD', P .. 'dly:' .. q, r, id)
            end
            move(q, b, nil, state)
            queues[q] = true
            results[i] = nextID
          end
        end
        -- Duplicates took no id: give back the reserved ones they did not use (nothing else
        -- can have taken an id meanwhile), so ids stay dense as on the other stores.
        if nextID < reservedEnd then redis.call('SET', P .. 'seq', fmt(nextID)) end
        many('HSET', JD, immutable)
        for b, list in pairs(members) do many('ZADD', P .. 'bj:' .. b, list) end
        for k, list in pairs(ready) do many('RPUSH', k, list) end
        for q, _ in pairs(queues) do redis.call('SADD', P .. 'qs', q) end
        -- Parents created in this call: their first state, with children noted.
        for id, h in pairs(fresh) do
          if h.hc then
            h.a, h.tk = 0, 0
            saveM(id, h)
          end
        end
        fresh = {}
        runCascade()
        -- Waiting for a batch that has already finished: settle now, after this call's own
        -- members are counted (they may make the batch unfinished again).
        for _, b in ipairs(recheck) do
          local c = redis.call('HMGET', P .. 'b:' .. b, 's0', 's1', 's2', 's3', 's4', 's5', 's6', 's7', 'f')
          if c[9] then
            local total = 0
            for i = 1, 8 do total = total + (tonumber(c[i]) or 0) end
            releaseWaiters(b, (tonumber(c[4]) or 0) == total)
          end
        end
        runCascade()
        return results
        """#)

    // ARGV: clock offset, lease µs, worker id, limit, queues... Returns the leases' expiry,
    // then per claimed job its id, its written-once record, attempt and lease token.
    static let claim = script("claim", #"""
        local expiry, worker, limit = fmt(tonumber(NOW) + tonumber(ARGV[2])), ARGV[3], tonumber(ARGV[4])
        local out, leases = { expiry }, {}
        local count = 0
        local wakeQueue = nil
        for i = 5, #ARGV do
          local q = ARGV[i]
          if redis.call('SISMEMBER', P .. 'paused', q) == 0 then
            -- Due scheduled and retrying jobs become ready first, so they take their place in
            -- line: the earliest due first, at most 1,000 per claim (the next claim goes on).
            local dk = P .. 'dly:' .. q
            do
              local due = redis.call('ZRANGEBYSCORE', dk, '-inf', NOW, 'LIMIT', 0, 1000)
              for _, id in ipairs(due) do
                local h = load(id)
                if h and (h.s == 0 or h.s == 4) then
                  local old = h.s
                  h.s = 1
                  saveM(id, h)
                  redis.call('RPUSH', rkey(q, h.pr), id)
                  move(q, h.b, old, 1)
                end
              end
              if #due > 0 then many('ZREM', dk, due) end
            end
            -- Highest priority first; entries of jobs no longer ready (cancelled) are dropped.
            for prio = 9, 0, -1 do
              local rk = rkey(q, prio)
              while count < limit do
                local got = redis.call('LPOP', rk, limit - count)
                if not got then break end
                for _, id in ipairs(got) do
                  local d = redis.call('HGET', JD, id)
                  if d then
                    local raw = redis.call('HGET', JM, id)
                    local s, a, tk, hc, jq, b, r, l, w, st, f, ek, em, res
                    if raw then
                      s, a, tk, hc, jq, b, r, l, w, st, f, ek, em, res = munpack(raw)
                    else
                      -- Never changed since it was enqueued ready (see loadM).
                      local pa, wb, dq, db, c, dr = route(d)
                      s, a, tk, hc, jq, b, r, f, ek, em, res = firstState(pa, wb, dr, c), 0, 0, '', dq, db, dr, '', '', '', ''
                    end
                    if s == 1 then
                      a, tk = a + 1, tk + 1
                      redis.call('HSET', JM, id, mpack(2, a, tk, hc, jq, b, r, expiry, worker, NOW, f, ek, em, res))
                      leases[#leases + 1] = expiry; leases[#leases + 1] = id
                      move(q, b, 1, 2)
                      local j = #out
                      out[j + 1] = id; out[j + 2] = d; out[j + 3] = a; out[j + 4] = tk
                      count = count + 1
                    end
                  end
                end
              end
              if count >= limit then
                if redis.call('LLEN', rk) > 0 then wakeQueue = q end
                break
              end
            end
          end
        end
        many('ZADD', P .. 'act', leases)
        woke = {}
        runCascade()
        -- Work is left behind: wake another idle worker to share it.
        if wakeQueue then wake(wakeQueue) end
        return out
        """#)

    // ARGV: clock offset, then 6 per outcome: id, lease token, kind (s succeeded, r retry, d
    // dead), result or error message, error kind (1 permanent), retry delay µs. Returns 1 when
    // work was made (0 otherwise), then the id, token pairs of outcomes ignored because their
    // lease is no longer held.
    static let complete = script("complete", #"""
        local actIds, finIds, fenced = {}, {}, {}
        for o = 2, #ARGV, 6 do
          local id = ARGV[o]
          -- An active job has changed state (claimed), so its mutable part is there.
          local raw = redis.call('HGET', JM, id)
          local s, a, tk, hc, q, b, r, l, w, st, f, ek, em, res
          if raw then s, a, tk, hc, q, b, r, l, w, st, f, ek, em, res = munpack(raw) end
          if s == 2 and tk == tonumber(ARGV[o + 1]) then
            local kind = ARGV[o + 2]
            actIds[#actIds + 1] = id
            if kind == 's' then
              redis.call('HSET', JM, id, mpack(3, a, tk, hc, q, b, r, '', w, st, NOW, ek, em, ARGV[o + 3]))
              finIds[#finIds + 1] = id .. ':' .. NOW
              move(q, b, 2, 3)
              finished(id, 3, nz(hc))
            elseif kind == 'r' then
              local at = fmt(tonumber(NOW) + tonumber(ARGV[o + 5]))
              redis.call('HSET', JM, id, mpack(4, a, tk, hc, q, b, at, '', w, st, '', ARGV[o + 4], ARGV[o + 3], res))
              redis.call('ZADD', P .. 'dly:' .. q, at, id)
              move(q, b, 2, 4)
              -- Idle workers elsewhere learn of the new due date.
              woke[q] = true
            else
              redis.call('HSET', JM, id, mpack(5, a, tk, hc, q, b, r, '', w, st, NOW, ARGV[o + 4], ARGV[o + 3], res))
              finIds[#finIds + 1] = id .. ':' .. NOW
              move(q, b, 2, 5)
              finished(id, 5, nz(hc))
            end
          else
            fenced[#fenced + 1] = id; fenced[#fenced + 1] = ARGV[o + 1]
          end
        end
        many('ZREM', P .. 'act', actIds)
        many('RPUSH', P .. 'fin', finIds)
        local madeWork = runCascade()
        -- Waiters in other processes (results, batch progress) hear of it.
        if #actIds > 0 then redis.call('PUBLISH', P .. 'done', '1') end
        table.insert(fenced, 1, madeWork)
        return fenced
        """#)

    // ARGV: clock offset, lease µs, then id, token pairs. Returns the pairs no longer held.
    static let heartbeat = script("heartbeat", #"""
        local lost = {}
        local expiry = fmt(tonumber(NOW) + tonumber(ARGV[2]))
        for o = 3, #ARGV, 2 do
          local id = ARGV[o]
          local h = loadM(id)
          local tk = tonumber(ARGV[o + 1])
          if h and h.s == 2 and h.tk == tk then
            h.l = expiry
            saveM(id, h)
            redis.call('ZADD', P .. 'act', 'XX', expiry, id)
          elseif not (h and h.tk == tk and (h.s == 3 or h.s == 4 or h.s == 5)) then
            -- Another claim holds it now, or it was handed back or recovered (recovery moves the
            -- token on). Under the same lease it may just have been completed by its own
            -- outcome, written while this call was on its way: that lease is not lost.
            lost[#lost + 1] = id; lost[#lost + 1] = ARGV[o + 1]
          end
        end
        return lost
        """#)

    // ARGV: now, then id, token pairs.
    static let release = script("release", #"""
        for o = 2, #ARGV, 2 do
          local id = ARGV[o]
          local h = load(id)
          if h and h.s == 2 and h.tk == tonumber(ARGV[o + 1]) then
            h.s, h.a, h.l, h.w, h.st = 1, math.max(h.a - 1, 0), nil, nil, nil
            saveM(id, h)
            redis.call('ZREM', P .. 'act', id)
            redis.call('LPUSH', rkey(h.q, h.pr), id)
            move(h.q, h.b, 2, 1)
          end
        end
        return runCascade()
        """#)

    // ARGV: clock offset, retention µs ('' keeps everything), most jobs to handle. Recovers at
    // most that many expired leases (the earliest first) and deletes at most that many finished
    // jobs older than the retention, so a call never holds Redis for long. Returns the number of
    // recovered jobs and 1 when more finished jobs are due for deletion (0 otherwise).
    static let recover = script("recover", #"""
        local count = 0
        local budget = tonumber(ARGV[3])
        local ids = redis.call('ZRANGEBYSCORE', P .. 'act', '-inf', '(' .. NOW, 'LIMIT', 0, budget)
        for _, id in ipairs(ids) do
          local h = load(id)
          if h and h.s == 2 then
            count = count + 1
            local msg = subst(T_LEASE, '\1', h.w or '?')
            -- The lease is over: the token moves on, so its holder's heartbeats and outcomes no
            -- longer count (even for a job that ends dead here).
            h.tk = h.tk + 1
            if h.a >= h.m then
              setState(id, h, 5, { 'f', NOW, 'r', NOW, 'l', '', 'ek', '0', 'em', msg })
              finished(id, 5, h.hc)
            else
              h.r = NOW
              setState(id, h, 1, { 'f', '', 'r', NOW, 'l', '', 'ek', '0', 'em', msg }, true)
            end
          else
            redis.call('ZREM', P .. 'act', id)
          end
        end
        runCascade()
        if count > 0 then redis.call('PUBLISH', P .. 'done', '1') end
        local more = 0
        if ARGV[2] ~= '' then
          -- Retention: finished jobs older than the cut-off go, oldest first. An entry whose job
          -- was retried, purged or finished again since is only dropped.
          local cutoff = tonumber(NOW) - tonumber(ARGV[2])
          local entries = redis.call('LRANGE', P .. 'fin', 0, budget - 1)
          local done = 0
          local gone, counts = {}, {}
          for _, e in ipairs(entries) do
            local sep = string.find(e, ':', 1, true)
            local id, at = string.sub(e, 1, sep - 1), string.sub(e, sep + 1)
            if tonumber(at) >= cutoff then break end
            done = done + 1
            local h = load(id)
            if h and isFinal(h.s) and h.f == at then
              if h.u or h.b ~= '' or h.wb or h.pa or h.hc then
                deleteJob(id, h)
              else
                -- A plain job: its fields go in one command per hash below.
                gone[#gone + 1] = id
                local c = counts[h.q]
                if not c then c = {}; counts[h.q] = c end
                c[h.s] = (c[h.s] or 0) + 1
              end
            end
          end
          if #gone > 0 then
            for i = 1, #gone, 1000 do
              local last = math.min(#gone, i + 999)
              redis.call('HDEL', JM, unpack(gone, i, last))
              redis.call('HDEL', JD, unpack(gone, i, last))
            end
            for q, c in pairs(counts) do
              for st, d in pairs(c) do redis.call('HINCRBY', P .. 'qc:' .. q, st, -d) end
            end
          end
          if done > 0 then redis.call('LTRIM', P .. 'fin', done, -1) end
          if done == budget then more = 1 end
          -- Batches that finished before the cut-off, oldest first, go once their members
          -- have (members finished no later than their batch, so the pass above takes them first).
          for _, b in ipairs(redis.call('ZRANGEBYSCORE', P .. 'bf', '-inf', '(' .. fmt(cutoff), 'LIMIT', 0, 200)) do
            if redis.call('ZCARD', P .. 'bj:' .. b) == 0 then
              redis.call('DEL', P .. 'b:' .. b, P .. 'bw:' .. b)
              redis.call('ZREM', P .. 'bs', b)
              redis.call('ZREM', P .. 'bf', b)
            end
          end
        end
        return { count, more }
        """#)

    // ARGV: clock offset, ids... Returns the ids cancelled.
    static let cancel = script("cancel", #"""
        local out = {}
        for i = 2, #ARGV do
          local id = ARGV[i]
          local h = load(id)
          if h and (h.s == 0 or h.s == 1 or h.s == 4 or h.s == 7) then
            setState(id, h, 6, { 'f', NOW })
            finished(id, 6, h.hc)
            out[#out + 1] = id
            -- In order: what this cancel settles (a chain's next steps, a finished batch's
            -- callbacks) is settled before the next id is looked at.
            runCascade()
          end
        end
        if #out > 0 then redis.call('PUBLISH', P .. 'done', '1') end
        return out
        """#)

    /// Shared by retry and recoverBatch: brings a dead or cancelled job back unless a newer job
    /// holds its unique key.
    private static let revive = #"""
        local function revive(id, h, state)
          if h.u then
            local holder = uniqueHolder(h.u)
            if holder and holder ~= id then return false end
            redis.call('HSET', P .. 'uq', h.u, id)
          end
          h.r = NOW
          setState(id, h, state, { 'a', 0, 'r', NOW, 'f', '' })
          return true
        end

        """#

    // ARGV: clock offset, ids... Returns the ids moved.
    static let retry = script("retry", revive + #"""
        local out = {}
        for i = 2, #ARGV do
          local id = ARGV[i]
          local h = load(id)
          if h and (h.s == 5 or h.s == 6) then
            -- A chain step runs only after its parent succeeded: it waits for a parent still on
            -- its way, and stays put behind one that ended dead or cancelled.
            local ps = nil
            if h.pa then ps = stateOf(h.pa) end
            if not (ps and ps ~= 3 and isFinal(ps)) then
              local state = 1
              if ps and ps ~= 3 then state = 7 end
              if revive(id, h, state) then
                out[#out + 1] = id
                restoreDependents(id, h.b)
              end
            end
          end
        end
        runCascade()
        return out
        """#)

    // ARGV: clock offset, batch id, only retryable (1/0). Returns the ids moved, in id order.
    static let recoverBatch = script("recoverBatch", revive + #"""
        local b = ARGV[2]
        local out = {}
        for _, id in ipairs(redis.call('ZRANGE', P .. 'bj:' .. b, 0, -1)) do
          local h = load(id)
          if h and h.s == 5 and (ARGV[3] == '0' or h.ek ~= '1') and revive(id, h, 1) then
            out[#out + 1] = id
            restoreDependents(id, b)
          end
        end
        runCascade()
        return out
        """#)

    // ARGV: clock offset, id, name, then for on-success and on-complete: present (1/0) and 8 fields:
    // name, queue, payload, priority, max attempts, timeout, unique key, outer batch.
    // Returns the batch hash.
    static let createBatch = script("createBatch", #"""
        local b = ARGV[2]
        local k = P .. 'b:' .. b
        if redis.call('HSETNX', k, 'c', NOW) == 1 then
          redis.call('ZADD', P .. 'bs', NOW, b)
          if ARGV[3] ~= '' then redis.call('HSET', k, 'n', ARGV[3]) end
          for kind = 1, 2 do
            local o = 4 + (kind - 1) * 9
            if ARGV[o] == '1' then
              local name, q, payload, pr, m, t, u, outer = ARGV[o + 1], ARGV[o + 2], ARGV[o + 3], ARGV[o + 4], ARGV[o + 5], ARGV[o + 6], ARGV[o + 7], ARGV[o + 8]
              local id = fmt(redis.call('INCR', P .. 'seq'))
              -- Callbacks are not members: they wait outside the batch's counters.
              redis.call('HSET', JD, id, mpack(name, payload, tonumber(pr), tonumber(m), tonumber(t), u, '', b, fmt(kind), q, outer, NOW, NOW))
              if u ~= '' then redis.call('HSET', P .. 'uq', u, id) end
              if outer ~= '' then
                -- A callback may itself be a member of an outer batch (a batch of chords).
                ensureBatch(outer)
                redis.call('ZADD', P .. 'bj:' .. outer, id, id)
              end
              redis.call('SADD', P .. 'bw:' .. b, id)
              redis.call('SADD', P .. 'qs', q)
              redis.call('HSET', k, kind == 1 and 'os' or 'oc', id)
              move(q, outer, nil, 7)
            end
          end
          runCascade()
        end
        return redis.call('HGETALL', k)
        """#)

    // ARGV: clock offset, queue ('' any), age µs ('' any), where to continue ('' from the
    // start), budget, states... Returns the number deleted and where to continue ('' when
    // done). Purging finished jobs walks the finish list from its oldest entry, at most
    // `budget` entries per call, dropping leading entries whose job is gone; purging other
    // states walks ids, at most `budget` of them per call.
    static let purge = script("purge", #"""
        local q, cutoff = ARGV[2], nil
        if ARGV[3] ~= '' then cutoff = tonumber(NOW) - tonumber(ARGV[3]) end
        local budget = tonumber(ARGV[5])
        local nextFrom = ''
        local want = {}
        for i = 6, #ARGV do
          local s = tonumber(ARGV[i])
          if s ~= 2 then want[s] = true end
        end
        local victims = {}
        local function consider(id)
          local h = load(id)
          if h and want[h.s] and (q == '' or h.q == q) then
            local at = (h.f and h.f ~= '') and h.f or h.c
            if not cutoff or tonumber(at) < cutoff then victims[#victims + 1] = { id, h } end
          end
        end
        local onlyFinished = true
        for s, _ in pairs(want) do if not isFinal(s) then onlyFinished = false end end
        if onlyFinished then
          -- Finished jobs only: walk the finish list (oldest first), not every id. An entry
          -- counts only if the job still finished at that time (not retried or purged since).
          local start = tonumber(ARGV[4]) or 0
          local entries = redis.call('LRANGE', P .. 'fin', start, start + budget - 1)
          local stale, leading = 0, true
          local reachedCutoff = false
          for _, e in ipairs(entries) do
            local sep = string.find(e, ':', 1, true)
            local id, at = string.sub(e, 1, sep - 1), string.sub(e, sep + 1)
            if cutoff and tonumber(at) >= cutoff then reachedCutoff = true; break end
            local hm = loadM(id)
            if hm and hm.f == at then
              local before = #victims
              consider(id)
              -- An entry whose job this call deletes goes too, while only such entries lead.
              if leading and #victims > before and start == 0 then stale = stale + 1 else leading = false end
            elseif leading and start == 0 then
              stale = stale + 1
            else
              leading = false
            end
          end
          if stale > 0 then redis.call('LTRIM', P .. 'fin', stale, -1) end
          if not reachedCutoff and #entries == budget then nextFrom = fmt(start + budget - stale) end
        else
          local last = tonumber(redis.call('GET', P .. 'seq') or '0')
          local from = tonumber(ARGV[4]) or 1
          local to = math.min(last, from + tonumber(ARGV[5]) - 1)
          for i = from, to do consider(fmt(i)) end
          if to < last then nextFrom = fmt(to + 1) end
        end
        -- An unfinished job leaves as if cancelled: what waits on it is settled and its batch
        -- counts it as cancelled. Finished jobs stay in their batch's counts (history).
        for _, v in ipairs(victims) do
          local h = v[2]
          if not isFinal(h.s) then
            setState(v[1], h, 6, { 'f', NOW })
            finished(v[1], 6, h.hc)
          end
        end
        runCascade()
        local deleted = 0
        for _, v in ipairs(victims) do
          local h = load(v[1])
          if h then deleteJob(v[1], h); deleted = deleted + 1 end
        end
        return { deleted, nextFrom }
        """#)

    // ARGV: batch ('' any), queue ('' any), after id ('' none), limit, budget, states ('' any)...
    // Looks at no more than `budget` ids (or batch members) per call, so a listing over
    // millions of jobs never holds Redis for long. Returns the last id looked at ('' when
    // nothing is left), then id and the job's fields and values per job found.
    static let listJobs = script("listJobs", #"""
        local b, q, limit, budget = ARGV[2], ARGV[3], tonumber(ARGV[5]), tonumber(ARGV[6])
        local want = nil
        if #ARGV >= 7 then
          want = {}
          for i = 7, #ARGV do want[ARGV[i]] = true end
        end
        local out = { '' }
        local found, looked = 0, 0
        local function take(id)
          looked = looked + 1
          out[1] = id
          local h = loadM(id)
          if h and (not want or want[fmt(h.s)]) and (q == '' or h.q == q) then
            out[#out + 1] = id
            out[#out + 1] = fieldsOf(id, load(id))
            found = found + 1
          end
        end
        local more = false
        if b ~= '' then
          local from = ARGV[4] ~= '' and ('(' .. ARGV[4]) or '-inf'
          more = true
          while found < limit and looked < budget do
            local page = math.min(500, budget - looked)
            local ids = redis.call('ZRANGEBYSCORE', P .. 'bj:' .. b, from, '+inf', 'LIMIT', 0, page)
            for _, id in ipairs(ids) do
              take(id)
              if found >= limit then break end
            end
            if #ids < page then more = false; break end
            from = '(' .. out[1]
          end
        else
          -- Ids only grow: walk them from `after`; deleted ones are skipped.
          local last = tonumber(redis.call('GET', P .. 'seq') or '0')
          local id = (tonumber(ARGV[4]) or 0) + 1
          while found < limit and looked < budget and id <= last do
            take(fmt(id))
            id = id + 1
          end
          more = id <= last
        end
        if not more then out[1] = '' end
        return out
        """#)

    // ARGV: clock offset (unused), id. Returns the job's fields and values (empty if there is none).
    static let readJob = script("readJob", #"""
        local h = load(ARGV[2])
        if not h then return {} end
        return fieldsOf(ARGV[2], h)
        """#)

    // ARGV: clock offset, worker id, JSON. Its last-seen time is Redis's.
    static let registerWorker = script("registerWorker", #"""
        redis.call('HSET', P .. 'wk', ARGV[2], ARGV[3])
        redis.call('ZADD', P .. 'wks', NOW, ARGV[2])
        -- Workers that vanished without saying goodbye (SIGKILL) are forgotten after a day.
        local gone = redis.call('ZRANGEBYSCORE', P .. 'wks', '-inf', '(' .. fmt(tonumber(NOW) - 86400000000), 'LIMIT', 0, 100)
        if #gone > 0 then
          redis.call('HDEL', P .. 'wk', unpack(gone))
          redis.call('ZREM', P .. 'wks', unpack(gone))
        end
        return 1
        """#)

    // ARGV: clock offset, the layout this version writes. Returns the namespace's layout,
    // recording ours in a namespace that holds no jobs yet; '1' for jobs from before layouts
    // were recorded.
    static let layout = script("layout", #"""
        local v = redis.call('GET', P .. 'layout')
        if v then return v end
        if redis.call('HLEN', JD) > 0 then return '1' end
        redis.call('SET', P .. 'layout', ARGV[2])
        return ARGV[2]
        """#)

    // ARGV: clock offset, age µs. Returns id, last seen, JSON per worker seen within the age.
    static let listWorkers = script("listWorkers", #"""
        local seen = redis.call('ZRANGEBYSCORE', P .. 'wks', fmt(tonumber(NOW) - tonumber(ARGV[2])), '+inf', 'WITHSCORES', 'LIMIT', 0, 10000)
        local out = {}
        for i = 1, #seen, 2 do
          out[#out + 1] = seen[i]
          out[#out + 1] = seen[i + 1]
          out[#out + 1] = redis.call('HGET', P .. 'wk', seen[i]) or ''
        end
        return out
        """#)

    // ARGV: clock offset, queues... Returns µs until the earliest scheduled or retrying job of a
    // queue that is not paused is due (0 when one is due already), or '' when none waits.
    static let untilNextDue = script("untilNextDue", #"""
        local earliest = nil
        for i = 2, #ARGV do
          local q = ARGV[i]
          if redis.call('SISMEMBER', P .. 'paused', q) == 0 then
            local first = redis.call('ZRANGE', P .. 'dly:' .. q, 0, 0, 'WITHSCORES')
            if first[2] then
              local at = tonumber(first[2])
              if not earliest or at < earliest then earliest = at end
            end
          end
        end
        if not earliest then return '' end
        return fmt(math.max(0, earliest - tonumber(NOW)))
        """#)

    /// The state every script starts from. As a script (`EVALSHA`) it is set up by the source
    /// itself; in the function library, `begin` sets it at the start of each call (a library's
    /// top level runs once, at load, where not even `string` or `cmsgpack` may be touched).
    private static let scriptState = #"""
        local P = KEYS[1]
        -- Redis's own clock, shifted by the offset tests move it with (see the layout notes).
        local NOW
        do
          local t = redis.call('TIME')
          NOW = t[1] .. string.sub('00000' .. t[2], -6)
          if ARGV[1] ~= '' then NOW = string.format('%d', tonumber(NOW) + tonumber(ARGV[1])) end
        end
        local JD, JM = P .. 'J:d', P .. 'J:m'
        local mpack, munpack = cmsgpack.pack, cmsgpack.unpack
        -- Counter changes of this call, applied once per queue and batch (see applyBatches);
        -- `fresh`: jobs created by the running enqueue whose records are not written yet.
        local qd, bd, border, settled, woke, fresh = {}, {}, {}, {}, {}, {}

        """#

    private static let libraryState = #"""
        local P, NOW, JD, JM, mpack, munpack
        -- Counter changes of this call, applied once per queue and batch (see applyBatches);
        -- `fresh`: jobs created by the running enqueue whose records are not written yet.
        local qd, bd, border, settled, woke, fresh
        local function begin(keys, args)
          P = keys[1]
          -- Redis's own clock, shifted by the offset tests move it with (see the layout notes).
          local t = redis.call('TIME')
          NOW = t[1] .. string.sub('00000' .. t[2], -6)
          if args[1] ~= '' then NOW = string.format('%d', tonumber(NOW) + tonumber(args[1])) end
          JD, JM = P .. 'J:d', P .. 'J:m'
          mpack, munpack = cmsgpack.pack, cmsgpack.unpack
          qd, bd, border, settled, woke, fresh = {}, {}, {}, {}, {}, {}
        end

        """#

    private static func script(_ name: String, _ body: String) -> StoreScript {
        StoreScript(name: name, body: body, eval: RedisScript(templates + scriptState + prelude + body))
    }

    static let all: [StoreScript] = [
        enqueue, claim, complete, heartbeat, release, recover, cancel, retry, recoverBatch, createBatch, purge, listJobs,
        readJob, registerWorker, listWorkers, untilNextDue, layout,
    ]

    /// Every script as one Redis Functions library, so that a call runs only its own code and
    /// not the whole prelude (measured: a trivial `EVALSHA` costs 6.5 µs inside Redis, the
    /// prelude's ~45 helper closures another ~24 µs per call). Its name carries a hash of its
    /// source, so workers of different versions can share a Redis.
    static let library: RedisFunctionLibrary = {
        var source = "#!lua name=LIBRARY_NAME\n" + templates + libraryState + prelude
        for script in all {
            source += "redis.register_function('LIBRARY_NAME_\(script.name)', function(KEYS, ARGV)\nbegin(KEYS, ARGV)\n"
            source += script.body + "\nend)\n"
        }
        let name = "conveyor_" + RedisScript(source).sha1.prefix(12)
        return RedisFunctionLibrary(name: name, source: source.replacingOccurrences(of: "LIBRARY_NAME", with: name))
    }()

    static func functionName(_ script: StoreScript) -> String { library.name + "_" + script.name }
}

/// One store operation's Lua: as a script for `EVALSHA` (Redis before 7) and as the body of a
/// function in ``RedisScripts/library``.
struct StoreScript: Sendable {
    let name: String
    let body: String
    let eval: RedisScript
}
