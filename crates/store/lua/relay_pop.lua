-- Second half of relay_outbox, on the outbox's tag: removes from the head each relayed entry
-- that is still there, then returns the next batch. An entry is only popped when the head is
-- the very entry relayed (ids are unique), so a concurrent relay that already popped it, or
-- entries pushed meanwhile, are never dropped unrelayed.
-- KEYS: [1] outbox list. ARGV: [1] batch size, then the 32-char ids relayed, in order.
for i = 2, #ARGV do
  local head = redis.call('LINDEX', KEYS[1], 0)
  if head and string.sub(head, 1, 32) == ARGV[i] then
    redis.call('LPOP', KEYS[1])
  end
end
return redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1)
