-- An idempotency record on one Redis, where it may also be kept in a bucket (see
-- record_find.lua, prepended). Written records go to their own key; a write removes the
-- record's copies from its buckets, so that none outlives it there.
--
-- KEYS: [1] the record's own key, [2..4] its bucket hashes.
-- ARGV: [1] operation, [2] the record's field in the buckets, then:
--   'get'                              -> the record or nil
--   'claim' [3] value [4] ttl ms       -> the record already there (left as is), or nil after
--                                         creating it
--   'put'   [3] value [4] ttl ms       -> 1
--   'swap'  [3] expected [4] value [5] ttl ms -> 1 when the record held `expected` and now holds
--                                         `value`, else 0 (nothing written)
local operation, field = ARGV[1], ARGV[2]
local function write(value, ttl)
  redis.call('SET', KEYS[1], value, 'PX', ttl)
  for i = 2, 4 do
    redis.call('HDEL', KEYS[i], field)
  end
end
if operation == 'get' then
  return find_record(field)
elseif operation == 'claim' then
  local existing = find_record(field)
  if existing then
    return existing
  end
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
  return nil
elseif operation == 'put' then
  write(ARGV[3], ARGV[4])
  return 1
elseif operation == 'swap' then
  if find_record(field) == ARGV[3] then
    write(ARGV[4], ARGV[5])
    return 1
  end
  return 0
end
return redis.error_reply('record.lua: unknown operation ' .. tostring(operation))
