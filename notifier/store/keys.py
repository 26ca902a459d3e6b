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
Kept by other modules (each names its keys):
  schema               the data layout version (store/schema.py)
  doc-pending:<letter id>  hash, the document handed over while a send is open
                       (delivery/pending_document.py)
  access:case:<id>, access:user:<name>, access:archive:<id>  lists, the access log
                       (records/access_log.py)
  retention:hold:<id>, retention:purged, retention lock  legal holds and purged cases
                       (records/retention_store.py, records/retention.py)
  sweep:last, sweep:lock, sweep:found  the sweeper's last report, its lock, and the ids
                       its survey found, for the operations page (operations/sweeper.py)
  tokens, tokens:revoked, session:<id>, login-failures:<client>  API access
                       (api/security.py)
Every group of writes that belongs together happens in one MULTI/EXEC or Lua script.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from importlib import resources
from typing import Any

from notifier import names
from notifier.models import Letter, Status

P = names.KEY_PREFIX


DUE = P + "due"


INFLIGHT = P + "inflight"


LETTER = P + "letter:"


HEARTBEAT = P + "heartbeat:dispatcher"


TICK_SECONDS = P + "heartbeat:dispatcher:seconds"


STATS = P + "stats"


CALLBACKS_DUE = P + "callbacks:due"  # issue 13


CALLBACKS_DEAD = P + "callbacks:dead"


CALLBACK = P + "callback:"


DOC = P + "doc:"


DOC_PENDING = P + "doc-pending:"  # delivery/pending_document.py


PURGED = P + "retention:purged"  # issue 14a: case id -> where it was archived


# Dramatiq's own hash of messages enqueued and not yet acknowledged (its Redis layout).
QUEUE_MESSAGES = f"{names.DRAMATIQ_NAMESPACE}:{names.QUEUE_LETTERS}.msgs"


# Upper bounds (seconds) of the due-lag histogram: from planned send time to sent.
LAG_BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 86400.0)


COUNTED = (Status.SENT, Status.CANCELLED, Status.DEAD, Status.UNCERTAIN)


MAX_APPLY_RETRIES = 50


def lua_script(name: str) -> str:
    return resources.files("notifier").joinpath("lua", name).read_text(encoding="utf-8")


def outbox_script(name: str) -> str:
    """A script that may write a callback item: the outbox function, then the script."""
    return lua_script("outbox.lua") + "\n" + lua_script(name)


def epoch(instant: datetime) -> float:
    return instant.timestamp()


def callback_type(expected: Iterable[Status], new: Status) -> str | None:
    """Issue 13: the callback a transition reports (None: the case system is not told)."""
    if new is Status.SCHEDULED and tuple(expected) == (Status.HELD,):
        return "letter.released"
    if new in (Status.SENT, Status.CANCELLED, Status.DEAD):
        return f"letter.{new.value}"
    return None


def audit_entry(now: datetime, what: str, **detail: Any) -> str:
    return json.dumps({"at": now.isoformat(), "what": what, **detail}, ensure_ascii=False,
                      default=str)


def stat_key(what: str, letter: Letter) -> str:
    return f"{what}|{letter.kind}|{letter.channel.value}"


def lag_bucket(seconds: float) -> str:
    """The stats field of the smallest histogram bucket that holds ``seconds``."""
    bound = next((b for b in LAG_BUCKETS if seconds <= b), None)
    return f"lag_le:{bound:g}" if bound is not None else "lag_le:+Inf"


def transition_stats(letter: Letter, new: Status, now: datetime) -> tuple[list[str], str]:
    """Counters a transition to ``new`` increments, and the due lag of a sent letter."""
    if new not in COUNTED:
        return [], ""
    stats = [stat_key(new.value, letter)]
    if new is not Status.SENT:
        return stats, ""
    lag = max((now - letter.send_at).total_seconds(), 0.0)
    return [*stats, lag_bucket(lag)], repr(lag)


def decode_hash(raw: Mapping[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in raw.items()}
