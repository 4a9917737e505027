-- Where a record is found on one Redis (DESIGN.md "Idempotency records"): at its own key
-- KEYS[1], or, for a gift record claim_and_score left done, as field `field` of one of its
-- bucket hashes KEYS[2..4] (its time slot, the next, the previous: writers whose clocks differ
-- by less than a slot still find each other's). Its own key shadows the buckets.
local function find_record(field)
  local value = redis.call('GET', KEYS[1])
  if value then
    return value
  end
  for i = 2, 4 do
    value = redis.call('HGET', KEYS[i], field)
    if value then
      return value
    end
  end
  return nil
end
