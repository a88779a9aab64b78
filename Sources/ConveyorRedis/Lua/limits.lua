-- Flow control: limit rules, each key's cell, held jobs, circuits. Part of the prelude, after
-- cascade.lua. Keys (see the layout notes): `P lim` rules by pattern (LimitSettings.storedForm:
-- count, period µs, burst, concurrency, then a breaker's failures, failure rate ‰, window,
-- cool-down µs, wave, wave interval µs), `P lc:<key>` a busy key's cell (`t` the rate's
-- theoretical arrival time, `a` active jobs, `bu` the upstream's wait; its circuit: `cp` phase,
-- `cu` open until, `pr` the probe's job id, `wa`/`wu` the wave's start and starts), `P lh:<key>`
-- the key's held ready jobs (scored by priority then id), `P lw` keys with held jobs by when
-- they may go; the cell also keeps its circuit's counted outcomes (CircuitStats: `f`, `r`, `sc`,
-- `ds`, `dt`, `da`, `ch`); `P ct:<key>` its transitions newest first, `P ck` keys with a circuit.
-- The arithmetic is LimitSettings.admissible/started and circuitGate/Started/Ended
-- (Limiter.swift, CircuitBreaker.swift), step for step. `limRules`, `limCells`, `limHeld` and
-- `limStats` cache this call's reads (script state).

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
      local n = {}
      for number in string.gmatch(v, '%d+') do n[#n + 1] = tonumber(number) end
      local c, p, b, k = n[1] or 0, n[2] or 0, n[3] or 0, n[4] or 0
      local interval = 0
      if c > 0 then interval = math.floor((p + c - 1) / c) end
      rule = { pattern = patterns[i], interval = interval, burst = math.max(1, b), conc = k }
      -- Burst 0: a sliding window of the last `count` starts over `period` µs.
      if c > 0 and b == 0 then rule.sliding, rule.count, rule.period = true, c, p end
      if #n == 10 then
        rule.cb = { failures = n[5], rate = n[6], window = n[7], cool = n[8], wave = n[9], wi = n[10] }
      end
      break
    end
  end
  limRules[key] = rule
  return rule
end

local function limitCell(key)
  local cell = limCells[key]
  if cell then return cell end
  local v = redis.call('HMGET', P .. 'lc:' .. key, 't', 'a', 'bu', 'cp', 'cu', 'pr', 'wa', 'wu', 'hb',
                      'f', 'r', 'sc', 'ds', 'dt', 'da', 'ch')
  -- `hb`: 1 once a job started under a rule with a breaker, so a completion looks the rule up
  -- only for such keys.
  cell = { key = key, t = tonumber(v[1]) or 0, a = tonumber(v[2]) or 0, bu = tonumber(v[3]) or 0, cp = tonumber(v[4]) or 0,
           cu = tonumber(v[5]) or 0, pr = tonumber(v[6]) or 0, wa = tonumber(v[7]) or 0, wu = tonumber(v[8]) or 0,
           hb = tonumber(v[9]) or 0 }
  cell.cp0 = cell.cp
  -- The circuit's outcomes, kept in the same hash (read by circuitStats); a cell with them
  -- stays (the reliability score).
  cell.sv, cell.hasStats = v, v[11] ~= false
  limCells[key] = cell
  return cell
end

-- A sliding window's starts still in it (`wc`) and when the oldest leaves it (`wf`), read
-- once per call.
local function limitWindow(cell)
  if cell.wc then return end
  local wk = P .. 'lsw:' .. cell.key
  cell.wc, cell.wf = redis.call('ZCOUNT', wk, '(' .. NOW, '+inf'), 0
  if cell.wc > 0 then
    cell.wf = tonumber(redis.call('ZRANGEBYSCORE', wk, '(' .. NOW, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)[2])
  end
end

-- A circuit's counted outcomes (CircuitStats), `had` false when none are stored.
local function circuitStats(key)
  local stats = limStats[key]
  if stats then return stats end
  local cell = limitCell(key)
  local v = cell.sv
  stats = { f = tonumber(v[10]) or 0, r = v[11] or '', sc = tonumber(v[12]) or 0, ds = tonumber(v[13]) or 0,
            dt = tonumber(v[14]) or 0, da = tonumber(v[15]) or 0, ch = tonumber(v[16]) or 0, had = cell.hasStats }
  limStats[key] = stats
  return stats
end

-- Counts one outcome (CircuitStats.record): the half-life is an hour.
local function circuitRecord(stats, success, now)
  if success then stats.f = 0 else stats.f = stats.f + 1 end
  stats.r = stats.r .. (success and '1' or '0')
  if #stats.r > 100 then stats.r = string.sub(stats.r, #stats.r - 99) end
  stats.sc = math.min(stats.sc + 1, 100)
  local factor = 0
  if stats.da ~= 0 then factor = 0.5 ^ (math.max(0, now - stats.da) / 3600000000) end
  stats.ds = stats.ds * factor + (success and 1 or 0)
  stats.dt = stats.dt * factor + 1
  stats.da = now
  stats.dirty = true
end

-- Successes and outcomes among the last `window`.
local function circuitLast(stats, window)
  local last = string.sub(stats.r, -window)
  local _, successes = string.gsub(last, '1', '')
  return successes, #last
end

-- Records a change of `key`'s circuit (CircuitTransition.storedForm) with its reason.
local function circuitLog(key, from, to, reason, now)
  local stats = circuitStats(key)
  stats.ch = now
  stats.dirty = true
  local k = P .. 'ct:' .. key
  redis.call('LPUSH', k, fmt(now) .. ' ' .. from .. ' ' .. to .. ' ' .. string.sub(reason, 1, 500))
  redis.call('LTRIM', k, 0, 99)
end

-- Closes the circuit (closed in waves with a breaker): the failures in a row start again.
local function circuitClose(cell, stats, cb)
  cell.cp = cb and 3 or 0
  cell.pr, cell.cu, cell.wa, cell.wu = 0, 0, 0, 0
  cell.dirty = true
  stats.f, stats.sc = 0, 0
end

-- What the circuit lets through now (LimitSettings.circuitGate): nil nothing held back; else
-- at most `cap` starts, the one after them at `nextAt` (nil: when a probe ends, or the recheck).
local function circuitGate(cell, rule, now)
  if cell.cp == 4 then return 0, nil end
  local cb = rule and rule.cb
  if not cb or cell.cp == 0 then return nil end
  if cell.cp == 1 then
    if cell.cu > now then return 0, cell.cu end
    return 1, nil
  elseif cell.cp == 2 then
    if cell.pr ~= 0 then return 0, nil end
    return 1, nil
  end
  if cell.wa + cb.wi > now then return math.max(0, cb.wave - cell.wu), cell.wa + cb.wi end
  if cell.wa ~= 0 and cell.wu < cb.wave then return nil end
  return cb.wave, now + cb.wi
end

-- The circuit after job `id` started (LimitSettings.circuitStarted).
local function circuitStarted(key, cell, rule, now, id)
  local cb = rule and rule.cb
  if not cb or cell.cp == 4 then return end
  if cell.cp == 1 and cell.cu <= now then
    cell.cp, cell.pr = 2, tonumber(id)
    circuitLog(key, 1, 2, 'the cool-down is over: job ' .. id .. ' is the probe', now)
  elseif cell.cp == 2 and cell.pr == 0 then
    cell.pr = tonumber(id)
  elseif cell.cp == 3 then
    if cell.wa + cb.wi > now then
      cell.wu = cell.wu + 1
    elseif cell.wa ~= 0 and cell.wu < cb.wave then
      cell.cp, cell.wa, cell.wu = 0, 0, 0
    else
      cell.wa, cell.wu = now, 1
    end
  end
end

local function circuitPercent(permille)
  if permille % 10 == 0 then return string.format('%d%%', permille / 10) end
  return string.format('%.1f%%', permille / 10)
end

-- Job `id` of `key` ended (LimitSettings.circuitEnded): `verdict` 's' a success, 'f' a counted
-- failure with `message`, 'n' neither.
local function circuitEnded(key, id, verdict, message, now)
  local cell = limitCell(key)
  if cell.cp == 0 and (cell.hb ~= 1 or verdict == 'n') then return end
  local rule = limitRule(key)
  local cb = rule and rule.cb
  local isProbe = cell.cp == 2 and cell.pr == tonumber(id)
  if isProbe then cell.pr = 0; cell.dirty = true end
  if not cb then
    if cell.cp ~= 0 and cell.cp ~= 4 then
      local from = cell.cp
      cell.cp, cell.pr, cell.cu, cell.wa, cell.wu = 0, 0, 0, 0, 0
      cell.dirty = true
      circuitLog(key, from, 0, 'no rule with a breaker covers the key any more', now)
    end
    return
  end
  if verdict == 'n' then return end
  local stats = circuitStats(key)
  local from, reason = cell.cp, nil
  if verdict == 's' then
    circuitRecord(stats, true, now)
    if isProbe then
      reason = 'probe job ' .. id .. ' succeeded'
      circuitClose(cell, stats, cb)
    end
  else
    circuitRecord(stats, false, now)
    if isProbe then
      reason = 'probe job ' .. id .. ' failed: ' .. message
    elseif cell.cp == 0 or cell.cp == 3 then
      local successes, outcomes = circuitLast(stats, cb.window)
      local failed = outcomes - successes
      if stats.f >= cb.failures then
        reason = stats.f .. ' failures in a row; the last, job ' .. id .. ': ' .. message
      elseif cb.rate > 0 and stats.sc >= cb.window and failed * 1000 >= cb.rate * outcomes then
        reason = failed .. ' of the last ' .. outcomes .. ' outcomes failed (the limit is ' .. circuitPercent(cb.rate)
          .. '); the last, job ' .. id .. ': ' .. message
      end
    end
    if reason then
      cell.cp, cell.cu, cell.wa, cell.wu = 1, now + cb.cool, 0, 0
      cell.dirty = true
    end
  end
  if reason then circuitLog(key, from, cell.cp, reason, now) end
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
local function limitsAdmit(cell, rule, now, budget)
  local slots = budget
  if rule and rule.conc > 0 then slots = math.max(0, rule.conc - cell.a) end
  if not rule or rule.interval == 0 then return math.min(budget, slots), nil end
  if rule.sliding then
    limitWindow(cell)
    local byRate = math.max(0, rule.count - cell.wc)
    local count = math.min(budget, slots, byRate)
    if count ~= byRate then return count, nil end
    if cell.wc > 0 then return count, cell.wf end
    return count, now + rule.period
  end
  local tolerance = (rule.burst - 1) * rule.interval
  local start = math.max(cell.t, now)
  local allowance = now + tolerance - start
  local byRate = 0
  if allowance >= 0 then byRate = math.floor(allowance / rule.interval) + 1 end
  local count = math.min(budget, slots, byRate)
  if count == byRate then return count, start + count * rule.interval - tolerance end
  return count, nil
end

-- An open circuit admits nothing; a half-open one its probe; one letting its held jobs go,
-- what is left of the wave.
local function limitAdmissible(key, now, budget)
  local cell, rule = limitCell(key), limitRule(key)
  if cell.bu > now then return 0, cell.bu end
  local cap, gateNext = circuitGate(cell, rule, now)
  if cap == nil or cap >= budget then return limitsAdmit(cell, rule, now, budget) end
  if cap == 0 then return 0, gateNext end
  local count, nextAt = limitsAdmit(cell, rule, now, cap)
  if count ~= cap or not gateNext then return count, nextAt end
  return count, math.max(gateNext, nextAt or gateNext)
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

local function limitStarted(keys, now, id)
  for _, key in ipairs(keys) do
    local cell, rule = limitCell(key), limitRule(key)
    if rule and rule.cb then cell.hb = 1 end
    if rule and rule.sliding then
      -- Recorded with when it leaves the window; the starts that left go.
      limitWindow(cell)
      local wk, frees = P .. 'lsw:' .. key, now + rule.period
      redis.call('ZREMRANGEBYSCORE', wk, '-inf', fmt(now))
      redis.call('ZADD', wk, fmt(frees), id .. '@' .. fmt(now))
      redis.call('PEXPIRE', wk, math.ceil(rule.period / 1000) + 60000)
      if cell.wc == 0 then cell.wf = frees end
      cell.wc = cell.wc + 1
      cell.t = math.max(cell.t, frees)
    elseif rule and rule.interval > 0 then
      cell.t = math.max(cell.t, now) + rule.interval
    end
    circuitStarted(key, cell, rule, now, id)
    cell.a = cell.a + 1
    cell.dirty = true
  end
end

-- Held jobs of `key` may go at `at` (µs) at the latest.
local function limitWake(key, at)
  redis.call('ZADD', P .. 'lw', 'LT', fmt(at), key)
end

-- Job `id` left `active`: its slots free, the held jobs of its keys may go now, and its end
-- moves their circuits (`verdict` and `message` as circuitEnded takes them).
local function limitEnded(keys, now, id, verdict, message)
  for _, key in ipairs(keys) do
    local cell = limitCell(key)
    cell.a = math.max(0, cell.a - 1)
    cell.dirty = true
    circuitEnded(key, id, verdict, message, now)
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

-- Writes the cells this call changed, with their circuits' outcomes in the same hash: a cell
-- with nothing worth keeping goes (one with outcomes stays); circuit fields only for a
-- circuit that is or was not closed or whose jobs count.
local function limitSave(now)
  for key, cell in pairs(limCells) do
    local stats = limStats[key]
    local counted = stats and stats.dirty
    if cell.dirty or counted then
      local k = P .. 'lc:' .. key
      if not (cell.hasStats or counted) and cell.a <= 0 and cell.t <= now and cell.bu <= now and cell.cp == 0 then
        redis.call('DEL', k)
      elseif counted then
        redis.call('HSET', k, 't', fmt(cell.t), 'a', fmt(cell.a), 'bu', fmt(cell.bu), 'cp', cell.cp, 'cu', fmt(cell.cu),
                   'pr', fmt(cell.pr), 'wa', fmt(cell.wa), 'wu', cell.wu, 'hb', cell.hb,
                   'f', stats.f, 'r', stats.r, 'sc', stats.sc, 'ds', string.format('%.17g', stats.ds),
                   'dt', string.format('%.17g', stats.dt), 'da', fmt(stats.da), 'ch', fmt(stats.ch))
        if not stats.had then redis.call('ZADD', P .. 'ck', 0, key) end
      elseif cell.cp ~= 0 or cell.cp0 ~= 0 or cell.hb == 1 then
        redis.call('HSET', k, 't', fmt(cell.t), 'a', fmt(cell.a), 'bu', fmt(cell.bu), 'cp', cell.cp, 'cu', fmt(cell.cu),
                   'pr', fmt(cell.pr), 'wa', fmt(cell.wa), 'wu', cell.wu, 'hb', cell.hb)
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
