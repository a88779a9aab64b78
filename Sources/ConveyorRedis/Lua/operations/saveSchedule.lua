-- Stores definition ARGV[4] as schedule ARGV[2] if condition ARGV[3] holds ('' always,
-- 'absent', or the version it must have), with the next version of the store's one sequence
-- (`P sv`, so no version comes back after a remove). Indexed (ARGV[5] '1') it is due at once,
-- for a scheduler to work out its next slot; otherwise it leaves the index. Returns the
-- stored schedule (see schedules.lua), or '' when the condition did not hold.
local name = ARGV[2]
local k = P .. 'sd:' .. name
local current = redis.call('HGET', k, 'v')
if ARGV[3] == 'absent' then
  if current then return '' end
elseif ARGV[3] ~= '' and current ~= ARGV[3] then
  return ''
end
local version = redis.call('INCR', P .. 'sv')
local created = redis.call('HGET', k, 'c') or NOW
local nextFire = ''
if ARGV[5] == '1' then
  nextFire = NOW
  redis.call('ZADD', P .. 'sdue', NOW, name)
else
  redis.call('ZREM', P .. 'sdue', name)
end
redis.call('HSET', k, 'd', ARGV[4], 'v', fmt(version), 'c', created, 'u', NOW, 'nf', nextFire)
redis.call('ZADD', P .. 'sdn', 0, name)
local out = {}
readSchedule(name, out)
return out
