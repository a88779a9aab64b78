local out = {}
for i = 2, #ARGV do
  local id = ARGV[i]
  local h = load(id)
  if h and (h.s == 0 or h.s == 1 or h.s == 4 or h.s == 7) then
    setState(id, h, 6, { 'f', NOW })
    finished(id, 6, h.hc)
    out[#out + 1] = id
    -- In order: what this cancel settles (a chain's next steps, a finished batch's
    -- callbacks) is settled before the next id is looked at.
    runCascade()
  end
end
if #out > 0 then redis.call('PUBLISH', P .. 'done', '1') end
return out
