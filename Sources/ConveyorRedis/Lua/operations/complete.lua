local actIds, finIds, fenced = {}, {}, {}
for o = 2, #ARGV, 6 do
  local id = ARGV[o]
  -- An active job has changed state (claimed), so its mutable part is there.
  local raw = redis.call('HGET', JM, id)
  -- `_`: lease expiry and finish time, which every outcome writes anew.
  local s, a, token, hasChildren, q, b, r, _, w, st, ek, em, res
  if raw then s, a, token, hasChildren, q, b, r, _, w, st, _, ek, em, res = munpack(raw) end
  if s == 2 and token == tonumber(ARGV[o + 1]) then
    local kind = ARGV[o + 2]
    actIds[#actIds + 1] = id
    if kind == 's' then
      redis.call('HSET', JM, id, mpack(3, a, token, hasChildren, q, b, r, '', w, st, NOW, ek, em, ARGV[o + 3]))
      finIds[#finIds + 1] = id .. ':' .. NOW
      move(q, b, 2, 3)
      finished(id, 3, nonEmpty(hasChildren))
    elseif kind == 'r' then
      local at = fmt(tonumber(NOW) + tonumber(ARGV[o + 5]))
      redis.call('HSET', JM, id, mpack(4, a, token, hasChildren, q, b, at, '', w, st, '', ARGV[o + 4], ARGV[o + 3], res))
      redis.call('ZADD', P .. 'dly:' .. q, at, id)
      move(q, b, 2, 4)
      -- Idle workers elsewhere learn of the new due date.
      woke[q] = true
    else
      redis.call('HSET', JM, id, mpack(5, a, token, hasChildren, q, b, r, '', w, st, NOW, ARGV[o + 4], ARGV[o + 3], res))
      finIds[#finIds + 1] = id .. ':' .. NOW
      move(q, b, 2, 5)
      finished(id, 5, nonEmpty(hasChildren))
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
