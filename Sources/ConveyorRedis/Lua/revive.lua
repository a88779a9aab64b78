-- Shared by retry and recoverBatch (each script includes it before its own file): brings a
-- dead or cancelled job back in `state` unless a newer job holds its unique key. Returns
-- whether it did.
local function revive(id, h, state)
  if h.u then
    local holder = uniqueHolder(h.u)
    if holder and holder ~= id then return false end
    redis.call('HSET', P .. 'uq', h.u, id)
  end
  h.r = NOW
  setState(id, h, state, { 'a', 0, 'r', NOW, 'f', '' })
  return true
end
