redis.call('HSET', P .. 'wk', ARGV[2], ARGV[3])
redis.call('ZADD', P .. 'wks', NOW, ARGV[2])
-- Workers that vanished without saying goodbye (SIGKILL) are forgotten after a day.
local gone = redis.call('ZRANGEBYSCORE', P .. 'wks', '-inf', '(' .. fmt(tonumber(NOW) - 86400000000), 'LIMIT', 0, 100)
if #gone > 0 then
  redis.call('HDEL', P .. 'wk', unpack(gone))
  redis.call('ZREM', P .. 'wks', unpack(gone))
end
return 1
