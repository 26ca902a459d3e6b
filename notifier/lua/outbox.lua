-- Issue 13: the callback outbox. Prepended to the scripts that change a letter's status
-- (store/keys.py composes them), so a status change and its callback are one atomic step.
-- Writes one outbound item: the letter's callback counter (its per-letter sequence), a
-- hash per item and the item in the outbox zset, due at once. A caseworker's alert is
-- internal mail, not a document sent to a party: it gets no callback. Returns the item
-- id, or false when nothing was written.
-- letter_key: the letter hash; due_key: the outbox zset; prefix: the item key prefix.
local function outbox_add(letter_key, due_key, prefix, letter_id, kind, at, now, detail)
  if prefix == '' or redis.call('HGET', letter_key, 'recipient') == 'caseworker' then
    return false
  end
  local seq = redis.call('HINCRBY', letter_key, 'callbacks', 1)
  local item = letter_id .. '.' .. seq
  redis.call('HSET', prefix .. item, 'type', kind, 'letter_id', letter_id, 'seq', seq,
             'at', at, 'created', now, 'detail', detail)
  redis.call('ZADD', due_key, now, item)
  return item
end
