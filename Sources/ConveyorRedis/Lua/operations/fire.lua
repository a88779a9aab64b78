-- A schedule's fire, then enqueue.lua: enqueues the fire's jobs and records its slot only if
-- the leadership still holds (its token is the current one and its lease runs) and the
-- schedule's last slot is older.
local lead = redis.call('HMGET', P .. 'lead:' .. ARGV[2], 'h', 't', 'e')
if not lead[1] or lead[1] == '' or lead[2] ~= ARGV[3] or not later(lead[3], NOW) then
  return redis.error_reply('NOTLEADER ' .. ARGV[2])
end
local last = redis.call('HGET', P .. 'slots', ARGV[4])
if last and not later(ARGV[5], last) then return { 'already', last } end
-- The enqueue's own arguments follow the fire's, after the clock offset.
local args = { ARGV[1] }
for i = 6, #ARGV do args[#args + 1] = ARGV[i] end
local fireSlot = { ARGV[4], ARGV[5] }
