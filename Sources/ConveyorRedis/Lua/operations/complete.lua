local actIds, finIds, fenced = {}, {}, {}
local now = tonumber(NOW)
for o = 2, #ARGV, 6 do
  local id = ARGV[o]
  -- An active job has changed state (claimed), so its mutable part is there.
  local raw = redis.call('HGET', JM, id)
  -- `_`: lease expiry and finish time, which every outcome writes anew.
  local s, a, token, hasChildren, q, b, r, _, w, st, ek, em, res, lk
  if raw then s, a, token, hasChildren, q, b, r, _, w, st, _, ek, em, res, lk = munpack(raw) end
  if s == 2 and token == tonumber(ARGV[o + 1]) then
    local kind = ARGV[o + 2]
    lk = lk or ''
    actIds[#actIds + 1] = id
    if kind == 's' then
      redis.call('HSET', JM, id, mpack(3, a, token, hasChildren, q, b, r, '', w, st, NOW, ek, em, ARGV[o + 3], lk))
      finIds[#finIds + 1] = id .. ':' .. NOW
      move(q, b, 2, 3)
      finished(id, 3, nonEmpty(hasChildren))
    elseif kind == 'r' or kind == 'R' then
      local at = fmt(now + tonumber(ARGV[o + 5]))
      redis.call('HSET', JM, id, mpack(4, a, token, hasChildren, q, b, at, '', w, st, '', ARGV[o + 4], ARGV[o + 3], res, lk))
      redis.call('ZADD', P .. 'dly:' .. q, at, id)
      move(q, b, 2, 4)
      -- Idle workers elsewhere learn of the new due date.
      woke[q] = true
    elseif kind == 'x' then
      -- Deferred: the upstream asked its keys to wait; the attempt is not counted.
      local untilAt = now + tonumber(ARGV[o + 5])
      local at = fmt(untilAt)
      redis.call('HSET', JM, id,
                 mpack(4, math.max(0, a - 1), token, hasChildren, q, b, at, '', w, st, '', '0', ARGV[o + 3], res, lk))
      redis.call('ZADD', P .. 'dly:' .. q, at, id)
      move(q, b, 2, 4)
      woke[q] = true
      local blocked = limitKeys(ARGV[o + 4])
      if blocked then limitBlock(blocked, untilAt) end
    else
      redis.call('HSET', JM, id, mpack(5, a, token, hasChildren, q, b, r, '', w, st, NOW, ARGV[o + 4], ARGV[o + 3], res, lk))
      finIds[#finIds + 1] = id .. ':' .. NOW
      move(q, b, 2, 5)
      finished(id, 5, nonEmpty(hasChildren))
    end
    local keys = limitKeys(lk)
    if keys then
      -- How the end moves the keys' circuits: 'r' and 'd' are failures the job type counts
      -- against its keys, 'R' and 'D' ones it does not.
      local verdict = 'n'
      if kind == 's' then verdict = 's' elseif kind == 'r' or kind == 'd' then verdict = 'f' end
      limitEnded(keys, now, id, verdict, ARGV[o + 3])
    end
  else
    fenced[#fenced + 1] = id; fenced[#fenced + 1] = ARGV[o + 1]
  end
end
many('ZREM', P .. 'act', actIds)
many('RPUSH', P .. 'fin', finIds)
limitSave(now)
local madeWork = runCascade()
-- Waiters in other processes (results, batch progress) hear of it.
if #actIds > 0 then redis.call('PUBLISH', P .. 'done', '1') end
table.insert(fenced, 1, madeWork)
return fenced
