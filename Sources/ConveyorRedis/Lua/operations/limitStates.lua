-- The state of keys ARGV[2...]: per key its rule's pattern ('' none) and stored form, active
-- jobs, held jobs, the rate's theoretical arrival time, the upstream's wait (µs), a sliding
-- window's starts in it and when the oldest leaves it, after
-- NOW. Rules: with ARGV[2] == '' (and no keys), every rule: pattern, stored form, updated.
if #ARGV == 1 then
  local out = { NOW }
  local rules = redis.call('HGETALL', P .. 'lim')
  for i = 1, #rules, 2 do
    out[#out + 1] = rules[i]
    out[#out + 1] = rules[i + 1]
    out[#out + 1] = redis.call('HGET', P .. 'limu', rules[i]) or NOW
  end
  return out
end
local out = { NOW }
for i = 2, #ARGV do
  local key = ARGV[i]
  local rule = limitRule(key)
  local cell = limitCell(key)
  out[#out + 1] = rule and rule.pattern or ''
  out[#out + 1] = rule and redis.call('HGET', P .. 'lim', rule.pattern) or ''
  out[#out + 1] = fmt(cell.a)
  out[#out + 1] = redis.call('ZCARD', P .. 'lh:' .. key)
  out[#out + 1] = fmt(cell.t)
  out[#out + 1] = fmt(cell.bu)
  if rule and rule.sliding then limitWindow(cell) end
  out[#out + 1] = fmt(cell.wc or 0)
  out[#out + 1] = fmt(cell.wf or 0)
end
return out
