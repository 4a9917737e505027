-- Claims up to a number of due jobs of one bucket. Prepended with job_record.lua.
-- KEYS: [1] due zset, [2] jobs hash. ARGV: [1] now ms, [2] limit, [3] re-delivery ms.
-- Each claimed job gets attempt + 1 and lease + 1 and is hidden until the re-delivery time;
-- it is due again then unless finished. Returns flat triples {id, queued ms, record}.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'WITHSCORES', 'LIMIT', 0, ARGV[2])
local claimed = {}
for i = 1, #due, 2 do
  local id = due[i]
  local record = redis.call('HGET', KEYS[2], id)
  if record then
    local attempt, lease, rest = job_split(record)
    if not attempt then return job_corrupt(id) end
    record = job_join(attempt + 1, lease + 1, rest)
    redis.call('HSET', KEYS[2], id, record)
    redis.call('ZADD', KEYS[1], ARGV[3], id)
    claimed[#claimed + 1] = id
    claimed[#claimed + 1] = due[i + 1]
    claimed[#claimed + 1] = record
  else
    -- A due entry without a record cannot be delivered; drop it rather than return it forever.
    redis.call('ZREM', KEYS[1], id)
  end
end
return claimed
