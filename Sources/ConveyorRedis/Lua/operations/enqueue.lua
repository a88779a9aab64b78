local n = tonumber(args[2])
local linked = args[3] == '1'
local due, limits = nil, nil
if args[4] ~= '' then due = munpack(args[4]) end
-- Each job's limit keys, joined by spaces, only if any job has some.
if args[5] ~= '' then limits = munpack(args[5]) end
local nowTail = mpack(NOW, NOW)
-- Check every parent first: a script cannot roll back what it already wrote.
if linked then
  for i = 1, n do
    local pa = select(7, munpack(args[5 + i]))
    if pa ~= '' and string.sub(pa, 1, 1) ~= '#' and redis.call('HEXISTS', JD, pa) == 0 then
      return redis.error_reply('NOJOB ' .. pa)
    end
  end
end
local results, immutable, ready, members, queues, recheck = {}, {}, {}, {}, {}, {}
local inLine = {}
local reservedEnd = redis.call('INCRBY', P .. 'seq', n)
local nextID = reservedEnd - n
for i = 1, n do
  local record = args[5 + i]
  local _, _, pr, _, _, u, pa, wb, _, q, b = munpack(record)
  local r, tail = NOW, nowTail
  if due then
    local d = due[i]
    if type(d) == 'string' then r = d
    elseif d and d > 0 then r = fmt(tonumber(NOW) + d) end
    if r ~= NOW then tail = mpack(NOW, r) end
  end
  local lk = limits and limits[i] or ''
  if lk ~= '' then tail = mpack(NOW, r, lk) end
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
      local pending = unwritten[parent]
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
    if linked or u ~= '' then unwritten[id] = { s = state, q = q, b = b, r = r, lk = nonEmpty(lk) } end
    immutable[#immutable + 1] = id
    immutable[#immutable + 1] = record .. tail
    -- A ready job goes behind the held jobs of its keys, or is held itself when its keys admit
    -- no more starts now than this call has put in line.
    local heldOn, wakeAt = nil, nil
    if state == 1 and lk ~= '' then heldOn, wakeAt = limitHoldingKey(limitKeys(lk), inLine, tonumber(NOW)) end
    if heldOn then
      limitHold(id, pr, heldOn, wakeAt)
    elseif state == 1 then
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
-- A schedule's fire records its slot with its jobs, once nothing can fail any more.
if fireSlot then fireSlot(results) end
-- Duplicates took no id: give back the reserved ones they did not use (nothing else can
-- have taken an id meanwhile), so ids stay dense as on the other stores.
if nextID < reservedEnd then redis.call('SET', P .. 'seq', fmt(nextID)) end
many('HSET', JD, immutable)
for b, list in pairs(members) do many('ZADD', P .. 'bj:' .. b, list) end
for k, list in pairs(ready) do many('RPUSH', k, list) end
for q, _ in pairs(queues) do redis.call('SADD', P .. 'qs', q) end
-- Parents created in this call: their first state, with children noted.
for id, h in pairs(unwritten) do
  if h.hc then
    h.a, h.tk = 0, 0
    saveM(id, h)
  end
end
unwritten = {}
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
