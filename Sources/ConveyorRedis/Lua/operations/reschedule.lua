-- Writes next fire times if the leadership ARGV[2] with token ARGV[3] still holds: then per
-- change a schedule, the version it must have and its next fire ('' leaves the index).
-- Returns 1 or 0 per change, whether it was written; an error NOTLEADER when the leadership
-- no longer holds.
if not leads(ARGV[2], ARGV[3]) then return redis.error_reply('NOTLEADER ' .. ARGV[2]) end
local written = {}
for i = 4, #ARGV, 3 do
  local name, version, nextFire = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local k = P .. 'sd:' .. name
  if redis.call('HGET', k, 'v') == version then
    redis.call('HSET', k, 'nf', nextFire)
    if nextFire == '' then redis.call('ZREM', P .. 'sdue', name) else redis.call('ZADD', P .. 'sdue', nextFire, name) end
    written[#written + 1] = 1
  else
    written[#written + 1] = 0
  end
end
return written
