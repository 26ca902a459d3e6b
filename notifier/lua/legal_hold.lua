-- Issue 14a: put a legal hold on a case, or lift it, with its audit entry, in one step
-- that checks the case is still there: a hold set at the moment of a purge must not leave
-- a hold (or an audit list) behind for a case that is gone.
-- KEYS[1] the case, KEYS[2] its hold hash, KEYS[3] its audit list.
-- ARGV[1] 'set' or 'lift', ARGV[2] the audit entry JSON; for 'set': ARGV[3] by,
-- ARGV[4] reason, ARGV[5] at. Returns 1 if changed, 0 if already so, 'missing' if the
-- case is gone (nothing written).
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 'missing'
end
if ARGV[1] == 'set' then
  if redis.call('EXISTS', KEYS[2]) == 1 then
    return 0
  end
  redis.call('HSET', KEYS[2], 'by', ARGV[3], 'reason', ARGV[4], 'at', ARGV[5])
elseif redis.call('DEL', KEYS[2]) == 0 then
  return 0
end
redis.call('RPUSH', KEYS[3], ARGV[2])
return 1
