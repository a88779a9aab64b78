-- Opens, closes or resets key ARGV[2]'s circuit by hand (ARGV[3] 'open', 'close' or 'reset';
-- ARGV[4] the reason, '' none), as LimitSettings.circuitChanged does. Returns { 'ok' }, or
-- 'unknown' and the first 20 keys with a circuit when no breaker knows the key (close, reset).
local key, action, reason = ARGV[2], ARGV[3], ARGV[4]
local now = tonumber(NOW)
local rule, cell, stats = limitRule(key), limitCell(key), circuitStats(key)
local cb = rule and rule.cb
if action ~= 'open' and not cb and not stats.had and cell.cp == 0 then
  local out = { 'unknown' }
  for _, known in ipairs(redis.call('ZRANGE', P .. 'ck', 0, 19)) do out[#out + 1] = known end
  return out
end
local from = cell.cp
if action == 'open' then
  cell.cp, cell.pr = 4, 0
  cell.dirty = true
else
  circuitClose(cell, stats, cb)
  if action == 'reset' then stats.f, stats.r, stats.sc, stats.ds, stats.dt, stats.da = 0, '', 0, 0, 0, 0 end
end
stats.dirty = true
local why = ''
if reason ~= '' then why = ': ' .. reason end
local verbs = { open = 'opened', close = 'closed', reset = 'reset' }
circuitLog(key, from, cell.cp, verbs[action] .. ' by hand' .. why, now)
limitSave(now)
if limitHeld(key) then
  -- Its held jobs look again at once: wake every queue's idle workers.
  limitWake(key, now)
  for _, q in ipairs(redis.call('SMEMBERS', P .. 'qs')) do wake(q) end
end
return { 'ok' }
