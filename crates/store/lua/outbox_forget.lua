-- Forgets outboxes the sweeper found empty, unless a commit marked them again meanwhile.
-- KEYS: [1] the index zset. ARGV: tag, score (as read), tag, score, ...
-- Returns how many marks it removed.
local removed = 0
for i = 1, #ARGV, 2 do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if score and tonumber(score) == tonumber(ARGV[i + 1]) then
    removed = removed + redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return removed
