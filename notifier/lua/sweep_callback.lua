-- Issue 13: the sweeper puts a callback item back in the outbox's due set if it is
-- neither delivered nor dead and in neither set (a crash or a bug dropped its entry).
-- At least once, as ever: the receiver de-duplicates on webhook-id.
-- KEYS[1] item hash, KEYS[2] callbacks:due, KEYS[3] callbacks:dead, KEYS[4] stats hash;
-- ARGV[1] item id, ARGV[2] now (epoch). Returns 'due' or false.
if redis.call('EXISTS', KEYS[1]) == 0
    or redis.call('HEXISTS', KEYS[1], 'delivered_at') == 1
    or redis.call('HEXISTS', KEYS[1], 'dead_at') == 1
    or redis.call('ZSCORE', KEYS[2], ARGV[1]) or redis.call('ZSCORE', KEYS[3], ARGV[1]) then
  return false
end
redis.call('ZADD', KEYS[2], 'NX', ARGV[2], ARGV[1])
redis.call('HINCRBY', KEYS[4], 'swept|callback', 1)
return 'due'
