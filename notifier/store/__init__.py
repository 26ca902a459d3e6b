"""Letters, cases, the due set, claims, leases and the audit trail, in Redis.

Keys (prefix ``notifier:``):
  letter:<id>          hash, one letter (models.Letter)
  due                  zset, scheduled letter ids by due epoch seconds
  inflight             zset, claimed letter ids by lease expiry
  case:<id>            string, CaseState JSON
  case:<id>:letters    zset, the case's letter ids by send time (a zset, not a set: Redis
                       keeps small zsets compact, small sets only from 7.2 on)
  audit:<id>           list, the case's audit trail (JSON entries, append-only)
  event:<id>           string, an applied event (idempotency and record)
  doc:<letter id>      hash, the exact document sent (for aktindsigt)
  replication:probe    string, a counter written just before WAIT (replication.py)
  heartbeat:dispatcher string, last tick time
  heartbeat:dispatcher:seconds  string, how long the last tick took
  callbacks:due        zset, callback items (issue 13, callbacks.py) by next attempt epoch
  callbacks:dead       zset, callback items given up on, by when
  callback:<letter id>.<seq>  hash, one callback item (type, seq, at, created, detail, ...);
                       its letter's hash counts them in ``callbacks`` (the sequence)
  stats                hash, counters shared by every process for /metrics:
                       ``planned|suppressed|sent|cancelled|dead`` ``|kind|channel``, the
                       due-lag histogram (``lag_le:<seconds>``, ``lag_sum``) of sent letters
Every group of writes that belongs together happens in one MULTI/EXEC or Lua script.

The store is one class assembled from its concerns: keys.py (names and helpers), base.py,
reading.py, plans.py and sending.py.
"""

from __future__ import annotations

from notifier.store.keys import (
    CALLBACK,
    CALLBACKS_DEAD,
    CALLBACKS_DUE,
    COUNTED,
    DUE,
    HEARTBEAT,
    INFLIGHT,
    LAG_BUCKETS,
    LETTER,
    MAX_APPLY_RETRIES,
    PURGED,
    QUEUE_MESSAGES,
    STATS,
    TICK_SECONDS,
    P,
    callback_type,
    epoch,
    lag_bucket,
)
from notifier.store.plans import Applied, BatchRefused, Plans
from notifier.store.sending import Sending


class Store(Plans, Sending):
    """Letters, cases, the due set, claims, leases and the audit trail, in Redis."""


__all__ = [
    "CALLBACK",
    "CALLBACKS_DEAD",
    "CALLBACKS_DUE",
    "COUNTED",
    "DUE",
    "HEARTBEAT",
    "INFLIGHT",
    "LAG_BUCKETS",
    "LETTER",
    "MAX_APPLY_RETRIES",
    "PURGED",
    "QUEUE_MESSAGES",
    "STATS",
    "TICK_SECONDS",
    "Applied",
    "BatchRefused",
    "P",
    "Store",
    "callback_type",
    "epoch",
    "lag_bucket",
]
