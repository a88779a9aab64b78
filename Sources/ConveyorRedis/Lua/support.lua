-- General helpers every other file uses: number formatting, time comparison, keys, and
-- bulk commands. Part of the prelude (see RedisScripts.swift for the order of the parts).

-- A number Lua computed, as decimal text (never exponent notation; Lua numbers are doubles).
local function fmt(n) return string.format('%d', n) end
-- Priorities as text, so building a key does not format a Lua number (a double) per job.
local PRIOS = { [0] = '0', '1', '2', '3', '4', '5', '6', '7', '8', '9' }
local function rkey(q, prio) return P .. 'rdy:' .. q .. ':' .. (PRIOS[prio] or prio or '5') end
-- Whether time `a` comes after `b`, both decimal µs: compared as text, without parsing.
local function later(a, b) return #a > #b or (#a == #b and a > b) end
-- Whether the leadership `name` is held with fencing token `token` and its lease runs.
local function leads(name, token)
  local lead = redis.call('HMGET', P .. 'lead:' .. name, 'h', 't', 'e')
  return lead[1] and lead[1] ~= '' and lead[2] == token and later(lead[3], NOW)
end
local function isFinal(s) return s == 3 or s == 5 or s == 6 end
-- A record's optional value: '' (absent) as nil.
local function nonEmpty(v) if v == '' then return nil end return v end
-- A message template (see the templates Swift writes first) with its `{name}` placeholders
-- replaced by `values[name]`. The values are not searched for placeholders themselves.
local function fill(template, values)
  return (string.gsub(template, '{(%a+)}', values))
end
local function startsWith(s, prefix) return s and string.sub(s, 1, #prefix) == prefix end

-- Bulk commands with many members go out in chunks that Lua's unpack can take (an
-- even number, so field, value pairs stay together).
local function many(cmd, key, list)
  local n = #list
  local i = 1
  while i <= n do
    local last = math.min(n, i + 999)
    redis.call(cmd, key, unpack(list, i, last))
    i = last + 1
  end
end
