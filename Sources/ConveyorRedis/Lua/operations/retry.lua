local out = {}
for i = 2, #ARGV do
  local id = ARGV[i]
  local h = load(id)
  if h and (h.s == 5 or h.s == 6) then
    -- A chain step runs only after its parent succeeded: it waits for a parent still on
    -- its way, and stays put behind one that ended dead or cancelled.
    local ps = nil
    if h.pa then ps = stateOf(h.pa) end
    if not (ps and ps ~= 3 and isFinal(ps)) then
      local state = 1
      if ps and ps ~= 3 then state = 7 end
      if revive(id, h, state) then
        out[#out + 1] = id
        restoreDependents(id, h.b)
      end
    end
  end
end
runCascade()
return out
