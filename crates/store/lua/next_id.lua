-- Next value of a counter, above a floor the caller knows was used already (DESIGN.md
-- "Counters"): a counter reset by a data loss never hands out an id again.
-- KEYS: [1] counter. ARGV: [1] floor (an integer below 2^53). Returns the new value.
local id = redis.call('INCR', KEYS[1])
if id <= tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1])
  id = redis.call('INCR', KEYS[1])
end
return id
