-- Issue 13: the sweeper repairs one stranded letter, if it is still stranded when this
-- atomic step runs (the state read by the scan may have moved on meanwhile).
-- 'scheduled' but in neither the due nor the inflight set: due again at its send time
-- (nothing took it, so it cannot have been sent). 'queued'/'sending' without a lease: a
-- fresh lease until ARGV[2], so a worker still sending it has its whole lease and, if
-- none is, the reaper hands it on exactly as after any expired lease (begin_send's
-- 'retake' and 'handed_over' rules keep it from being sent twice).
-- KEYS[1] letter hash, KEYS[2] due zset, KEYS[3] inflight zset, KEYS[4] stats hash;
-- ARGV[1] letter id, ARGV[2] lease until (epoch), ARGV[3] now (epoch; for a send_at
-- stored as ISO text by an older version). Returns 'due', 'lease' or false.
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'scheduled' then
  if redis.call('ZSCORE', KEYS[2], ARGV[1]) or redis.call('ZSCORE', KEYS[3], ARGV[1]) then
    return false
  end
  local score = tonumber(redis.call('HGET', KEYS[1], 'send_at')) or tonumber(ARGV[3])
  redis.call('ZADD', KEYS[2], 'NX', score, ARGV[1])
  redis.call('HINCRBY', KEYS[4], 'swept|due', 1)
  return 'due'
end
if status == 'queued' or status == 'sending' then
  if redis.call('ZSCORE', KEYS[3], ARGV[1]) then
    return false
  end
  redis.call('ZADD', KEYS[3], 'NX', ARGV[2], ARGV[1])
  redis.call('HINCRBY', KEYS[4], 'swept|lease', 1)
  return 'lease'
end
return false
