-- A gift that scores in one PK, on one Redis (not a cluster: the gift's record and the PK live
-- under different tags): the ledger's three steps — claim the record, apply the step, mark the
-- record done — in one script (issue 15: one round trip instead of three). Prepended with
-- board_add.lua, apply_score.lua wrapped as the function apply_score(keep_counted), and
-- record_find.lua.
--
-- KEYS: [1] the gift's record, [2..4] its bucket hashes (its time slot first, see
--       record_find.lua), then apply_score's keys.
-- ARGV: [1] the record's field in the buckets, [2] the pending record, [3] the record's ttl ms,
--       [4] the slot's bucket's ttl ms (from now), [5] the done record's head (the done
--       record is the head followed by the PK's answer), then apply_score's arguments.
-- Returns {'exists', record} when the record was there (nothing else is done), else what
-- apply_score returns; the record then holds the done record after 'ok' or 'dup', and the
-- pending record after any other answer (as the three steps would leave it).
--
-- Memory (issue 15): the done record is kept as a field of the slot's bucket hash (about 50
-- bytes in a listpack, where a key of its own costs about 150), and a gift counted here leaves
-- no answer in the PK's txns: claimed, counted and recorded in one atomic step, the record is
-- the only trace a retry needs, for as long as it lives (the retry horizon).
local existing = find_record(ARGV[1])
if existing then
  return {'exists', existing}
end
local record_key = table.remove(KEYS, 1)
local bucket = table.remove(KEYS, 1)
table.remove(KEYS, 1)
table.remove(KEYS, 1)
local field = table.remove(ARGV, 1)
local pending = table.remove(ARGV, 1)
local record_ttl = table.remove(ARGV, 1)
local bucket_ttl = table.remove(ARGV, 1)
local done_head = table.remove(ARGV, 1)
local reply = apply_score(false)
if reply[1] == 'ok' or reply[1] == 'dup' then
  -- The PK's answer without the guard version a guarded count adds (score_answer's form).
  local answer = string.match(reply[2], '^[^|]*|[^|]*|[^|]*')
  redis.call('HSET', bucket, field, done_head .. answer)
  redis.call('PEXPIRE', bucket, bucket_ttl)
else
  redis.call('SET', record_key, pending, 'PX', record_ttl)
end
return reply
