-- Issue 13: claim up to ARGV[3] callback items due at ARGV[1] for sending: their score
-- moves to the lease ARGV[2], so a sender that dies leaves them due again then (at least
-- once; the receiver de-duplicates on webhook-id). Atomic, so dispatchers never share one.
-- KEYS[1] the callback outbox zset.
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do
  redis.call('ZADD', KEYS[1], 'XX', ARGV[2], id)
end
return ids
