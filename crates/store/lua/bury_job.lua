-- Moves a claimed job to its bucket's dead letters if the lease is still current (DESIGN.md
-- "Delay queue"). Prepended with job_record.lua.
-- KEYS: [1] due zset, [2] jobs hash, [3] dead zset (id -> buried ms), [4] dead records hash.
-- ARGV: [1] id, [2] lease, [3] now ms, [4] reason, [5] how many dead letters the bucket keeps.
-- Returns 1 when it moved the job. The dead record is "<buried ms> <reason length> <reason>"
-- followed by the job record as it was.
local record = redis.call('HGET', KEYS[2], ARGV[1])
if not record then
  return 0
end
local _, lease = job_split(record)
if not lease then return job_corrupt(ARGV[1]) end
if lease ~= tonumber(ARGV[2]) then
  return 0
end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
redis.call('HSET', KEYS[4], ARGV[1], ARGV[3] .. ' ' .. #ARGV[4] .. ' ' .. ARGV[4] .. record)
-- The oldest go first once the bucket holds more than it keeps.
local excess = redis.call('ZCARD', KEYS[3]) - tonumber(ARGV[5])
if excess > 0 then
  local oldest = redis.call('ZRANGE', KEYS[3], 0, excess - 1)
  redis.call('ZREMRANGEBYRANK', KEYS[3], 0, excess - 1)
  redis.call('HDEL', KEYS[4], unpack(oldest))
end
return 1
