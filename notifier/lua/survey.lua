-- Issue 13: one step of the sweeper's survey of every letter, on the server: SCAN from
-- cursor ARGV[1] (ARGV[3] keys matching ARGV[2]) and return only the letters an operator
-- must know about (dead, held, uncertain) or that are stranded (scheduled in neither the
-- due nor the inflight set; queued/sending without a lease), so that a survey of a
-- million letters moves a few ids, not a million replies. Read-only.
-- KEYS[1] due zset, KEYS[2] inflight zset; ARGV[4] length of the letter key prefix.
-- Returns {next cursor, ids found, letters scanned}.
local reply = redis.call('SCAN', ARGV[1], 'MATCH', ARGV[2], 'COUNT', tonumber(ARGV[3]))
local found = {}
local scanned = 0
for _, key in ipairs(reply[2]) do
  local status = redis.call('HGET', key, 'status')
  if status then
    scanned = scanned + 1
    local id = string.sub(key, tonumber(ARGV[4]) + 1)
    local take = status == 'dead' or status == 'held' or status == 'uncertain'
    if status == 'scheduled' then
      take = not redis.call('ZSCORE', KEYS[1], id) and not redis.call('ZSCORE', KEYS[2], id)
    elseif status == 'queued' or status == 'sending' then
      take = not redis.call('ZSCORE', KEYS[2], id)
    end
    if take then
      table.insert(found, id)
    end
  end
end
return {reply[1], found, scanned}
