-- luacheck settings for the Redis store's Lua, Sources/ConveyorRedis/Lua (scripts/test runs
-- `luacheck Sources/ConveyorRedis/Lua`).
--
-- Redis never runs one of these files alone. RedisScripts.swift concatenates them: an
-- operation's script is the message templates Swift writes, scriptState.lua, the prelude
-- (support, records, counters, transitions, cascade) and the operation's own file(s); the
-- function library is the templates, libraryState.lua, the prelude and every operation as a
-- function. So a file sees, as upvalues, what the parts before it define; luacheck, which reads
-- one file at a time, is told so below: each file may read the names of the parts before it
-- (and no others, so a helper used before it is defined is caught), and a name a file
-- defines for later parts is not reported as unused there.

-- What Redis's Lua 5.1 sandbox offers: no io, os, require or loadstring.
stds.redis = {
  read_globals = {
    "redis", "cmsgpack", "cjson", "bit", "struct", "KEYS", "ARGV",
    "assert", "error", "ipairs", "next", "pairs", "pcall", "rawequal", "rawget", "rawset", "select",
    "setmetatable", "getmetatable", "tonumber", "tostring", "type", "unpack", "xpcall",
    "string", "table", "math",
  },
}
std = "redis"
max_line_length = 130

local dir = "Sources/ConveyorRedis/Lua/"

-- The parts in the order they are concatenated, each with the names it shares with the parts
-- after it. `state` names are assigned again by later parts (they are reset per call).
local templates = { "CHAIN_PREFIX", "CHAIN_STOPPED", "CHAIN_STOPPED_WITH_REASON", "CHORD_FAILED", "LEASE_EXPIRED" }
local state = { "P", "NOW", "JD", "JM", "mpack", "munpack", "queueDeltas", "batchDeltas", "batchOrder", "settled", "woke",
                "unwritten", "limRules", "limCells", "limHeld", "limStats" }
local prelude = {
  { "support.lua", { "fmt", "PRIOS", "rkey", "later", "leads", "isFinal", "nonEmpty", "fill", "startsWith", "many" } },
  { "records.lua", { "fromM", "firstState", "route", "links", "loadM", "saveM", "load", "fieldsOf", "stateOf",
                     "uniqueHolder" } },
  { "counters.lua", { "move", "ensureBatch", "applyBatches" } },
  { "transitions.lua", { "unindex", "reindex", "setState", "finished" } },
  { "cascade.lua", { "chainStopped", "settleChildren", "releaseWaiters", "restoreDependents", "wake", "runCascade",
                     "deletePlain", "deleteJob" } },
  { "limits.lua", { "limitKeys", "limitRule", "limitCell", "limitWindow", "circuitStats", "circuitRecord", "circuitLast", "circuitLog",
                    "circuitClose", "circuitGate", "circuitStarted", "circuitPercent", "circuitEnded", "limitsAdmit",
                    "limitHeld", "limitWait", "limitBlocking", "limitStarted",
                    "limitWake", "limitEnded", "limitBlock", "limitHold", "limitSave", "limitAdmissible", "limitRecheck",
                    "limitReleaseDue", "limitHoldingKey" } },
}

local function concat(...)
  local out = {}
  for _, list in ipairs({ ... }) do
    for _, name in ipairs(list) do out[#out + 1] = name end
  end
  return out
end

-- Unused-value warnings (2xx, 3xx) about the names a file defines for later parts.
local function sharedBy(names)
  local out = {}
  for _, name in ipairs(names) do out[#out + 1] = "[23]../^" .. name .. "$" end
  return out
end

-- The state parts define the state for everything after them.
files[dir .. "scriptState.lua"] = { read_globals = templates, ignore = sharedBy(state) }
files[dir .. "libraryState.lua"] = { read_globals = templates, ignore = sharedBy(concat(state, { "begin" })) }

local before = {}
for _, part in ipairs(prelude) do
  local file, names = part[1], part[2]
  files[dir .. file] = { read_globals = concat(templates, before), globals = state, ignore = sharedBy(names) }
  before = concat(before, names)
end

-- Every operation comes after the whole prelude; retry and recoverBatch also after revive.lua.
files[dir .. "revive.lua"] = { read_globals = concat(templates, before), globals = state, ignore = sharedBy({ "revive" }) }
files[dir .. "operations"] = { read_globals = concat(templates, before), globals = state }
files[dir .. "operations/retry.lua"] = { read_globals = { "revive" } }
-- enqueue.lua comes after enqueueArguments.lua (an enqueue) or fire.lua (a schedule's fire),
-- which give it its arguments and the slot to record.
files[dir .. "enqueueArguments.lua"] = { ignore = sharedBy({ "args", "fireSlot" }) }
files[dir .. "operations/fire.lua"] = { read_globals = concat(templates, before), globals = state,
                                        ignore = sharedBy({ "args", "fireSlot" }) }
files[dir .. "operations/enqueue.lua"] = { read_globals = { "args", "fireSlot" } }
files[dir .. "operations/recoverBatch.lua"] = { read_globals = { "revive" } }
-- The operations on stored schedules that read them come after schedules.lua.
files[dir .. "schedules.lua"] = { read_globals = concat(templates, before), globals = state, ignore = sharedBy({ "readSchedule" }) }
files[dir .. "operations/saveSchedule.lua"] = { read_globals = { "readSchedule" } }
files[dir .. "operations/readSchedules.lua"] = { read_globals = { "readSchedule" } }
