-- Forgets outboxes the sweeper found empty, if their mark is older than the grace by Redis's
-- own clock (the clock outbox_mark.lua scores with) and no commit marked them again since the
-- sweeper read them.
-- KEYS: [1] the index zset. ARGV: [1] grace ms, then tag, score (as read), tag, score, ...
-- Returns how many marks it removed.
local now = redis.call('TIME')
local cutoff = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - tonumber(ARGV[1])
local removed = 0
for i = 2, #ARGV, 2 do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if score and tonumber(score) == tonumber(ARGV[i + 1]) and tonumber(score) <= cutoff then
    removed = removed + redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return removed
