-- Circuits. ARGV[2] is the mode: 'keys' (the keys ARGV[3...]), 'after' (keys with a circuit
-- in key order after ARGV[3], '' from the first, at most ARGV[4]) or 'history' (key ARGV[3]'s
-- last ARGV[4] transitions). Returns NOW, then per key 13 values: the key, the pattern and
-- stored form of the rule whose breaker applies ('' none), its cell's `cp`, `cu`, `pr`, and
-- its outcomes' `f`, `r`, `sc`, `ds`, `dt`, `da`, `ch`; or, for 'history', the transitions
-- newest first (CircuitTransition.storedForm).
local out = { NOW }
local mode = ARGV[2]
if mode == 'history' then
  local limit = math.max(0, math.min(100, tonumber(ARGV[4]) or 0))
  if limit == 0 then return out end
  for _, entry in ipairs(redis.call('LRANGE', P .. 'ct:' .. ARGV[3], 0, limit - 1)) do out[#out + 1] = entry end
  return out
end
local keys = {}
if mode == 'after' then
  local from = '-'
  if ARGV[3] ~= '' then from = '(' .. ARGV[3] end
  local limit = math.max(0, math.min(10000, tonumber(ARGV[4]) or 0))
  if limit > 0 then keys = redis.call('ZRANGEBYLEX', P .. 'ck', from, '+', 'LIMIT', 0, limit) end
else
  for i = 3, #ARGV do keys[#keys + 1] = ARGV[i] end
end
for _, key in ipairs(keys) do
  local rule, cell, stats = limitRule(key), limitCell(key), circuitStats(key)
  local cb = rule and rule.cb
  out[#out + 1] = key
  out[#out + 1] = cb and rule.pattern or ''
  out[#out + 1] = cb and redis.call('HGET', P .. 'lim', rule.pattern) or ''
  out[#out + 1] = fmt(cell.cp)
  out[#out + 1] = fmt(cell.cu)
  out[#out + 1] = fmt(cell.pr)
  out[#out + 1] = fmt(stats.f)
  out[#out + 1] = stats.r
  out[#out + 1] = fmt(stats.sc)
  out[#out + 1] = string.format('%.17g', stats.ds)
  out[#out + 1] = string.format('%.17g', stats.dt)
  out[#out + 1] = fmt(stats.da)
  out[#out + 1] = fmt(stats.ch)
end
return out
