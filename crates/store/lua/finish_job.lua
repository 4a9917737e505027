-- Completes a claimed job if the lease is still current. Prepended with job_record.lua.
-- KEYS: [1] due zset, [2] jobs hash. ARGV: [1] id, [2] lease. Returns 1 when removed.
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
return 1
