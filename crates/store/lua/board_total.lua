-- Members' leaderboard totals, read atomically: between a separate HGET and ZSCORE a member's
-- zset entry could be replaced by a concurrent add, and the read would wrongly find nothing.
-- KEYS: [1] board, [2] board:m. ARGV: member ids. Returns one score (or nil) per member, in order.
local totals = {}
for i = 1, #ARGV do
  local encoded = redis.call('HGET', KEYS[2], ARGV[i])
  -- false, not nil: a nil would end the array here; false comes back as a nil reply.
  totals[i] = encoded and redis.call('ZSCORE', KEYS[1], encoded) or false
end
return totals
