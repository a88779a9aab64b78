-- Flow control: limit rules, each key's cell, held jobs. Part of the prelude, after
-- cascade.lua. Keys (see the layout notes): `P lim` rules by pattern (LimitSettings.storedForm:
-- count, period µs, burst, concurrency), `P lc:<key>` a busy key's cell (`t` the rate's
-- theoretical arrival time, `a` active jobs, `bu` the upstream's wait), `P lh:<key>` the key's
-- held ready jobs (scored by priority then id), `P lw` keys with held jobs by when they may go.
-- The arithmetic is LimitSettings.admission/started/admissible (Limiter.swift), step for step.
-- `limRules`, `limCells` and `limHeld` cache this call's reads (script state).

-- A job's limit keys ('' none) as a list, or nil.
local function limitKeys(text)
  if not text or text == '' then return nil end
  local keys = {}
  for key in string.gmatch(text, '%S+') do keys[#keys + 1] = key end
  return keys
end

-- The rule that applies to `key` (its own, else the longest prefix rule `x:*`, else `*`), as
-- { pattern, interval µs (0 none), burst, conc (0 none) }, or false.
local function limitRule(key)
  local known = limRules[key]
  if known ~= nil then return known end
  local patterns = { key }
  for i = #key, 1, -1 do
    if string.byte(key, i) == 58 then patterns[#patterns + 1] = string.sub(key, 1, i) .. '*' end
  end
  patterns[#patterns + 1] = '*'
  local stored = redis.call('HMGET', P .. 'lim', unpack(patterns))
  local rule = false
  for i = 1, #patterns do
    local v = stored[i]
    if v then
      local c, p, b, k = string.match(v, '^(%d+) (%d+) (%d+) (%d+)$')
      c, p, b, k = tonumber(c), tonumber(p), tonumber(b), tonumber(k)
      local interval = 0
      if c and c > 0 then interval = math.floor((p + c - 1) / c) end
      rule = { pattern = patterns[i], interval = interval, burst = math.max(1, b or 1), conc = k or 0 }
      break
    end
  end
  limRules[key] = rule
  return rule
end

local function limitCell(key)
  local cell = limCells[key]
  if cell then return cell end
  local v = redis.call('HMGET', P .. 'lc:' .. key, 't', 'a', 'bu')
  cell = { t = tonumber(v[1]) or 0, a = tonumber(v[2]) or 0, bu = tonumber(v[3]) or 0 }
  limCells[key] = cell
  return cell
end

-- Whether `key` has held jobs (a new ready job goes behind them).
local function limitHeld(key)
  local known = limHeld[key]
  if known ~= nil then return known end
  known = redis.call('EXISTS', P .. 'lh:' .. key) == 1
  limHeld[key] = known
  return known
end

-- How many starts `key` admits now (at most `budget`), and when the one after them would be:
-- the upstream's wait while it lasts; the rate's next start when the rate is what stops it;
-- nil when a slot must free first, or when only `budget` stopped it (LimitSettings.admissible).
local function limitAdmissible(key, now, budget)
  local cell, rule = limitCell(key), limitRule(key)
  if cell.bu > now then return 0, cell.bu end
  local slots = budget
  if rule and rule.conc > 0 then slots = math.max(0, rule.conc - cell.a) end
  if not rule or rule.interval == 0 then return math.min(budget, slots), nil end
  local tolerance = (rule.burst - 1) * rule.interval
  local start = math.max(cell.t, now)
  local allowance = now + tolerance - start
  local byRate = 0
  if allowance >= 0 then byRate = math.floor(allowance / rule.interval) + 1 end
  local count = math.min(budget, slots, byRate)
  if count == byRate then return count, start + count * rule.interval - tolerance end
  return count, nil
end

-- When a job held back by `key` now should be looked at again, or nil when the key admits a
-- start now: the key's next start, or, waiting for a slot, within a second.
local function limitWait(key, now)
  local count, nextAt = limitAdmissible(key, now, 1)
  if count > 0 then return nil end
  return nextAt or (now + 1000000)
end

-- When a key that still holds jobs after letting `count` of `budget` go looks again: at once
-- when only the budget stopped it, else at `nextAt`, else (a slot) within a second
-- (LimitSettings.recheck), so no key with held jobs is ever without a wake-up.
local function limitRecheck(count, budget, nextAt, now)
  if count == budget then return now end
  return nextAt or (now + 1000000)
end

-- The first of `keys` that does not admit a start now, and its wait.
local function limitBlocking(keys, now)
  for _, key in ipairs(keys) do
    local wait = limitWait(key, now)
    if wait then return key, wait end
  end
  return nil
end

local function limitStarted(keys, now)
  for _, key in ipairs(keys) do
    local cell, rule = limitCell(key), limitRule(key)
    if rule and rule.interval > 0 then cell.t = math.max(cell.t, now) + rule.interval end
    cell.a = cell.a + 1
    cell.dirty = true
  end
end

-- Held jobs of `key` may go at `at` (µs) at the latest.
local function limitWake(key, at)
  redis.call('ZADD', P .. 'lw', 'LT', fmt(at), key)
end

-- A job left `active`: its slots free, and the held jobs of its keys may go now.
local function limitEnded(keys, now)
  for _, key in ipairs(keys) do
    local cell = limitCell(key)
    cell.a = math.max(0, cell.a - 1)
    cell.dirty = true
    if limitHeld(key) then limitWake(key, now) end
  end
end

-- The upstream asked `keys` to wait until `untilAt` (µs).
local function limitBlock(keys, untilAt)
  for _, key in ipairs(keys) do
    local cell = limitCell(key)
    cell.bu = math.max(cell.bu, untilAt)
    cell.dirty = true
    if limitHeld(key) then limitWake(key, untilAt) end
  end
end

-- Holds ready job `id` back on `key` until it admits: at `wakeAt` (µs) at the latest, or, with
-- nil, whenever the key's wake-up already says (a job held behind others).
local function limitHold(id, prio, key, wakeAt)
  redis.call('ZADD', P .. 'lh:' .. key, fmt((9 - prio) * 100000000000000 + tonumber(id)), id)
  limHeld[key] = true
  if wakeAt then limitWake(key, wakeAt) end
end

-- Writes the cells this call changed; a cell with nothing worth keeping goes.
local function limitSave(now)
  for key, cell in pairs(limCells) do
    if cell.dirty then
      local k = P .. 'lc:' .. key
      if cell.a <= 0 and cell.t <= now and cell.bu <= now then
        redis.call('DEL', k)
      else
        redis.call('HSET', k, 't', fmt(cell.t), 'a', fmt(cell.a), 'bu', fmt(cell.bu))
      end
    end
  end
end

-- Puts held jobs of keys that admit again back in their lines, at the end (so the key's own
-- jobs keep their order: some may still be in line, let go earlier or never held): at most 16 keys
-- and `budget` jobs per key, as many as each admits; wakes their queues.
local function limitReleaseDue(now, budget)
  local due = redis.call('ZRANGEBYSCORE', P .. 'lw', '-inf', fmt(now), 'LIMIT', 0, 16)
  for _, key in ipairs(due) do
    redis.call('ZREM', P .. 'lw', key)
    local count, nextAt = limitAdmissible(key, now, budget)
    local hk = P .. 'lh:' .. key
    if count > 0 then
      local ids = redis.call('ZRANGE', hk, 0, count - 1)
      redis.call('ZREMRANGEBYRANK', hk, 0, count - 1)
      for _, id in ipairs(ids) do
        local h = loadM(id)
        if h and h.s == 1 then
          local d = redis.call('HGET', JD, id)
          local pr = select(3, munpack(d))
          redis.call('RPUSH', rkey(h.q, pr), id)
          woke[h.q] = true
        end
      end
    end
    limHeld[key] = nil
    if limitHeld(key) then limitWake(key, limitRecheck(count, budget, nextAt, now)) end
  end
end

-- The key that holds back a new ready job with `keys`: one with held jobs already, or one
-- whose rule admits fewer starts now than this call has put in line (`inLine`, by key), so a
-- bulk enqueue for a saturated key costs its claims nothing; and when it may go (nil: when
-- the key's wake-up already says).
local function limitHoldingKey(keys, inLine, now)
  for _, key in ipairs(keys) do
    if limitHeld(key) then return key, nil end
  end
  for _, key in ipairs(keys) do
    if limitRule(key) then
      local count, nextAt = limitAdmissible(key, now, 1000000)
      if (inLine[key] or 0) >= count then return key, nextAt or (now + 1000000) end
    end
  end
  for _, key in ipairs(keys) do inLine[key] = (inLine[key] or 0) + 1 end
  return nil
end
