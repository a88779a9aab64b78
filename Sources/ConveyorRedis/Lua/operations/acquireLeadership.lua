-- Takes the leadership ARGV[2] for holder ARGV[3] for ARGV[4] µs, or renews it for that holder.
-- A new holder gets the next token (kept in the hash after a release, so tokens never go back).
local k = P .. 'lead:' .. ARGV[2]
local current = redis.call('HMGET', k, 'h', 't', 'e')
local holder, token, expires = current[1], tonumber(current[2]) or 0, current[3]
local running = holder and holder ~= '' and expires and later(expires, NOW)
if running and holder ~= ARGV[3] then return '' end
if not running then token = token + 1 end
local expiry = fmt(tonumber(NOW) + tonumber(ARGV[4]))
redis.call('HSET', k, 'h', ARGV[3], 't', fmt(token), 'e', expiry)
return { fmt(token), expiry }
