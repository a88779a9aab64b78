local expiry, worker, limit = fmt(tonumber(NOW) + tonumber(ARGV[2])), ARGV[3], tonumber(ARGV[4])
local out, leases = { expiry }, {}
local count = 0
local wakeQueue = nil
local now = tonumber(NOW)
-- Held jobs of keys that admit again go back in line first.
limitReleaseDue(now, 1000)
-- Every claimed queue's due jobs are promoted, even once the limit is reached.
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
    -- Highest priority first; entries of jobs no longer ready (cancelled) are dropped. Jobs
    -- whose key is at its limit are held back, at most 1,000 per queue per claim.
    local heldBack = 0
    for prio = 9, 0, -1 do
      local rk = rkey(q, prio)
      while count < limit and heldBack < 1000 do
        local got = redis.call('LPOP', rk, limit - count)
        if not got then break end
        for _, id in ipairs(got) do
          local d = redis.call('HGET', JD, id)
          if d then
            local raw = redis.call('HGET', JM, id)
            -- `_`: lease, worker and start, which the claim writes anew.
            local s, a, token, hasChildren, jq, b, r, _, f, ek, em, res, lk
            if raw then
              s, a, token, hasChildren, jq, b, r, _, _, _, f, ek, em, res, lk = munpack(raw)
            else
              -- Never changed since it was enqueued ready (see loadM).
              local pa, wb, dq, db, c, dr, dlk = route(d)
              s, a, token, hasChildren, jq, b, r = firstState(pa, wb, dr, c), 0, 0, '', dq, db, dr
              f, ek, em, res, lk = '', '', '', '', dlk
            end
            local keys = limitKeys(lk)
            local heldOn, wakeAt = nil, nil
            if s == 1 and keys then heldOn, wakeAt = limitBlocking(keys, now) end
            if heldOn then
              -- At its key's limit: out of line until the key admits again; no attempt spent.
              limitHold(id, prio, heldOn, wakeAt)
              heldBack = heldBack + 1
            elseif s == 1 then
              if keys then limitStarted(keys, now, id) end
              a, token = a + 1, token + 1
              redis.call('HSET', JM, id, mpack(2, a, token, hasChildren, jq, b, r, expiry, worker, NOW, f, ek, em, res, lk or ''))
              leases[#leases + 1] = expiry; leases[#leases + 1] = id
              move(q, b, 1, 2)
              local j = #out
              out[j + 1] = id; out[j + 2] = d; out[j + 3] = a; out[j + 4] = token
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
limitSave(now)
-- Queues whose held jobs went back in line are woken (this claim may not take them all).
local released = woke
woke = {}
runCascade()
for q, _ in pairs(released) do wake(q) end
-- Work is left behind: wake another idle worker to share it.
if wakeQueue then wake(wakeQueue) end
return out
