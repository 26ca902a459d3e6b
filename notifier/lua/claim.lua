-- Claim up to ARGV[3] letters due at ARGV[1]: move them from the due set to the inflight
-- set with a lease until ARGV[2], and mark them queued. Atomic, so any number of
-- dispatchers can run at once without claiming a letter twice.
-- An 'uncertain' letter that waited out its PKO_PostStatus is claimed to be resent with
-- the same ids (issue 12): it stays 'uncertain' (so nothing can cancel it) with 'resend'
-- set, which lets begin_send take it; 'resends' counts how often that happened.
-- KEYS[1] due zset, KEYS[2] inflight zset; ARGV[4] letter key prefix.
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local claimed = {}
for _, id in ipairs(ids) do
  redis.call('ZREM', KEYS[1], id)
  local key = ARGV[4] .. id
  local status = redis.call('HGET', key, 'status')
  if status == 'scheduled' or status == 'uncertain' then
    if status == 'uncertain' then
      redis.call('HSET', key, 'resend', '1')
      redis.call('HINCRBY', key, 'resends', 1)
    else
      redis.call('HSET', key, 'status', 'queued')
    end
    redis.call('ZADD', KEYS[2], ARGV[2], id)
    table.insert(claimed, id)
  end
end
return claimed
