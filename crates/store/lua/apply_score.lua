-- Applies one gift to one PK, once per txn id (see DESIGN.md "ScoreApply"). Prepended with
-- board_add.lua.
--
-- KEYS: [1] window hash, [2] txns hash, then one hash per counter, then three keys per board
--       (board, board:m, board:seq), then one hash per written field, then (only when guarded)
--       the guard's aggregate, then the previous battle's txns hash (txns:prev).
-- ARGV: [1] txn id, [2] sent_at ms, [3] ttl ms, [4] counter count, [5] board count,
--       [6] the guard's version ('' when the gift has no guard),
--       [7] the gift's fingerprint (16 hex digits, '' when it has none),
--       [8] how many answers txns holds before it is set aside as txns:prev,
--       then <field> <delta> per counter, then <member> <delta> per board, then
--       <field> <value> per written field (their count is what remains of KEYS).
-- `keep_counted` (set by the including file): false when a counted answer is not to be kept in
-- txns (gift_one.lua keeps it in the gift's record instead).
-- Returns {'dup', record} | {'out'} | {'ok', record} | {'moved'} | {'reused'} | {'over'},
-- record = "<epoch>|<c1>,..|<b1>,..", then "|<guard version>" when it counted under a guard;
-- txns holds each txn id's record, or 'out' when it was judged outside the window, followed by
-- "#<fingerprint>" when the gift had one; txns:prev the same for the tag's previous battle (set
-- aside by a reset, or when txns was full), whose answers still stand. 'reused': the txn id was
-- answered for a gift with another fingerprint; 'over': a total would pass MAX_SCORE. Neither
-- writes anything.

local guard_version = ARGV[6]
local guarded = guard_version ~= ''
local fingerprint = ARGV[7]
-- A stored answer and the fingerprint of the gift it was given to (nil for older answers).
local function split(stored)
  local answer, print = string.match(stored, '^(.*)#(%x+)$')
  if answer then
    return answer, print
  end
  return stored, nil
end
local function reused(print)
  return fingerprint ~= '' and print ~= nil and print ~= fingerprint
end

local stored = redis.call('HGET', KEYS[2], ARGV[1])
if stored then
  local record, print = split(stored)
  if reused(print) then
    return {'reused'}
  end
  if record == 'out' then
    return {'out'}
  end
  -- Counted under another guard: the caller holds a credit that did not count (its answer
  -- would name the wrong side), so it must look again.
  local counted_under = string.match(record, '^[^|]*|[^|]*|[^|]*|(%d+)$')
  if guarded and counted_under and counted_under ~= guard_version then
    return {'moved'}
  end
  return {'dup', record}
