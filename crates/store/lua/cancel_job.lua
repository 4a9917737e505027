-- Removes a job from its bucket. KEYS: [1] due zset, [2] jobs hash. ARGV: [1] id.
-- Returns 1 when the job existed.
local existed = redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
return existed
