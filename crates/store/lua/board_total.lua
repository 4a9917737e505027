-- A member's leaderboard total, read atomically: between a separate HGET and ZSCORE the member's
-- zset entry could be replaced by a concurrent add, and the read would wrongly find nothing.
-- KEYS: [1] board, [2] board:m. ARGV: [1] member id. Returns the score or nil.
local encoded = redis.call('HGET', KEYS[2], ARGV[1])
if not encoded then
  return false
end
return redis.call('ZSCORE', KEYS[1], encoded)
