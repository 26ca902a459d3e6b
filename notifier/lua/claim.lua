-- Claim up to ARGV[3] letters due at ARGV[1]: move them from the due set to the inflight
-- set with a lease until ARGV[2], and mark them queued. Atomic, so any number of
-- dispatchers can run at once without claiming a letter twice.
-- KEYS[1] due zset, KEYS[2] inflight zset; ARGV[4] letter key prefix.
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local claimed = {}
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  local key = ARGV[4] .. id
  if redis.call('HGET', key, 'status') == 'scheduled' then
    redis.call('HSET', key, 'status', 'queued')
    redis.call('ZADD', KEYS[2], ARGV[2], id)
    table.insert(claimed, id)
  end
end
return claimed
