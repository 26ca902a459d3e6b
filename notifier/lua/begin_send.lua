-- A worker takes a queued letter: queued -> sending, count the attempt, renew the lease.
-- Anything else (cancelled, sent, already sending elsewhere) is returned so the worker
-- skips it; past ARGV[3] attempts the letter is dead, so a crashing letter cannot loop.
-- KEYS[1] letter hash, KEYS[2] inflight zset, KEYS[3] stats hash (counters for /metrics),
-- KEYS[4] due zset; ARGV[1] id, ARGV[2] lease, ARGV[3] max attempts, ARGV[4] when an
-- uncertain letter is resent (due score); issue 13: KEYS[5] the callback outbox zset,
-- ARGV[5] callback item prefix or '' (callbacks off), ARGV[6] ISO now, ARGV[7] epoch now;
-- ARGV[8], ARGV[9] the audit entry of a letter dead from too many attempts (see there).
-- A 'sending' letter the reaper marked 'retake' (its worker died) is taken over only if
-- its request never left (no 'handed_over' mark): one that may have reached SF1601 turns
-- 'uncertain' instead and waits for its PKO_PostStatus until ARGV[4] (issue 12); the
-- caller that made it so gets attempts -1 (and writes the audit entry).
-- Issue 16: a take also returns the letter's fields and its case's JSON (ARGV[10] is the
-- case key prefix), so the worker needs no further round trip to start rendering; a take
-- that made the letter dead returns its fields.
local status = redis.call('HGET', KEYS[1], 'status')
local retake = status == 'sending' and redis.call('HGET', KEYS[1], 'retake') == '1'
local resend = status == 'uncertain' and redis.call('HGET', KEYS[1], 'resend') == '1'
if status ~= 'queued' and not retake and not resend then
  return {status or 'missing', 0}
end
redis.call('HDEL', KEYS[1], 'retake', 'resend')
if retake and redis.call('HEXISTS', KEYS[1], 'handed_over') == 1 then
  redis.call('HSET', KEYS[1], 'status', 'uncertain', 'last_error',
             'its worker died after the request left; awaiting its PKO_PostStatus')
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZADD', KEYS[4], ARGV[4], ARGV[1])
  local what = redis.call('HMGET', KEYS[1], 'kind', 'channel')
  redis.call('HINCRBY', KEYS[3], 'uncertain|' .. what[1] .. '|' .. what[2], 1)
  return {'uncertain', -1}
end
local attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
if attempts > tonumber(ARGV[3]) then
  redis.call('HSET', KEYS[1], 'status', 'dead', 'reason', 'too many attempts')
  redis.call('ZREM', KEYS[2], ARGV[1])
  local what = redis.call('HMGET', KEYS[1], 'kind', 'channel')
  redis.call('HINCRBY', KEYS[3], 'dead|' .. what[1] .. '|' .. what[2], 1)
  outbox_add(KEYS[1], KEYS[5], ARGV[5], ARGV[1], 'letter.dead', ARGV[6], ARGV[7],
             '{"reason":"too many attempts"}')
  -- Issue 13: its audit entry, like every other way to dead. ARGV[8] is the audit key
  -- prefix, ARGV[9] the entry's JSON up to the kind's value (a catalog identifier).
  if ARGV[8] and ARGV[8] ~= '' then
    local case_id = redis.call('HGET', KEYS[1], 'case_id')
    redis.call('RPUSH', ARGV[8] .. case_id, ARGV[9] .. what[1] .. '"}')
  end
  -- The letter as this take left it: its alert is derived from it (retries included).
  return {'dead', attempts, redis.call('HGETALL', KEYS[1])}
end
redis.call('HSET', KEYS[1], 'status', 'sending')
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
local case = false
if ARGV[10] and ARGV[10] ~= '' then
  case = redis.call('GET', ARGV[10] .. redis.call('HGET', KEYS[1], 'case_id'))
end
return {'sending', attempts, redis.call('HGETALL', KEYS[1]), case}
