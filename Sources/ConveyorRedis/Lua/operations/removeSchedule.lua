-- Removes schedule ARGV[2] and its history if condition ARGV[3] holds ('' always, or the
-- version it must have); its slot record in `P slots` stays. Returns 1 when removed, else 0.
local name = ARGV[2]
local k = P .. 'sd:' .. name
local current = redis.call('HGET', k, 'v')
if not current or (ARGV[3] ~= '' and ARGV[3] ~= current) then return 0 end
redis.call('DEL', k, P .. 'sh:' .. name)
redis.call('ZREM', P .. 'sdue', name)
redis.call('ZREM', P .. 'sdn', name)
return 1
