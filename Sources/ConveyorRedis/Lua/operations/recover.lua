local count = 0
local budget = tonumber(ARGV[3])
local ids = redis.call('ZRANGEBYSCORE', P .. 'act', '-inf', '(' .. NOW, 'LIMIT', 0, budget)
for _, id in ipairs(ids) do
  local h = load(id)
  if h and h.s == 2 then
    count = count + 1
    local msg = fill(LEASE_EXPIRED, { worker = h.w or '?' })
    -- The lease is over: the token moves on, so its holder's heartbeats and outcomes no
    -- longer count (even for a job that ends dead here).
    h.tk = h.tk + 1
    local keys = limitKeys(h.lk)
    if keys then limitEnded(keys, tonumber(NOW), id, 'n') end
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
limitSave(tonumber(NOW))
runCascade()
if count > 0 then redis.call('PUBLISH', P .. 'done', '1') end
local more = 0
if ARGV[2] ~= '' then
  -- Retention: finished jobs older than the cut-off go, oldest first. An entry whose job
  -- was retried, purged or finished again since is only dropped.
  local cutoff = tonumber(NOW) - tonumber(ARGV[2])
  local entries = redis.call('LRANGE', P .. 'fin', 0, budget - 1)
  local done = 0
  local plain = {}
  for _, e in ipairs(entries) do
    local sep = string.find(e, ':', 1, true)
    local id, at = string.sub(e, 1, sep - 1), string.sub(e, sep + 1)
    if tonumber(at) >= cutoff then break end
    done = done + 1
    local hm = loadM(id)
    if hm and isFinal(hm.s) and hm.f == at then
      local u, pa, wb = links(redis.call('HGET', JD, id))
      if u or pa or wb or hm.b ~= '' or hm.hc then
        deleteJob(id, load(id))
      else
        plain[#plain + 1] = { id, hm.q, hm.s }
      end
    end
  end
  deletePlain(plain)
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
