-- Queue and batch counters. A call collects its counter changes in queueDeltas and
-- batchDeltas (batches in batchOrder, the order they first moved) and applies them once per
-- queue and batch: queues in runCascade, batches in applyBatches. Part of the prelude, after
-- records.lua.

-- Counts a job of queue `q` and batch `b` ('' for none) moving from state `old` (nil for a new
-- job) to `new`; a job becoming ready wakes its queue.
local function move(q, b, old, new)
  if old == new then return end
  local t = queueDeltas[q]
  if not t then t = {}; queueDeltas[q] = t end
  if old then t[old] = (t[old] or 0) - 1 end
  t[new] = (t[new] or 0) + 1
  if b and b ~= '' then
    local u = batchDeltas[b]
    if not u then u = {}; batchDeltas[b] = u; batchOrder[#batchOrder + 1] = b end
    if old then u[old] = (u[old] or 0) - 1 end
    u[new] = (u[new] or 0) + 1
  end
  if new == 1 then woke[q] = true end
end

local function ensureBatch(b)
  if redis.call('HSETNX', P .. 'b:' .. b, 'c', NOW) == 1 then redis.call('ZADD', P .. 'bs', NOW, b) end
end

-- Applies batch counter changes; returns the batches whose last member just finished, each
-- as { id, whether every member succeeded }.
local function applyBatches()
  local fin = {}
  local order, deltas = batchOrder, batchDeltas
  batchDeltas, batchOrder = {}, {}
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
