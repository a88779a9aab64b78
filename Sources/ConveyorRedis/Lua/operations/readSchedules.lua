-- Reads stored schedules (see schedules.lua for each one's values): ARGV[2] 'name' the one
-- named ARGV[3]; 'after' at most ARGV[4] in name order after ARGV[3] ('' from the first);
-- 'due' at most ARGV[4] whose next fire is at or before now, earliest first, through the
-- index `P sdue`. Returns now, the earliest next fire of the schedules not returned ('' none),
-- then the schedules.
local out = { NOW, '' }
local mode, limit = ARGV[2], tonumber(ARGV[4]) or 0
if mode == 'name' then
  readSchedule(ARGV[3], out)
elseif mode == 'after' then
  local from = '-'
  if ARGV[3] ~= '' then from = '(' .. ARGV[3] end
  for _, name in ipairs(redis.call('ZRANGEBYLEX', P .. 'sdn', from, '+', 'LIMIT', 0, limit)) do readSchedule(name, out) end
else
  local due = redis.call('ZRANGEBYSCORE', P .. 'sdue', '-inf', NOW, 'LIMIT', 0, limit)
  for _, name in ipairs(due) do readSchedule(name, out) end
  local after = redis.call('ZRANGE', P .. 'sdue', #due, #due, 'WITHSCORES')
  if after[2] then out[2] = fmt(tonumber(after[2])) end
end
return out
