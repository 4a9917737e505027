-- Replaces an idempotency record only if it still holds the value the caller read.
-- KEYS: [1] the record. ARGV: [1] expected value, [2] new value, [3] ttl ms.
-- Returns 1 when replaced, 0 when the record holds something else (or nothing).
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
