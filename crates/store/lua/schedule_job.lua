-- Schedules (or replaces) a job in its bucket. Prepended with job_record.lua.
-- KEYS: [1] due zset, [2] jobs hash. ARGV: [1] id, [2] due ms, [3] record rest.
-- Attempts restart at 0; the lease moves on so a claimer of the replaced job cannot finish
-- the new one.
local lease = 1
local previous = redis.call('HGET', KEYS[2], ARGV[1])
if previous then
  local _, previous_lease = job_split(previous)
  if not previous_lease then return job_corrupt(ARGV[1]) end
  lease = previous_lease + 1
end
redis.call('HSET', KEYS[2], ARGV[1], job_join(0, lease, ARGV[3]))
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
return lease
