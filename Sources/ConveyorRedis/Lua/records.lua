-- The job record: the one place that knows the positions of its fields (see the layout
-- notes in RedisScripts.swift). Part of the prelude, after support.lua.
--
-- `J:d` holds the part written once: n, p, pr, m, t, u, pa, wb, wk, q, b, hd, c, r, then lk
-- (hd: the headers as a JSON object, '' for none; lk: the limit keys joined by spaces, absent
-- for none). `J:m` holds
-- the part that changes: s, a, tk, hc, q, b, r, l, w, st, f, ek, em, res, lk; a job has none until
-- it first leaves its first state, which follows from the written-once part. Absent optional
-- values are ''. In a loaded record (a table) they are nil, under the same short names, which
-- are also the field names `readJob` and `listJobs` hand to Swift: tk the lease token, hc has
-- children, wb the batch the job waits for and wk on what condition.

local function fromM(raw)
  local s, a, tk, hc, q, b, r, l, w, st, f, ek, em, res, lk = munpack(raw)
  return { s = s, a = a, tk = tk, hc = nonEmpty(hc), q = q, b = b, r = r, l = nonEmpty(l), w = nonEmpty(w),
           st = nonEmpty(st), f = nonEmpty(f), ek = nonEmpty(ek), em = nonEmpty(em), res = nonEmpty(res),
           lk = nonEmpty(lk) }
end
-- The state a job is created in: waiting for a parent or batch, scheduled, or ready.
local function firstState(parent, awaitedBatch, runAt, created)
  if parent ~= '' or awaitedBatch ~= '' then return 7 end
  if later(runAt, created) then return 0 end
  return 1
end
-- The written-once part's fields that decide where a job is: parent, awaited batch, queue,
-- batch, created, run-at, limit keys (nil for none). The one place that knows their
-- positions, besides `load`.
local function route(d)
  local _, _, _, _, _, _, pa, wb, _, q, b, _, c, r, lk = munpack(d)
  return pa, wb, q, b, c, r, nonEmpty(lk)
end
-- The written-once part's links to other keys: unique key, parent, awaited batch (nil when
-- absent). Reads no further than it needs.
local function links(d)
  local _, _, _, _, _, _, u, pa, wb = cmsgpack.unpack_limit(d, 8)
  return nonEmpty(u), nonEmpty(pa), nonEmpty(wb)
end
-- The changing part of job `id` (nil if there is no such job).
local function loadM(id)
  local raw = redis.call('HGET', JM, id)
  if raw then return fromM(raw) end
  local d = redis.call('HGET', JD, id)
  if not d then return nil end
  local pa, wb, q, b, c, r, lk = route(d)
  return { s = firstState(pa, wb, r, c), a = 0, tk = 0, q = q, b = b, r = r, lk = lk }
end
local function saveM(id, h)
  redis.call('HSET', JM, id, mpack(h.s, h.a, h.tk, h.hc or '', h.q, h.b, h.r, h.l or '', h.w or '', h.st or '',
                                   h.f or '', h.ek or '', h.em or '', h.res or '', h.lk or ''))
end
-- The whole of job `id`, both parts (nil if there is no such job).
local function load(id)
  local d = redis.call('HGET', JD, id)
  if not d then return nil end
  local n, p, pr, m, t, u, pa, wb, wk, q, b, hd, c, r, lk = munpack(d)
  local raw = redis.call('HGET', JM, id)
  local h
  if raw then h = fromM(raw) else h = { s = firstState(pa, wb, r, c), a = 0, tk = 0, q = q, b = b, r = r } end
  h.n, h.p, h.pr, h.m, h.t, h.c = n, p, pr, m, t, c
  h.u, h.pa, h.wb, h.wk, h.hd, h.lk = nonEmpty(u), nonEmpty(pa), nonEmpty(wb), nonEmpty(wk), nonEmpty(hd), nonEmpty(lk)
  return h
end
-- A loaded job as field, value pairs (the names of the layout notes), for reading and listing.
local function fieldsOf(h)
  local out = {}
  for _, k in ipairs({ 'n', 'q', 'p', 'pr', 's', 'a', 'm', 't', 'r', 'c', 'st', 'f', 'u', 'b', 'w', 'l', 'ek', 'em', 'pa',
                       'wb', 'wk', 'tk', 'res', 'hd', 'lk' }) do
    local v = h[k]
    if v and v ~= '' then
      out[#out + 1] = k
      out[#out + 1] = type(v) == 'number' and fmt(v) or v
    end
  end
  return out
end

-- The state of job `id`, also of one the running enqueue created but has not written yet.
local function stateOf(id)
  local pending = unwritten[id]
  if pending then return pending.s end
  local h = loadM(id)
  return h and h.s
end

-- The job holding unique key `u` while it is not dead or cancelled, if any.
local function uniqueHolder(u)
  local holder = redis.call('HGET', P .. 'uq', u)
  if not holder then return nil end
  local s = stateOf(holder)
  if s and s ~= 5 and s ~= 6 then return holder end
  return nil
end
