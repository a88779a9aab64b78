local since = fmt(tonumber(NOW) - tonumber(ARGV[2]))
local seen = redis.call('ZRANGEBYSCORE', P .. 'wks', since, '+inf', 'WITHSCORES', 'LIMIT', 0, 10000)
local out = {}
for i = 1, #seen, 2 do
  out[#out + 1] = seen[i]
  out[#out + 1] = seen[i + 1]
  out[#out + 1] = redis.call('HGET', P .. 'wk', seen[i]) or ''
end
return out
