"""The Redis data layout's version, the check every process makes at start, and the
migrations that bring an older layout up to date (``notifier migrate``).

``notifier:schema`` holds the layout version as an integer. A database without it is new
(no ``notifier:`` keys), or written before versions were recorded: then its layout is
read off the data (a case index that is a set is layout 1) and the current one stamped.
A process refuses to run on any version but the current one: on an older layout it would
misread data, on a newer one it would corrupt it. ``migrate`` first records the version
it found, then runs each step, idempotent and key by key in its own transaction, and
raises the version only when a step is complete: an interrupted migration leaves the old
version recorded, so nothing runs on a half-migrated database, and it simply runs again.

Versions:
  1  the case index ``case:<id>:letters`` is a set
  2  ... a sorted set by send time (compact on Redis 7.0; commit 257dc2a)

Retention (issue 14a, retention_store.py) adds keys without changing any: a legal hold per
case and the purged-case record. Older processes ignore them, so the version stays.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import redis

from notifier import names
from notifier.errors import ConfigError
from notifier.logging import get_logger
from notifier.models import parse_send_at

log = get_logger(__name__)
SCHEMA_KEY = names.KEY_PREFIX + "schema"
CURRENT = 2
UNVERSIONED = 1  # the layout of data from before the version key existed
CASE_INDEXES = names.KEY_PREFIX + "case:*:letters"


class SchemaError(ConfigError):
    """The data in Redis has a layout this version of notifier does not run on."""


def found_version(client: redis.Redis) -> int | None:
    """The stored layout version; None for a database with no notifier data at all."""
    raw = client.get(SCHEMA_KEY)
    if raw is not None:
        try:
            return int(raw)
        except ValueError:
            raise SchemaError(f"{SCHEMA_KEY} holds {raw!r}, not a layout version") from None
    if next(client.scan_iter(match=names.KEY_PREFIX + "*", count=1000), None) is None:
        return None
    index = next(client.scan_iter(match=CASE_INDEXES, count=1000), None)
    return UNVERSIONED if index is not None and _text(client.type(index)) == "set" else CURRENT


def ensure_schema(client: redis.Redis) -> int:
    """Stamp a new (or current, unstamped) database; refuse (SchemaError) any other layout."""
    version = found_version(client)
    if version in (None, CURRENT):
        client.set(SCHEMA_KEY, CURRENT, nx=True)  # two processes starting at once agree
        version = int(client.get(SCHEMA_KEY) or CURRENT)
    if version > CURRENT:
        raise SchemaError(f"Redis holds data layout {version}, newer than this notifier "
                          f"knows ({CURRENT}): upgrade notifier, do not run an older one on it")
    if version < CURRENT:
        raise SchemaError(f"Redis holds data layout {version}; this notifier needs {CURRENT}: "
                          "stop every notifier process and run `notifier migrate`")
    return version


def check_at_start(client: redis.Redis) -> None:
    """``ensure_schema`` for a process starting. Redis being down is not a reason to refuse
    (processes ride out an outage and reconnect); the check is then logged as skipped."""
    try:
        ensure_schema(client)
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        log.warning("schema.unchecked", why="redis unavailable", error=str(exc)[:200])


@dataclass(frozen=True)
class Step:
    to: int
    what: str
    run: Callable[[redis.Redis], int]  # returns how many keys it changed


def _case_index_to_zset(client: redis.Redis) -> int:
    """1 -> 2: each case's letter index becomes a sorted set scored by the letter's send
    time, in one WATCHed transaction per case; indexes already converted are skipped."""
    changed = 0
    for key in client.scan_iter(match=CASE_INDEXES, count=1000):
        with client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    pipe.watch(key)  # type: ignore[no-untyped-call]
                    if _text(pipe.type(key)) != "set":
                        break
                    ids = [_text(m) for m in pipe.smembers(key)]
                    scores = {i: _send_epoch(pipe, i) for i in ids}
                    pipe.multi()
                    pipe.delete(key)
                    if scores:
                        pipe.zadd(key, scores)
                    pipe.execute()
                    changed += 1
                    break
                except redis.WatchError:
                    continue  # the index changed under us: read it again
    return changed


def _send_epoch(client: redis.Redis, letter_id: str) -> float:
    raw = client.hget(names.KEY_PREFIX + "letter:" + letter_id, "send_at")
    return parse_send_at(_text(raw)).timestamp() if raw else 0.0


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


STEPS = (Step(2, "case letter index: set -> sorted set by send time", _case_index_to_zset),)


def migrate(client: redis.Redis, *, dry_run: bool = False) -> list[str]:
    """Run every step above the stored version; lines saying what was (or would be) done."""
    version = found_version(client)
    if version is None:
        if not dry_run:
            client.set(SCHEMA_KEY, CURRENT, nx=True)
        return [f"new database: layout {CURRENT}"]
    if version > CURRENT:
        raise SchemaError(f"Redis holds data layout {version}, newer than this notifier "
                          f"knows ({CURRENT})")
    lines = [f"found layout {version}, current is {CURRENT}"]
    if not dry_run:
        client.set(SCHEMA_KEY, version)  # from here on, nothing runs until the end
    for step in STEPS:
        if step.to <= version:
            continue
        if dry_run:
            lines.append(f"would migrate to {step.to}: {step.what}")
            continue
        changed = step.run(client)
        client.set(SCHEMA_KEY, step.to)
        log.info("schema.migrated", to=step.to, keys=changed)
        lines.append(f"migrated to {step.to}: {step.what} ({changed} keys)")
    return lines
