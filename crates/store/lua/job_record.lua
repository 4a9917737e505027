-- Shared by the delay-queue scripts (prepended with concat!, not a script of its own).
-- A job record is "<attempt> <lease> <rest>", where <rest> ("<due ms> <topic length> <topic>
-- <body bytes>") is built and read only by RedisStore. The scripts rewrite the two leading
-- numbers and keep <rest> byte for byte, so the binary body never goes through a decoder.

-- Splits a record into attempt, lease and rest; nil when it is malformed.
local function job_split(record)
  local first = string.find(record, ' ', 1, true)
  if not first then return nil end
  local second = string.find(record, ' ', first + 1, true)
  if not second then return nil end
  local attempt = tonumber(string.sub(record, 1, first - 1))
  local lease = tonumber(string.sub(record, first + 1, second - 1))
  if not attempt or not lease then return nil end
  return attempt, lease, string.sub(record, second + 1)
end

local function job_join(attempt, lease, rest)
  return string.format('%d %d ', attempt, lease) .. rest
end

local function job_corrupt(id)
  return redis.error_reply('CORRUPT malformed delay-queue record for job ' .. id)
end
