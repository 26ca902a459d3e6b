"""Letters, cases, the due set, claims, leases and the audit trail, in Redis.

The key layout is described in keys.py. The store is one class assembled from its
concerns: keys.py (names and helpers), base.py (client, scripts, the optimistic write),
reading.py, plans.py (events applied all or nothing) and sending.py (claims, leases,
the take, transitions, receipts). Every group of writes that belongs together happens
in one MULTI/EXEC or Lua script.
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
