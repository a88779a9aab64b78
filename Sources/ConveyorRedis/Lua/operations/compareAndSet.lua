-- Writes ARGV[4] under record ARGV[2] if its version is ARGV[3] ('' when there must be no
-- record yet). Returns the new version, or '' when the version did not match.
local k = P .. 'rec:' .. ARGV[2]
local version = redis.call('HGET', k, 'n')
if (version or '') ~= ARGV[3] then return '' end
local written = fmt((tonumber(version) or 0) + 1)
redis.call('HSET', k, 'v', ARGV[4], 'n', written)
return written
