for o = 2, #ARGV, 2 do
  local id = ARGV[o]
  local h = load(id)
  if h and h.s == 2 and h.tk == tonumber(ARGV[o + 1]) then
    h.s, h.a, h.l, h.w, h.st = 1, math.max(h.a - 1, 0), nil, nil, nil
    saveM(id, h)
    redis.call('ZREM', P .. 'act', id)
    redis.call('LPUSH', rkey(h.q, h.pr), id)
    move(h.q, h.b, 2, 1)
    local keys = limitKeys(h.lk)
    if keys then limitEnded(keys, tonumber(NOW), id, 'n') end
  end
end
limitSave(tonumber(NOW))
return runCascade()
