-- Re-queue letters whose lease expired before ARGV[1] (a dispatcher or worker died
-- between claim and record): they get a fresh lease until ARGV[2] and go out again with
-- the same letter id. Letters already final just leave the inflight set.
-- A 'sending' letter may already have reached its channel (its worker died after the
-- handover), so it stays 'sending' -- no event may cancel what may have gone out -- and is
-- marked 'retake' so that begin_send lets the next worker take it over.
-- KEYS[1] inflight zset; ARGV[3] limit, ARGV[4] letter key prefix.
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local requeued = {}
for _, id in ipairs(ids) do
  local key = ARGV[4] .. id
  local status = redis.call('HGET', key, 'status')
  local resend = status == 'uncertain' and redis.call('HGET', key, 'resend') == '1'
  if status == 'queued' or status == 'sending' or resend then
    if status == 'sending' then
      redis.call('HSET', key, 'retake', '1')
    end
    redis.call('ZADD', KEYS[1], ARGV[2], id)
    table.insert(requeued, id)
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return requeued
