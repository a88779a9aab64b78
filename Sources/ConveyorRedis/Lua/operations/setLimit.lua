-- Stores rule ARGV[2] (a key, 'prefix:*' or '*') as ARGV[3] (LimitSettings.storedForm), or
-- removes it when ARGV[3] is ''. Keys with held jobs look again at once (at most 1,000 of
-- them are moved up; the rest at their own time). Returns 1 when a rule was there before.
local existed = redis.call('HEXISTS', P .. 'lim', ARGV[2])
if ARGV[3] == '' then
  redis.call('HDEL', P .. 'lim', ARGV[2])
else
  redis.call('HSET', P .. 'lim', ARGV[2], ARGV[3])
  redis.call('HSET', P .. 'limu', ARGV[2], NOW)
end
if ARGV[3] == '' then redis.call('HDEL', P .. 'limu', ARGV[2]) end
local later = redis.call('ZRANGEBYSCORE', P .. 'lw', '(' .. NOW, '+inf', 'LIMIT', 0, 1000)
for _, key in ipairs(later) do redis.call('ZADD', P .. 'lw', NOW, key) end
local held = redis.call('ZRANGE', P .. 'lw', 0, 0)
if held[1] then
  -- Wake every queue's idle workers: one of them claims, which lets the held jobs go.
  for _, q in ipairs(redis.call('SMEMBERS', P .. 'qs')) do wake(q) end
end
return existed
