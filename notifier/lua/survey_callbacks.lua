-- Issue 13: one step of the sweeper's survey of callback items, on the server: SCAN from
-- cursor ARGV[1] (ARGV[3] keys matching ARGV[2]) and return the items neither delivered
-- nor dead and in neither outbox set (stranded). Read-only.
-- KEYS[1] callbacks:due, KEYS[2] callbacks:dead; ARGV[4] length of the item key prefix.
-- Returns {next cursor, item ids found}.
local reply = redis.call('SCAN', ARGV[1], 'MATCH', ARGV[2], 'COUNT', tonumber(ARGV[3]))
local found = {}
for _, key in ipairs(reply[2]) do
  local id = string.sub(key, tonumber(ARGV[4]) + 1)
  if redis.call('HEXISTS', key, 'delivered_at') == 0 and redis.call('HEXISTS', key, 'dead_at') == 0
      and not redis.call('ZSCORE', KEYS[1], id) and not redis.call('ZSCORE', KEYS[2], id) then
    table.insert(found, id)
  end
end
return {reply[1], found}
