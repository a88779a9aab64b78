local lost = {}
local expiry = fmt(tonumber(NOW) + tonumber(ARGV[2]))
for o = 3, #ARGV, 2 do
  local id = ARGV[o]
  local h = loadM(id)
  local token = tonumber(ARGV[o + 1])
  if h and h.s == 2 and h.tk == token then
    h.l = expiry
    saveM(id, h)
    redis.call('ZADD', P .. 'act', 'XX', expiry, id)
  elseif not (h and h.tk == token and (h.s == 3 or h.s == 4 or h.s == 5)) then
    -- Another claim holds it now, or it was handed back or recovered (recovery moves the
    -- token on). Under the same lease it may just have been completed by its own
    -- outcome, written while this call was on its way: that lease is not lost.
    lost[#lost + 1] = id; lost[#lost + 1] = ARGV[o + 1]
  end
end
return lost