end
-- The previous battle's answer stands as it was, whatever the guard (that battle is over).
stored = redis.call('HGET', KEYS[#KEYS], ARGV[1])
if stored then
  local previous, print = split(stored)
  if reused(print) then
    return {'reused'}
  end
  if previous == 'out' then
    return {'out'}
  end
  return {'dup', previous}
end

-- Writes this gift's answer. txns holds at most ARGV[8] answers: a full one is set aside as
-- txns:prev first (replacing the answers set aside before), so a tag that sees gift after gift
-- (a link session across its PKs) keeps the latest ones, not all (DESIGN.md "ScoreApply").
local function remember(answer, refresh)
  if fingerprint ~= '' then
    answer = answer .. '#' .. fingerprint
  end
  local held = redis.call('HLEN', KEYS[2])
  if held >= tonumber(ARGV[8]) then
    redis.call('RENAME', KEYS[2], KEYS[#KEYS])
    refresh = true
  elseif held == 0 then
    -- A new txns (gifts counted by gift_one.lua leave none, so it may be created by a gift
    -- that creates no board).
    refresh = true
  end
  redis.call('HSET', KEYS[2], ARGV[1], answer)
  if refresh then
    redis.call('PEXPIRE', KEYS[2], ARGV[3])
  end
end

-- An outside answer is as final as a count: it is recorded too, so a later call of the same
-- gift answers the same even if the window has moved to cover the gift's time meanwhile
-- (AddTime after a late gift, a window reopened by a concurrent commit).
local function outside()
  remember('out', true)
  return {'out'}
end
local window = redis.call('HMGET', KEYS[1], 'open', 'from', 'until', 'epoch')
local function whole(text)
  return text and string.match(text, '^%d+$') ~= nil
end
if window[1] ~= '1' or not whole(window[2]) or not whole(window[3]) or not whole(window[4]) then
  return outside()
end
local sent_at = tonumber(ARGV[2])
if sent_at < tonumber(window[2]) or sent_at >= tonumber(window[3]) then
  return outside()
end
-- The guard: the aggregate the credit was decided on is still at the version it was read at
-- (versions are only ever written by HINCRBY, so their decimal strings compare exactly).
-- Nothing is recorded: the caller decides again and applies that.
if guarded and (redis.call('HGET', KEYS[#KEYS - 1], 'v') or '0') ~= guard_version then
  return {'moved'}
end

-- Every total this gift moves must stay an exact integer (|total| <= MAX_SCORE): checked for
-- all of them before anything is written, so a refused gift changes nothing. A gift may move
-- one total twice (two counters on one field, one member twice on one board): each check starts
-- from what the gift's earlier moves would have made of it (`after`).
local counter_count = tonumber(ARGV[4])
local board_count = tonumber(ARGV[5])
local first_board_arg = 9 + 2 * counter_count
local function beyond(total)
  return total > MAX_SCORE or total < -MAX_SCORE
end
local after = {}
for i = 1, counter_count do
  local slot = KEYS[2 + i] .. '\0' .. ARGV[7 + 2 * i]
  local now = after[slot] or tonumber(redis.call('HGET', KEYS[2 + i], ARGV[7 + 2 * i]) or '0')
  local delta = tonumber(ARGV[8 + 2 * i])
  if not now or beyond(delta) or beyond(now + delta) then
    return {'over'}
  end
  after[slot] = now + delta
end
-- What each board's check read, for its add (kept only for the first board on a key: a later
-- add to the same board must read what the earlier one wrote).
local known = {}
for i = 1, board_count do
  local base = 2 + counter_count + 3 * (i - 1)
  local member = ARGV[first_board_arg + 2 * (i - 1)]
  local delta = tonumber(ARGV[first_board_arg + 2 * (i - 1) + 1])
  local slot = KEYS[base + 1] .. '\0' .. member
  local now, previous = after[slot], nil
  if not now then
    now, previous = board_total_now(KEYS[base + 1], KEYS[base + 2], member)
  end
  if beyond(delta) or beyond(now + delta) then
    return {'over'}
  end
  after[slot] = now + delta
  local shared = false
  for j = 1, i - 1 do
    if KEYS[2 + counter_count + 3 * (j - 1) + 1] == KEYS[base + 1] then
      shared = true
    end
  end
  if not shared then
    known[i] = {now, previous}
  end
end

-- TTLs: a key gets `ttl` when this gift creates it, and every key the gift touches is given
-- `ttl` again every REFRESH_EVERY arrivals on a board (always, for a gift without a board). A
-- PEXPIRE per key per gift was a third of the script's cost; a PK's keys are meant to outlive
-- the PK many times over, so refreshing now and then is enough.
local REFRESH_EVERY = 64
local ttl = ARGV[3]
local refresh = board_count == 0
local boards = {}
for i = 1, board_count do
  local base = 2 + counter_count + 3 * (i - 1)
  local total, arrival = board_add(KEYS[base + 1], KEYS[base + 2], KEYS[base + 3],
    ARGV[first_board_arg + 2 * (i - 1)], ARGV[first_board_arg + 2 * (i - 1) + 1], known[i])
  if arrival == 1 or arrival % REFRESH_EVERY == 0 then
    refresh = true
  end
  boards[i] = exact(total)
end
if refresh then
  for i = 1, board_count do
    local base = 2 + counter_count + 3 * (i - 1)
    redis.call('PEXPIRE', KEYS[base + 1], ttl)
    redis.call('PEXPIRE', KEYS[base + 2], ttl)
    redis.call('PEXPIRE', KEYS[base + 3], ttl)
  end
end

local counters = {}
for i = 1, counter_count do
  local key = KEYS[2 + i]
  local delta = ARGV[8 + 2 * i]
  local value = redis.call('HINCRBY', key, ARGV[7 + 2 * i], delta)
  -- value == delta: the field is new, and the hash may be too.
  if refresh or value == tonumber(delta) then
    redis.call('PEXPIRE', key, ttl)
  end
  -- %d, not tostring: Lua would print large integers in exponent notation.
  counters[i] = string.format('%d', value)
end

local first_field_key = 3 + counter_count + 3 * board_count
local first_field_arg = first_board_arg + 2 * board_count
local last_field_key = #KEYS - 1
if guarded then
  last_field_key = last_field_key - 1
end
for i = 0, last_field_key - first_field_key do
  local key = KEYS[first_field_key + i]
  -- HSET answers 1 for a new field (in a hash that may be new too).
  local added = redis.call('HSET', key, ARGV[first_field_arg + 2 * i], ARGV[first_field_arg + 2 * i + 1])
  if refresh or added == 1 then
    redis.call('PEXPIRE', key, ttl)
  end
end

local record = window[4] .. '|' .. table.concat(counters, ',') .. '|' .. table.concat(boards, ',')
if guarded then
  record = record .. '|' .. guard_version
end
-- txns keeps the answer, renewed at every refresh (`remember` gives a new or set-aside one its
-- TTL). Not when the caller keeps it itself (`keep_counted` false: gift_one.lua, whose record,
-- written in the same step, answers every retry).
if keep_counted then
  remember(record, refresh)
end
return {'ok', record}
