-- Move a letter to a new status only if it is in one of the expected ones, and keep the
-- due and inflight sets, the case audit trail and the shared counters in step, all in
-- one atomic step.
-- KEYS[1] letter hash, KEYS[2] due zset, KEYS[3] inflight zset, KEYS[4] audit list,
-- KEYS[5] stats hash (counters for /metrics, shared by every process)
-- ARGV[1] id, ARGV[2] expected statuses ",a,b,", ARGV[3] new status,
-- ARGV[4] due score or '' (not due), ARGV[5] audit entry JSON,
-- ARGV[6] space-separated stats fields to increment by one, ARGV[7] due lag in seconds
-- (added to lag_sum) or '', ARGV[8] callback type or '' (issue 13), ARGV[9] callback item
-- prefix or '' (callbacks off), ARGV[10] ISO now, ARGV[11] epoch now, ARGV[12] callback
-- detail JSON, ARGV[13] how many field, value pairs follow for the letter, then those
-- pairs, then field, value pairs of a document; KEYS[6] the callback outbox zset.
-- Issue 16: with document pairs, KEYS[7] is the document hash, written whatever the
-- status (the letter went out), and KEYS[8] (its pending copy) deleted; never for a
-- missing letter: a purged one is not brought back.
local status = redis.call('HGET', KEYS[1], 'status')
if not status then
  return 'missing'
end
local doc = 14 + 2 * tonumber(ARGV[13])
if doc <= #ARGV then
  redis.call('HSET', KEYS[7], unpack(ARGV, doc))
  redis.call('DEL', KEYS[8])
end
if not string.find(ARGV[2], ',' .. status .. ',', 1, true) then
  return status
end
redis.call('HSET', KEYS[1], 'status', ARGV[3])
for i = 14, doc - 1, 2 do
  redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1])
end
redis.call('ZREM', KEYS[3], ARGV[1])
if ARGV[4] ~= '' then
  redis.call('ZADD', KEYS[2], ARGV[4], ARGV[1])
else
  redis.call('ZREM', KEYS[2], ARGV[1])
end
redis.call('RPUSH', KEYS[4], ARGV[5])
for stat in string.gmatch(ARGV[6], '%S+') do
  redis.call('HINCRBY', KEYS[5], stat, 1)
end
if ARGV[7] ~= '' then
  redis.call('HINCRBYFLOAT', KEYS[5], 'lag_sum', ARGV[7])
end
if ARGV[8] ~= '' then
  outbox_add(KEYS[1], KEYS[6], ARGV[9], ARGV[1], ARGV[8], ARGV[10], ARGV[11], ARGV[12])
end
return 'ok'
