local q, cutoff = ARGV[2], nil
if ARGV[3] ~= '' then cutoff = tonumber(NOW) - tonumber(ARGV[3]) end
local budget = tonumber(ARGV[5])
local nextFrom = ''
local want = {}
for i = 6, #ARGV do
  local s = tonumber(ARGV[i])
  if s ~= 2 then want[s] = true end
end
local victims, plain, linked = {}, {}, {}
local function consider(id)
  local h = load(id)
  if h and want[h.s] and (q == '' or h.q == q) then
    local at = (h.f and h.f ~= '') and h.f or h.c
    if not cutoff or tonumber(at) < cutoff then victims[#victims + 1] = { id, h } end
  end
end
local onlyFinished = true
for s, _ in pairs(want) do if not isFinal(s) then onlyFinished = false end end
if onlyFinished then
  -- Finished jobs only: walk the finish list (oldest first), not every id. An entry
  -- counts only if the job still finished at that time (not retried or purged since).
  local start = tonumber(ARGV[4]) or 0
  local entries = redis.call('LRANGE', P .. 'fin', start, start + budget - 1)
  local stale, leading = 0, true
  local reachedCutoff = false
  for _, e in ipairs(entries) do
    local sep = string.find(e, ':', 1, true)
    local id, at = string.sub(e, 1, sep - 1), string.sub(e, sep + 1)
    if cutoff and tonumber(at) >= cutoff then reachedCutoff = true; break end
    local hm = loadM(id)
    if hm and hm.f == at then
      local matches = want[hm.s] and (q == '' or hm.q == q)
      if matches then
        -- Finished: nothing waits on it any more, so it only has to go, with its index entries.
        local u, pa, wb = links(redis.call('HGET', JD, id))
        if u or pa or wb or hm.b ~= '' or hm.hc then linked[#linked + 1] = id
        else plain[#plain + 1] = { id, hm.q, hm.s } end
      end
      -- An entry whose job this call deletes goes too, while only such entries lead.
      if leading and matches and start == 0 then stale = stale + 1 else leading = false end
    elseif leading and start == 0 then
      stale = stale + 1
    else
      leading = false
    end
  end
  if stale > 0 then redis.call('LTRIM', P .. 'fin', stale, -1) end
  if not reachedCutoff and #entries == budget then nextFrom = fmt(start + budget - stale) end
else
  local last = tonumber(redis.call('GET', P .. 'seq') or '0')
  local from = tonumber(ARGV[4]) or 1
  local to = math.min(last, from + tonumber(ARGV[5]) - 1)
  for i = from, to do consider(fmt(i)) end
  if to < last then nextFrom = fmt(to + 1) end
end
-- An unfinished job leaves as if cancelled: what waits on it is settled and its batch
-- counts it as cancelled. Finished jobs stay in their batch's counts (history).
for _, v in ipairs(victims) do
  local h = v[2]
  if not isFinal(h.s) then
    setState(v[1], h, 6, { 'f', NOW })
    finished(v[1], 6, h.hc)
  end
end
runCascade()
local deleted = #plain
deletePlain(plain)
for _, id in ipairs(linked) do victims[#victims + 1] = { id } end
for _, v in ipairs(victims) do
  local h = load(v[1])
  if h then deleteJob(v[1], h); deleted = deleted + 1 end
end
return { deleted, nextFrom }
