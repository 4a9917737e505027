-- First half of relay_outbox, on the `events` tag: appends each outbox entry to the stream
-- unless its id was appended before (by a concurrent or an interrupted relay).
-- KEYS: [1] seen zset, [2] stream. ARGV: [1] now ms, [2] forget ids appended at or before this
-- ms, [3] stream retention, then the entries (32 hex chars of id, then the payload).
-- Returns how many entries it appended. `seen` keeps at most as many ids as the stream keeps
-- entries (ARGV[3], the newest), and none older than ARGV[2] (DESIGN.md "Events").
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
local appended = 0
for i = 4, #ARGV do
  local entry = ARGV[i]
  if #entry < 32 then
    return redis.error_reply('CORRUPT outbox entry without an id')
  end
  if redis.call('ZADD', KEYS[1], 'NX', ARGV[1], string.sub(entry, 1, 32)) == 1 then
    redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'p', string.sub(entry, 33))
    appended = appended + 1
  end
end
if appended > 0 then
  redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -(tonumber(ARGV[3]) + 1))
end
return appended
