-- What the scripts that read stored schedules share: one schedule as the values Swift reads
-- (RedisBackend+Coordination.swift), from `P sd:<name>` (a hash: `d` definition, `v`
-- version, `c` created, `u` updated, `nf` next fire, '' when not indexed), the last slot in
-- `P slots` and the newest entry of the history list `P sh:<name>`.
local function readSchedule(name, out)
  local s = redis.call('HMGET', P .. 'sd:' .. name, 'd', 'v', 'c', 'u', 'nf')
  if not s[1] then return false end
  out[#out + 1] = name
  for i = 1, 5 do out[#out + 1] = s[i] or '' end
  out[#out + 1] = redis.call('HGET', P .. 'slots', name) or ''
  out[#out + 1] = redis.call('LINDEX', P .. 'sh:' .. name, 0) or ''
  return true
end
