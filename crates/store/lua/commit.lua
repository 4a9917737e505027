-- Applies one Transaction atomically (see DESIGN.md "Aggregates").
--
-- KEYS: the distinct keys the transaction touches, all in one hash tag.
-- ARGV: <condition count>, then per condition <key index> <expected version>,
--       then the ops until the end, each an opcode followed by its arguments:
--   P <k> <value> <ttl ms or "">          put aggregate (HINCRBY v 1, HSET d, PEXPIRE / PERSIST)
--   D <k>                                 delete aggregate
--   Z <k> <member> <score> <ttl ms or ""> ZADD (+ PEXPIRE when a ttl is given)
--   R <k> <member>                        ZREM
--   H <k> <field count> <f> <v>... <ttl ms or "">  HSET (+ PEXPIRE when a ttl is given)
--   K <k>                                 delete key
--   B <k> <k:m> <k:seq>                   delete a leaderboard's three keys
--   N <k> <k2>                            RENAME k k2 when k exists (its TTL goes with it)
--   O <k> <count> <entry>...              RPUSH outbox entries (id + payload, built by the caller)
-- Returns {1} when committed, {0, <condition index>, <actual version>} on a conflict, or an
-- error reply "CORRUPT ..." when a key holds another type (checked before anything is written,
-- because Redis does not roll back a script that fails half way).

local position = 1
local function take()
  local value = ARGV[position]
  position = position + 1
  return value
end

local condition_count = tonumber(take())
for condition = 1, condition_count do
  local key = KEYS[tonumber(take())]
  local expected = take()
  -- Versions are only ever written by HINCRBY, so their decimal strings compare exactly.
  local actual = redis.call('HGET', key, 'v') or '0'
  if actual ~= expected then
    return {0, condition, actual}
  end
end

-- Decode every op first, so that the type check below sees the whole transaction.
local ops = {}
while position <= #ARGV do
  local code = take()
  local op = {code = code, key = tonumber(take())}
  if code == 'P' then
    op.value = take(); op.ttl = take()
  elseif code == 'Z' then
    op.member = take(); op.score = take(); op.ttl = take()
  elseif code == 'R' then
    op.member = take()
  elseif code == 'H' then
    local count = tonumber(take())
    op.fields = {}
    for i = 1, count * 2 do op.fields[i] = take() end
    op.ttl = take()
  elseif code == 'B' then
    op.members = tonumber(take()); op.seq = tonumber(take())
  elseif code == 'N' then
    op.to = tonumber(take())
  elseif code == 'O' then
    local count = tonumber(take())
    op.entries = {}
    for i = 1, count do op.entries[i] = take() end
  elseif code ~= 'D' and code ~= 'K' then
    return redis.error_reply('ERR unknown transaction opcode ' .. tostring(code))
  end
  ops[#ops + 1] = op
end

-- Type check, following the types the ops themselves give the keys.
local types = {}
local function type_of(index)
  if types[index] == nil then
    types[index] = redis.call('TYPE', KEYS[index])['ok']
  end
  return types[index]
end
local wanted = {P = 'hash', Z = 'zset', R = 'zset', H = 'hash', O = 'list'}
for _, op in ipairs(ops) do
  local want = wanted[op.code]
  if want then
    local have = type_of(op.key)
    if have ~= 'none' and have ~= want then
      return redis.error_reply('CORRUPT ' .. KEYS[op.key] .. ' holds a ' .. have .. ', not a ' .. want)
    end
    if op.code ~= 'R' then types[op.key] = want end
  elseif op.code == 'B' then
    types[op.key] = 'none'; types[op.members] = 'none'; types[op.seq] = 'none'
  elseif op.code == 'N' then
    -- k2 takes k's type when k exists (else keeps its own): unknown until asked again.
    types[op.to] = nil; types[op.key] = 'none'
  else
    types[op.key] = 'none'
  end
end

for _, op in ipairs(ops) do
  local key = KEYS[op.key]
  if op.code == 'P' then
    redis.call('HINCRBY', key, 'v', 1)
    redis.call('HSET', key, 'd', op.value)
    if op.ttl ~= '' then redis.call('PEXPIRE', key, op.ttl) else redis.call('PERSIST', key) end
  elseif op.code == 'D' or op.code == 'K' then
    redis.call('DEL', key)
  elseif op.code == 'Z' then
    redis.call('ZADD', key, op.score, op.member)
    if op.ttl ~= '' then redis.call('PEXPIRE', key, op.ttl) end
  elseif op.code == 'R' then
    redis.call('ZREM', key, op.member)
  elseif op.code == 'H' then
    if #op.fields > 0 then
      redis.call('HSET', key, unpack(op.fields))
      if op.ttl ~= '' then redis.call('PEXPIRE', key, op.ttl) end
    end
  elseif op.code == 'B' then
    redis.call('DEL', key, KEYS[op.members], KEYS[op.seq])
  elseif op.code == 'N' then
    if redis.call('EXISTS', key) == 1 then redis.call('RENAME', key, KEYS[op.to]) end
  elseif op.code == 'O' then
    -- One RPUSH per entry: unpack() of a long list could exceed Lua's C stack.
    for _, entry in ipairs(op.entries) do redis.call('RPUSH', key, entry) end
  end
end
return {1}
