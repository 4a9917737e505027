-- Copies a leaderboard onto another in the same tag, all three parts so ties keep their order;
-- the target is replaced entirely (see DESIGN.md "Leaderboards").
-- KEYS: [1..3] source board, board:m, board:seq; [4..6] the same for the target.
-- ARGV: [1] ttl ms applied to the three target keys.
for i = 1, 3 do
  local source, target = KEYS[i], KEYS[i + 3]
  if source ~= target then
    if redis.call('EXISTS', source) == 1 then
      redis.call('COPY', source, target, 'REPLACE')
    else
      redis.call('DEL', target)
    end
  end
  redis.call('PEXPIRE', target, ARGV[1])
end
return 1
