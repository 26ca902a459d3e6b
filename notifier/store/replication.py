"""Redis behind Sentinel, and writes confirmed by replicas before they are promised (issue 15).

Sentinel: every connection asks the Sentinels which server is the primary when it connects.
After a failover the first command on a connection to the dead (or demoted) primary fails
with a ``redis.ConnectionError`` and the next one connects to the new primary, so the
processes follow a failover by themselves; the callers' existing "Redis unavailable"
handling rides out the window (docs/high-availability.md).

WAIT: replication is asynchronous, so a write the primary acknowledged may be missing on
the replica Sentinel promotes. Before the service promises something to the outside world
(a 202 for an event, "taken" before a letter leaves, "sent" after it left) it confirms on
one connection: the promised key is on the server that answers, then a tiny write, then
``WAIT replicas timeout``. The replication stream is ordered, so replicas that have the
tiny write have everything the primary had before it, including the promised key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis
from redis.sentinel import Sentinel

from notifier import names

PROBE = names.KEY_PREFIX + "replication:probe"
SENTINEL_TIMEOUT = 1.0  # seconds per Sentinel query: a dead Sentinel must not stall a connect


class NotReplicated(redis.TimeoutError):
    """A write could not be confirmed on enough replicas in time, or it is not on the
    primary that answered (lost in a failover). Nothing may be promised on it.

    A ``redis.TimeoutError`` on purpose: every caller that rides out an unreachable Redis
    (the API's 503, the dispatcher's one warning per tick, the deliverer's record retry)
    must treat an unconfirmed write the same way."""


def parse_sentinels(text: str) -> list[tuple[str, int]]:
    """``host:port,host:port`` as a list; ValueError naming the first bad entry."""
    out = []
    for entry in (part.strip() for part in text.split(",")):
        host, _, port = entry.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{entry!r} is not host:port")
        out.append((host.strip("[]"), int(port)))
    return out


def sentinel_client(sentinels: str, master: str, db: int) -> redis.Redis:
    """A client of the primary that the Sentinels name (rediscovered on reconnect)."""
    sentinel = Sentinel(parse_sentinels(sentinels),  # type: ignore[no-untyped-call]
                        sentinel_kwargs={"socket_timeout": SENTINEL_TIMEOUT,
                                         "socket_connect_timeout": SENTINEL_TIMEOUT})
    client: redis.Redis = sentinel.master_for(  # type: ignore[no-untyped-call]
        master, db=db, socket_timeout=10, socket_connect_timeout=5, health_check_interval=30)
    return client


@dataclass(frozen=True)
class Durability:
    """How many replicas must confirm a promised write, and how long to wait for them."""

    replicas: int = 0
    timeout: float = 1.0

    def confirm(self, client: Any, keys: Sequence[str], field: str | None = None,
                value: str | None = None) -> None:
        """Return once ``keys`` (or, with ``field``, that hash field of the one key being
        ``value``) are on at least ``replicas`` replicas; else raise NotReplicated."""
        if self.replicas == 0 or not keys:
            return
        keys = list(dict.fromkeys(keys))  # EXISTS counts a repeated key (a batch may repeat an id)
        with client.pipeline(transaction=False) as pipe:
            if field is not None:
                pipe.hget(keys[0], field)
            else:
                pipe.exists(*keys)
            pipe.incr(PROBE)
            pipe.wait(self.replicas, max(1, round(self.timeout * 1000)))
            found, _, acked = _execute(pipe)
        if field is not None and found != (value or "").encode():
            raise NotReplicated(f"{keys[0]} {field}: not on the primary that answered")
        if field is None and found != len(keys):
            raise NotReplicated(f"{len(keys) - found} of {len(keys)} keys are not "
                                "on the primary that answered")
        if acked < self.replicas:
            raise NotReplicated(f"{acked} of {self.replicas} replicas confirmed the write "
                                f"within {self.timeout:g} s")


def _execute(pipe: Any) -> list[Any]:
    """The pipeline's replies. WAIT answered with an UNBLOCKED error ended before the
    replicas answered: a primary demoted in a failover ends every WAIT blocked on it so
    (as does an operator's CLIENT UNBLOCK ... ERROR). Nothing was confirmed, so it is
    NotReplicated like any other unconfirmed write. Any other error is raised as is."""
    replies: list[Any] = pipe.execute(raise_on_error=False)
    *others, acked = replies
    for reply in others:
        if isinstance(reply, redis.ResponseError):
            raise reply
    if isinstance(acked, redis.ResponseError):
        if str(acked).startswith("UNBLOCKED"):
            raise NotReplicated(f"WAIT ended early (the primary demoted?): {acked}")
        raise acked
    return replies
