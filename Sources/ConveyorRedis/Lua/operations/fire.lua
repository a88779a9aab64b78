-- A schedule's fire, then enqueue.lua: enqueues the fire's jobs, and records the slot, the
-- next fire and the history entry with them, only if the leadership still holds (its token
-- is the current one and its lease runs), the stored schedule is the version the fire was
-- computed from, and the schedule's last slot is older. A run-now fire (no leadership) needs
-- only the version, and records only its history entry, for now.
-- ARGV: clock offset, leadership ('' run now), token, schedule, slot µs, version ('' none),
-- next fire µs ('' not indexed), outcome, batch id ('' none), then enqueue's arguments.
local name, runNow = ARGV[4], ARGV[2] == ''
if not runNow and not leads(ARGV[2], ARGV[3]) then return redis.error_reply('NOTLEADER ' .. ARGV[2]) end
local sk = P .. 'sd:' .. name
if ARGV[6] ~= '' then
  local version = redis.call('HGET', sk, 'v')
  if version ~= ARGV[6] then return { 'outdated', version or '' } end
end
if not runNow then
  local last = redis.call('HGET', P .. 'slots', name)
  if last and not later(ARGV[5], last) then return { 'already', last } end
end
-- The enqueue's own arguments follow the fire's, after the clock offset.
local args = { ARGV[1] }
for i = 10, #ARGV do args[#args + 1] = ARGV[i] end
-- Called by enqueue.lua with its ids (negative for duplicates) once nothing can fail any more.
local function fireSlot(ids)
  local slot = ARGV[5]
  if runNow then
    slot = NOW
  else
    redis.call('HSET', P .. 'slots', name, slot)
    if ARGV[6] ~= '' then
      redis.call('HSET', sk, 'nf', ARGV[7])
      if ARGV[7] == '' then redis.call('ZREM', P .. 'sdue', name) else redis.call('ZADD', P .. 'sdue', ARGV[7], name) end
    end
  end
  local first = ''
  if ids[1] then first = fmt(math.abs(ids[1])) end
  -- Entries: slot|fired at|outcome|first job|job count|batch (last: it may hold '|'), newest
  -- first, the newest 100 kept (ScheduleFireRecord.historyLimit).
  local hk = P .. 'sh:' .. name
  redis.call('LPUSH', hk, table.concat({ slot, NOW, ARGV[8], first, fmt(#ids), ARGV[9] }, '|'))
  redis.call('LTRIM', hk, 0, 99)
end
