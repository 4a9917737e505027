-- Marks a tag's outbox as possibly holding events, scored by Redis's own clock (ms) so that
-- the sweeper, which forgets marks by the same clock, never compares two replicas' clocks.
-- KEYS: [1] the index zset. ARGV: [1] the tag.
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('ZADD', KEYS[1], string.format('%d', ms), ARGV[1])
return ms
