-- What enqueue.lua reads: an enqueue call's own arguments, and no schedule slot to record
-- (fire.lua gives it both otherwise).
local args, fireSlot = ARGV, nil
