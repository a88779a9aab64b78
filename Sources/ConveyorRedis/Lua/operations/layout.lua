local v = redis.call('GET', P .. 'layout')
if v then return v end
if redis.call('HLEN', JD) > 0 then return '1' end
redis.call('SET', P .. 'layout', ARGV[2])
return ARGV[2]
