-- Issue 13: one callback item, for status changes written in a MULTI/EXEC (events applied,
-- receipts): EVALSHA inside the transaction runs at EXEC, with the other writes.
-- KEYS[1] letter hash, KEYS[2] outbox zset; ARGV[1] item key prefix, ARGV[2] letter id,
-- ARGV[3] callback type, ARGV[4] ISO time of the change, ARGV[5] epoch now, ARGV[6] detail.
return outbox_add(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6])
