-- Issue 13: an operator retries a dead letter under its own id: dead -> scheduled, due
-- at once, its attempts counted from zero again, with an audit entry naming who. Only a
-- letter that is dead when this runs is moved, so a repeated request changes nothing.
-- 'retries' counts these, so a letter that dies again alerts its caseworker again.
-- KEYS[1] letter hash, KEYS[2] due zset, KEYS[3] audit list, KEYS[4] stats hash;
-- ARGV[1] letter id, ARGV[2] now (epoch), ARGV[3] audit entry JSON, ARGV[4] who.
-- Returns 'ok', or the status the letter has ('missing' if none).
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'dead' then
  return status or 'missing'
end
local reason = redis.call('HGET', KEYS[1], 'reason') or ''
redis.call('HSET', KEYS[1], 'status', 'scheduled', 'attempts', '0', 'send_at', ARGV[2],
           'retried_by', ARGV[4], 'last_error', 'dead before: ' .. reason)
redis.call('HDEL', KEYS[1], 'reason', 'retake', 'resend')
redis.call('HINCRBY', KEYS[1], 'retries', 1)
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('RPUSH', KEYS[3], ARGV[3])
redis.call('HINCRBY', KEYS[4], 'retried_dead', 1)
return 'ok'
