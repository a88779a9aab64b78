local earliest = nil
for i = 2, #ARGV do
  local q = ARGV[i]
  if redis.call('SISMEMBER', P .. 'paused', q) == 0 then
    local first = redis.call('ZRANGE', P .. 'dly:' .. q, 0, 0, 'WITHSCORES')
    if first[2] then
      local at = tonumber(first[2])
      if not earliest or at < earliest then earliest = at end
    end
  end
end
-- Held jobs of a key that admits again (of any queue: a claim lets them go).
local wake = redis.call('ZRANGE', P .. 'lw', 0, 0, 'WITHSCORES')
if wake[2] then
  local at = tonumber(wake[2])
  if not earliest or at < earliest then earliest = at end
end
if not earliest then return '' end
return fmt(math.max(0, earliest - tonumber(NOW)))
