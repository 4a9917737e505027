-- A gift that scores in one PK, on one Redis (not a cluster: the gift's record and the PK live
-- under different tags): the ledger's three steps — claim the record, apply the step, mark the
-- record done — in one script (issue 15: one round trip instead of three). Prepended with
-- board_add.lua and apply_score.lua, the latter wrapped as the function apply_score().
--
-- KEYS: [1] the gift's record, then apply_score's keys.
-- ARGV: [1] the pending record, [2] the record's ttl ms, [3] the done record's head (the done
--       record is the head followed by the PK's answer), then apply_score's arguments.
-- Returns {'exists', record} when the record was there (nothing else is done), else what
-- apply_score returns; the record then holds the done record after 'ok' or 'dup', and the
-- pending record after any other answer (as the three steps would leave it).
local existing = redis.call('GET', KEYS[1])
if existing then
  return {'exists', existing}
end
local record_key = table.remove(KEYS, 1)
local pending = table.remove(ARGV, 1)
local record_ttl = table.remove(ARGV, 1)
local done_head = table.remove(ARGV, 1)
local reply = apply_score()
if reply[1] == 'ok' or reply[1] == 'dup' then
  redis.call('SET', record_key, done_head .. reply[2], 'PX', record_ttl)
else
  redis.call('SET', record_key, pending, 'PX', record_ttl)
end
return reply
