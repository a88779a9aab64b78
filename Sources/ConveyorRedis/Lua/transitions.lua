-- State transitions of a loaded job, keeping its indexes and the counters right. Part of the
-- prelude, after counters.lua.

-- Ready lists and fin are cleaned lazily (see the layout notes): leaving them costs nothing.
local function unindex(id, s, q)
  if s == 0 or s == 4 then redis.call('ZREM', P .. 'dly:' .. q, id)
  elseif s == 2 then redis.call('ZREM', P .. 'act', id) end
end
-- `front`: back to the head of its line (a released or recovered job keeps its turn).
local function reindex(id, s, q, prio, runAt, front)
  if s == 0 or s == 4 then redis.call('ZADD', P .. 'dly:' .. q, runAt, id)
  elseif s == 1 then redis.call(front and 'LPUSH' or 'RPUSH', rkey(q, prio), id)
  elseif isFinal(s) then redis.call('RPUSH', P .. 'fin', id .. ':' .. NOW) end
end

-- Moves a loaded job to state `new` with `fields` changed ('' clears one), keeping
-- indexes and counters right.
local function setState(id, h, new, fields, front)
  local old = h.s
  unindex(id, old, h.q)
  for i = 1, #fields, 2 do h[fields[i]] = nonEmpty(fields[i + 1]) end
  h.s = new
  saveM(id, h)
  reindex(id, new, h.q, h.pr, h.r, front)
  move(h.q, h.b, old, new)
end

-- A job with children that reached a final state: runCascade settles them.
local function finished(id, s, hasChildren)
  if hasChildren and isFinal(s) then settled[#settled + 1] = { id, s } end
end
