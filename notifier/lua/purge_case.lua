-- Issue 14a: purge one archived case, all or nothing, only if nothing changed since it was
-- archived and it is still purgeable; otherwise delete nothing and say why.
-- KEYS[1] case, [2] its letter index, [3] its audit list, [4] its legal hold, [5] due,
-- [6] inflight, [7] callbacks:due, [8] callbacks:dead, [9] stats, [10] retention:purged,
-- [11] its access log, [12..] the other keys it owns (letters, documents, callback items,
-- events).
-- ARGV[1] the case JSON as archived, [2] audit length, [3] access log length (-1: none),
-- [4] case id, [5] tombstone JSON, [6] letter key prefix, [7] callback item key prefix,
-- [8] letter count, [9] final statuses "a,b,c", [10] the stats field counting purges,
-- [11..] per letter: id, status, callbacks count, receipt status, hash length.
if redis.call('EXISTS', KEYS[4]) == 1 then
  return 'legal hold'
end
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 'the case changed since it was archived'
end
if redis.call('LLEN', KEYS[3]) ~= tonumber(ARGV[2]) then
  return 'its audit trail grew since it was archived'
end
local access = tonumber(ARGV[3])
if access < 0 then access = 0 end
if redis.call('LLEN', KEYS[11]) ~= access then
  return 'its access log grew since it was archived'
end
local count = tonumber(ARGV[8])
if redis.call('ZCARD', KEYS[2]) ~= count then
  return 'its letters changed since it was archived'
end
local final = ',' .. ARGV[9] .. ','
local letters = {}
local items = {}
for i = 0, count - 1 do
  local base = 11 + i * 5
  local id = ARGV[base]
  local key = ARGV[6] .. id
  local state = redis.call('HMGET', key, 'status', 'callbacks', 'receipt_status')
  if not redis.call('ZSCORE', KEYS[2], id) or state[1] ~= ARGV[base + 1]
      or (state[2] or '0') ~= ARGV[base + 2] or (state[3] or '') ~= ARGV[base + 3]
      or redis.call('HLEN', key) ~= tonumber(ARGV[base + 4]) then
    return 'letter ' .. id .. ' changed since it was archived'
  end
  if not string.find(final, ',' .. state[1] .. ',', 1, true) then
    return 'letter ' .. id .. ' is ' .. state[1]
  end
  for seq = 1, tonumber(ARGV[base + 2]) do
    local item = id .. '.' .. seq
    if redis.call('ZSCORE', KEYS[7], item) then
      return 'callback ' .. item .. ' is still to be sent'
    end
    table.insert(items, item)
  end
  table.insert(letters, id)
end
for _, id in ipairs(letters) do
  redis.call('ZREM', KEYS[5], id)
  redis.call('ZREM', KEYS[6], id)
end
for _, item in ipairs(items) do
  redis.call('ZREM', KEYS[8], item)
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[11])
for i = 12, #KEYS do
  redis.call('DEL', KEYS[i])
end
redis.call('HSET', KEYS[10], ARGV[4], ARGV[5])
redis.call('HINCRBY', KEYS[9], ARGV[10], 1)
return 'ok'
