-- Everything that follows from a job reaching a final state: chain steps released or
-- stopped, batches finishing and their waiters (callbacks, chords) released or failed, and
-- the reverse when a job runs again. Part of the prelude, after transitions.lua: the last part.

-- Why a chain step is cancelled (JobFailure.chainStopped): further down the chain, the first
-- reason is kept.
local function chainStopped(parent, s, reason)
  if startsWith(reason, CHAIN_PREFIX) then return reason end
  if reason then return fill(CHAIN_STOPPED_WITH_REASON[s], { parent = parent, reason = reason }) end
  return fill(CHAIN_STOPPED[s], { parent = parent })
end

-- Job `parent` reached final state `s`: its waiting children become ready (it succeeded) or
-- are cancelled.
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

-- Batch `b` finished: what waits for it runs, except strict chord callbacks (condition 3)
-- of a batch not every member of which succeeded, which end dead.
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
  local msg = fill(CHORD_FAILED, {
    failed = fmt(total - succeeded), total = fmt(total), dead = fmt(tonumber(c[6]) or 0),
    cancelled = fmt(tonumber(c[7]) or 0), batch = b,
  })
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

-- Leaves a wake-up token for an idle worker of queue `q` (a few at most).
local function wake(q)
  local k = P .. 'wake:' .. q
  if redis.call('LLEN', k) < 4 then redis.call('RPUSH', k, '1') end
end

-- Settles everything that follows from this call's changes, until nothing moves, then
-- applies the queue counters and wakes queues that have new ready jobs. Returns 1 when it
-- woke one (0 otherwise).
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
  for q, t in pairs(queueDeltas) do
    for s, d in pairs(t) do
      if d ~= 0 then redis.call('HINCRBY', P .. 'qc:' .. q, s, d) end
    end
  end
  queueDeltas = {}
  local any = 0
  for q, _ in pairs(woke) do wake(q); any = 1 end
  woke = {}
  return any
end

-- Deletes a job and every index entry that names it. Batch counters keep it (history).
-- Deletes finished jobs that link to nothing else (no unique key, parent, awaited batch,
-- batch or children) in a few commands for all of them: `plain` holds { id, queue, state }.
local function deletePlain(plain)
  if #plain == 0 then return end
  local ids, counts = {}, {}
  for _, j in ipairs(plain) do
    ids[#ids + 1] = j[1]
    local c = counts[j[2]]
    if not c then c = {}; counts[j[2]] = c end
    c[j[3]] = (c[j[3]] or 0) + 1
  end
  for i = 1, #ids, 1000 do
    local last = math.min(#ids, i + 999)
    redis.call('HDEL', JM, unpack(ids, i, last))
    redis.call('HDEL', JD, unpack(ids, i, last))
  end
  for q, c in pairs(counts) do
    for s, d in pairs(c) do redis.call('HINCRBY', P .. 'qc:' .. q, s, -d) end
  end
end

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
