local b, q, limit, budget = ARGV[2], ARGV[3], tonumber(ARGV[5]), tonumber(ARGV[6])
local newestFirst = ARGV[7] == '1'
-- Filters on the job's fixed part (name, enqueue time in µs) and the projection.
local name, createdFrom, createdBefore = ARGV[8], tonumber(ARGV[9]), tonumber(ARGV[10])
local bare = ARGV[11] == '1'
local fixedFilters = name ~= '' or createdFrom ~= nil or createdBefore ~= nil
local want = nil
if #ARGV >= 12 then
  want = {}
  for i = 12, #ARGV do want[ARGV[i]] = true end
end
local function passes(r)
  if name ~= '' and r.n ~= name then return false end
  local c = tonumber(r.c)
  if createdFrom and c < createdFrom then return false end
  if createdBefore and c >= createdBefore then return false end
  return true
end
local out = { '' }
local found, looked = 0, 0
local function take(id)
  looked = looked + 1
  out[1] = id
  local h = loadM(id)
  if h and (not want or want[fmt(h.s)]) and (q == '' or h.q == q) then
    local r = load(id)
    if not fixedFilters or passes(r) then
      if bare then r.p, r.res = nil, nil end
      out[#out + 1] = id
      out[#out + 1] = fieldsOf(r)
      found = found + 1
    end
  end
end
local more
if b ~= '' then
  local from = ARGV[4] ~= '' and ('(' .. ARGV[4]) or (newestFirst and '+inf' or '-inf')
  more = true
  while found < limit and looked < budget do
    local page = math.min(500, budget - looked)
    local ids
    if newestFirst then
      ids = redis.call('ZREVRANGEBYSCORE', P .. 'bj:' .. b, from, '-inf', 'LIMIT', 0, page)
    else
      ids = redis.call('ZRANGEBYSCORE', P .. 'bj:' .. b, from, '+inf', 'LIMIT', 0, page)
    end
    for _, id in ipairs(ids) do
      take(id)
      if found >= limit then break end
    end
    if #ids < page then more = false; break end
    from = '(' .. out[1]
  end
elseif newestFirst then
  -- Ids only grow: walk them down from `after` (or the last id); deleted ones are skipped.
  local id = (tonumber(ARGV[4]) or (tonumber(redis.call('GET', P .. 'seq') or '0') + 1)) - 1
  while found < limit and looked < budget and id >= 1 do
    take(fmt(id))
    id = id - 1
  end
  more = id >= 1
else
  -- Ids only grow: walk them from `after`; deleted ones are skipped.
  local last = tonumber(redis.call('GET', P .. 'seq') or '0')
  local id = (tonumber(ARGV[4]) or 0) + 1
  while found < limit and looked < budget and id <= last do
    take(fmt(id))
    id = id + 1
  end
  more = id <= last
end
if not more then out[1] = '' end
return out
