-- Shared by the scripts that add to a leaderboard (prepended with concat!, not a script of its
-- own). See DESIGN.md "Leaderboards": the zset member carries an arrival sequence so that equal
-- totals read highest-first list the earliest arrival first.

-- Formats a score so that Redis reads back exactly the integer we computed (tostring would
-- switch to exponent notation above 1e14).
local function exact(number)
  return string.format('%.17g', number)
end

-- The largest total a score may reach (2^53 - 1, `livepk_store::MAX_SCORE`): Lua numbers and
-- zset scores are doubles, exact for integers up to there. The gift script refuses, before it
-- writes anything, a gift that would take a total past it.
local MAX_SCORE = 9007199254740991

-- `member`'s total on the board made of `board` and `members` now (0 when absent), and its
-- current zset member (nil when absent).
local function board_total_now(board, members, member)
  local previous = redis.call('HGET', members, member)
  if previous then
    local score = redis.call('ZSCORE', board, previous)
    if score then return tonumber(score), previous end
  end
  return 0, previous
end

-- Adds `delta` to `member` on the board made of `board`, `members` (member -> zset member) and
-- `seq` (arrival counter); returns the new total as a number and this add's arrival number
-- (1 when the board was just created). `known`, when given, is what board_total_now answered
-- for this board and member with nothing written to them since ({total, previous}): the add
-- then does not read them again.
local function board_add(board, members, seq, member, delta, known)
  local total, previous
  if known then
    total, previous = known[1], known[2]
  else
    total, previous = board_total_now(board, members, member)
  end
  total = total + tonumber(delta)
  local arrival = redis.call('INCR', seq)
  local encoded = string.format('%015d', 999999999999999 - arrival) .. ':' .. member
  -- Add before removing: removing the only entry first would delete the key, and with it the
  -- key's TTL, which the add would not restore.
  redis.call('ZADD', board, exact(total), encoded)
  if previous and previous ~= encoded then
    redis.call('ZREM', board, previous)
  end
  redis.call('HSET', members, member, encoded)
  return total, arrival
end
