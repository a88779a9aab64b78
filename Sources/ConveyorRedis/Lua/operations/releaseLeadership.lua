-- Gives up the leadership ARGV[2] if token ARGV[3] still holds it.
local k = P .. 'lead:' .. ARGV[2]
if redis.call('HGET', k, 't') == ARGV[3] then redis.call('HSET', k, 'h', '', 'e', '0') end
return 1
