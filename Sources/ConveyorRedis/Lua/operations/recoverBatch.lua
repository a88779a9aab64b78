local b = ARGV[2]
local out = {}
for _, id in ipairs(redis.call('ZRANGE', P .. 'bj:' .. b, 0, -1)) do
  local h = load(id)
  if h and h.s == 5 and (ARGV[3] == '0' or h.ek ~= '1') and revive(id, h, 1) then
    out[#out + 1] = id
    restoreDependents(id, b)
  end
end
runCascade()
return out
