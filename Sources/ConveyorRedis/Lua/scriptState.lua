-- The state every call starts from, as a script (EVALSHA): set up by the source itself.
-- The function library sets the same names in `begin` instead (libraryState.lua).
local P = KEYS[1]
-- Redis's own clock, shifted by the offset tests move it with (see the layout notes).
local NOW
do
  local t = redis.call('TIME')
  NOW = t[1] .. string.sub('00000' .. t[2], -6)
  if ARGV[1] ~= '' then NOW = string.format('%d', tonumber(NOW) + tonumber(ARGV[1])) end
end
local JD, JM = P .. 'J:d', P .. 'J:m'
local mpack, munpack = cmsgpack.pack, cmsgpack.unpack
-- Counter changes of this call, applied once per queue and batch (see counters.lua);
-- `settled`: jobs with children that reached a final state (see runCascade); `woke`: queues
-- with new ready jobs; `unwritten`: jobs created by the running enqueue whose records are
-- not written yet.
local queueDeltas, batchDeltas, batchOrder, settled, woke, unwritten = {}, {}, {}, {}, {}, {}
-- Flow control's reads of this call: rules, cells and circuits' outcomes by key, whether a
-- key holds jobs.
local limRules, limCells, limHeld, limStats = {}, {}, {}, {}
