-- The state every call starts from, in the function library: a library's top level runs
-- once, at load, where not even `string` or `cmsgpack` may be touched, so `begin` sets it at
-- the start of each call. Scripts (EVALSHA) set the same names up in scriptState.lua.
local P, NOW, JD, JM, mpack, munpack
-- Counter changes of this call, applied once per queue and batch (see counters.lua);
-- `settled`: jobs with children that reached a final state (see runCascade); `woke`: queues
-- with new ready jobs; `unwritten`: jobs created by the running enqueue whose records are
-- not written yet.
local queueDeltas, batchDeltas, batchOrder, settled, woke, unwritten
-- Flow control's reads of this call: rules, cells and circuits' outcomes by key, whether a
-- key holds jobs.
local limRules, limCells, limHeld, limStats
local function begin(keys, args)
  P = keys[1]
  -- Redis's own clock, shifted by the offset tests move it with (see the layout notes).
  local t = redis.call('TIME')
  NOW = t[1] .. string.sub('00000' .. t[2], -6)
  if args[1] ~= '' then NOW = string.format('%d', tonumber(NOW) + tonumber(args[1])) end
  JD, JM = P .. 'J:d', P .. 'J:m'
  mpack, munpack = cmsgpack.pack, cmsgpack.unpack
  queueDeltas, batchDeltas, batchOrder, settled, woke, unwritten = {}, {}, {}, {}, {}, {}
  limRules, limCells, limHeld, limStats = {}, {}, {}, {}
end
