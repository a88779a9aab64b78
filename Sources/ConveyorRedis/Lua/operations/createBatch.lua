local b = ARGV[2]
local k = P .. 'b:' .. b
if redis.call('HSETNX', k, 'c', NOW) == 1 then
  redis.call('ZADD', P .. 'bs', NOW, b)
  if ARGV[3] ~= '' then redis.call('HSET', k, 'n', ARGV[3]) end
  for kind = 1, 2 do
    local o = 4 + (kind - 1) * 10
    if ARGV[o] == '1' then
      local name, q, payload, pr = ARGV[o + 1], ARGV[o + 2], ARGV[o + 3], ARGV[o + 4]
      local m, t, u, outer, headers = ARGV[o + 5], ARGV[o + 6], ARGV[o + 7], ARGV[o + 8], ARGV[o + 9]
      local id = fmt(redis.call('INCR', P .. 'seq'))
      -- Callbacks are not members: they wait outside the batch's counters.
      redis.call('HSET', JD, id,
                 mpack(name, payload, tonumber(pr), tonumber(m), tonumber(t), u, '', b, fmt(kind), q, outer, headers, NOW, NOW))
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
