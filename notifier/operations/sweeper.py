"""The sweeper (issue 13): finds what a crash or a bug could strand, repairs what is safe
to repair and alerts what is not. The scheduler runs it every ``NOTIFIER_SWEEP_INTERVAL``.

A survey scans every letter and callback item (SCAN inside a read-only Lua step, a
thousand keys at a time) and classifies them; the ids it found are kept
(``notifier:sweep:found``) for the operations page, which with many letters shows them
read again instead of taking its own survey (``operations/survey.py``):

- a ``scheduled`` letter in neither the due nor the inflight set would never be sent:
  repaired, due again at its send time (``lua/sweep_letter.lua``);
- a ``queued``/``sending`` letter without a lease would never be retaken: repaired, given
  a fresh lease, so the reaper hands it on after that like any expired lease;
- a callback item neither delivered nor dead and in neither outbox set would never be
  sent: repaired, due again now (``lua/sweep_callback.lua``);
- a letter the take marked ``dead`` for too many attempts whose worker died before
  planning the caseworker's alert gets its ``delivery_failed`` alert, under the id the
  worker would have given it (an alert planned already is never doubled), only while the
  letter is still dead as read;
- an ``uncertain`` letter with no resend planned (in neither set) is **not** repaired:
  whether the platform has it is unknown, and when to resend is an operator's call. It is
  alerted.

Each repair is one atomic Lua step that re-checks the state, so a sweep racing a worker,
another sweeper or the dispatcher changes nothing that moved on, and repeated sweeps
repair a letter once. Repairs count in ``notifier:stats`` (``swept|due``, ``swept|lease``,
``swept|callback``, ``swept|alert``); the last sweep's report (``notifier:sweep:last``)
names what it could not repair, for /metrics, the operations page and the alert rules;
each finding is logged (``sweeper.repaired`` warning, ``sweeper.stranded`` error).

A survey's cost grows with the letters in Redis (about 10 s of Redis time per million,
``bench/survey.py``): open cases' letters, and closed cases' until retention purges them,
or for years where retention is off. So sweeps are spaced to
keep the time spent sweeping at most ``SWEEP_SHARE``: the next sweep starts no sooner
than the last one's duration divided by that share (counted from its start), nor sooner
than the interval, and no later than ``MAX_SPACING_SECONDS`` after it.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import redis

from notifier import names
from notifier.delivery.deliverer import failure_alert
from notifier.logging import get_logger
from notifier.models import Status, parse_send_at
from notifier.planning.catalog import Catalog, load_catalog
from notifier.settings import Settings
from notifier.store import (
    CALLBACK,
    CALLBACKS_DEAD,
    CALLBACKS_DUE,
    DUE,
    INFLIGHT,
    LETTER,
    STATS,
    Store,
)

log = get_logger(__name__)
LAST = names.KEY_PREFIX + "sweep:last"
FOUND = names.KEY_PREFIX + "sweep:found"  # the ids the last sweep's survey found, for the page
LOCK = names.KEY_PREFIX + "sweep:lock"
SCAN_COUNT = 1000
FIELDS = ("status", "send_at", "case_id", "kind", "reason", "last_error", "channel",
          "recipient", "handed_over", "attempts")
TOO_MANY_ATTEMPTS = "too many attempts"  # the reason begin_send.lua gives
REPAIRS = ("due", "lease", "callback", "alert")  # what the stats' ``swept|<what>`` count
SWEEP_SHARE = 0.1  # at most a tenth of the time sweeping: 10 s sweeps start 100 s apart
MAX_SPACING_SECONDS = 1800  # yet one sweep at least every half hour, however slow


def _script(name: str) -> str:
    return resources.files("notifier").joinpath("lua", name).read_text(encoding="utf-8")


@dataclass
class Survey:
    """Letters and callback items an operator should know about, at ``at``."""

    at: datetime
    dead: list[dict[str, Any]] = field(default_factory=list)
    uncertain: list[dict[str, Any]] = field(default_factory=list)
    held: list[dict[str, Any]] = field(default_factory=list)
    stranded_due: list[dict[str, Any]] = field(default_factory=list)  # scheduled, no due
    stranded_lease: list[dict[str, Any]] = field(default_factory=list)  # queued/sending
    unresolved: list[dict[str, Any]] = field(default_factory=list)  # uncertain, no resend
    stranded_callbacks: list[str] = field(default_factory=list)
    letters_scanned: int = 0
    seconds: float = 0.0  # how long the scan of every letter and item took
    by: str = "view"  # who took it: "view" (just now) or "sweep" (kept, read again now)
    noted_ids: list[str] = field(default_factory=list)  # a kept survey's, until read

    def noted(self) -> dict[str, Any]:
        """What the page needs to show this survey later: its letters' ids, not their
        details (re-read when shown, so a letter retried meanwhile is not listed)."""
        rows = [*self.dead, *self.uncertain, *self.held]
        return {"at": self.at.isoformat(), "seconds": round(self.seconds, 3),
                "letters_scanned": self.letters_scanned,
                "ids": [row["letter_id"] for row in rows]}


def survey(store: Store, now: datetime,
           timer: Callable[[], float] = time.perf_counter) -> Survey:
    """Scan every letter and callback item once. The classifying happens in Redis, a
    thousand keys per script call (``lua/survey.lua``), so only the letters found travel;
    their details are then read in one pipeline."""
    client: Any = store.redis
    found = Survey(now)
    started = timer()  # a duration, for the page's choice (survey.py)
    letters = client.register_script(_script("survey.lua"))
    ids: list[str] = []
    cursor = b"0"
    while True:
        cursor, batch, scanned = letters(keys=[DUE, INFLIGHT],
                                         args=[cursor, LETTER + "*", SCAN_COUNT, len(LETTER)])
        ids += [i.decode() for i in batch]
        found.letters_scanned += int(scanned)
        if cursor in (b"0", 0, "0"):
            break
    _letters(client, ids, found)
    items = client.register_script(_script("survey_callbacks.lua"))
    cursor = b"0"
    while True:
        cursor, batch = items(keys=[CALLBACKS_DUE, CALLBACKS_DEAD],
                              args=[cursor, CALLBACK + "*", SCAN_COUNT, len(CALLBACK)])
        found.stranded_callbacks += [i.decode() for i in batch]
        if cursor in (b"0", 0, "0"):
            break
    found.stranded_callbacks = sorted(set(found.stranded_callbacks))  # SCAN may repeat
    found.seconds = timer() - started
    return found


def noted_survey(store: Store) -> Survey | None:
    """The last sweep's survey as kept: its time, duration and count, and the ids it found
    (in ``Survey.noted``), not yet read; None if none is kept, or it is not readable."""
    try:
        noted = json.loads(store.redis.get(FOUND) or "null")
        found = Survey(datetime.fromisoformat(noted["at"]), seconds=float(noted["seconds"]),
                       letters_scanned=int(noted["letters_scanned"]), by="sweep")
        found.noted_ids = [str(i) for i in noted["ids"]]
    except (TypeError, ValueError, KeyError):  # none kept yet, or a shape we never wrote
        return None
    return found if found.at.tzinfo is not None else None  # we write UTC times only


def read_again(store: Store, found: Survey) -> Survey:
    """A kept survey's letters, each listed under the status it has now (or not at all
    once it left dead, held and uncertain, or was purged)."""
    _letters(store.redis, found.noted_ids, found)
    return found


def _letters(client: Any, ids: list[str], found: Survey) -> None:
    """Read these letters and list each in ``found`` by its status now (a pipeline per
    thousand)."""
    for start in range(0, len(ids), SCAN_COUNT):
        _letter_batch(client, ids[start:start + SCAN_COUNT], found)


def _letter_batch(client: Any, ids: list[str], found: Survey) -> None:
    with client.pipeline(transaction=False) as pipe:
        for letter_id in ids:
            pipe.hmget(LETTER + letter_id, *FIELDS)
            pipe.zscore(DUE, letter_id)
            pipe.zscore(INFLIGHT, letter_id)
        replies = pipe.execute()
    for number, letter_id in enumerate(ids):
        values, due, lease = replies[3 * number: 3 * number + 3]
        row: dict[str, Any] = {name: v.decode() if v is not None else None
                               for name, v in zip(FIELDS, values, strict=True)}
        status = row["status"]
        if status is None:
            continue
        row["letter_id"] = letter_id
        row["send_at"] = parse_send_at(row["send_at"]) if row["send_at"] else None
        row["due_at"] = datetime.fromtimestamp(float(due), UTC) if due is not None else None
        row["leased"] = lease is not None
        if status == "dead":
            found.dead.append(row)
        elif status == "held":
            found.held.append(row)
        elif status == "uncertain":
            found.uncertain.append(row)
            if due is None and lease is None:
                found.unresolved.append(row)
        elif status == "scheduled" and due is None and lease is None:
            found.stranded_due.append(row)
        elif status in ("queued", "sending") and lease is None:
            found.stranded_lease.append(row)


@dataclass(frozen=True)
class SweepReport:
    at: datetime
    repaired: dict[str, int]
    unrepaired: list[dict[str, str]]
    letters_scanned: int
    seconds: float = 0.0  # how long the sweep took (a duration, not a time of day)

    def as_json(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "repaired": self.repaired,
                "unrepaired": self.unrepaired, "letters_scanned": self.letters_scanned,
                "seconds": round(self.seconds, 3)}


class Sweeper:
    def __init__(self, store: Store, clock: Any, settings: Settings,
                 catalog: Catalog | None = None, *,
                 timer: Callable[[], float] = time.perf_counter) -> None:
        self.store = store
        self.timer = timer  # a sweep's duration (tests pass a fake)
        self.catalog = catalog or load_catalog(settings.letters_dir)
        self.redis: Any = store.redis
        self.clock = clock
        self.lease = timedelta(seconds=settings.lease_seconds)
        self.interval = settings.sweep_interval
        self._letter = self.redis.register_script(_script("sweep_letter.lua"))
        self._callback = self.redis.register_script(_script("sweep_callback.lua"))

    def safe_sweep(self) -> SweepReport | None:
        """The scheduler's job: one sweep at a time across schedulers (a lock that expires,
        so a sweeper that died does not block the next). The lock is first sized by the
        last sweep's duration, to cover this one; when this one ends, by its own."""
        try:
            spacing = self.spacing(self._last_seconds())
            if not self.redis.set(LOCK, "1", nx=True, ex=spacing):
                return None
            if spacing > self.interval:
                log.info("sweeper.spaced", seconds=spacing,
                         why="the last sweep took over a tenth of the interval")
            report = self.sweep()
            # Counted from this sweep's start (a holder's own lock, so a plain SET).
            until_next = self.spacing(report.seconds) - report.seconds
            self.redis.set(LOCK, "1", ex=max(int(until_next), 1))
            return report
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            log.warning("sweeper.redis_unavailable", error=str(exc)[:200])
            return None

    def spacing(self, seconds: float) -> int:
        """Seconds from the start of a sweep that took ``seconds`` to the next one's start:
        the interval, or longer when it took over ``SWEEP_SHARE`` of that, but never over
        ``MAX_SPACING_SECONDS`` (a stalled sweep must not put off the next for hours)."""
        ceiling = max(self.interval, MAX_SPACING_SECONDS)
        return max(int(min(max(self.interval, seconds / SWEEP_SHARE), ceiling)), 1)

    def _last_seconds(self) -> float:
        """How long the last sweep took; 0 when unknown or not a sane number, so a bad
        report can never stop the sweeper (only a sweep writes a new one)."""
        try:
            seconds = float((last_report(self.store) or {}).get("seconds", 0.0))
        except (TypeError, ValueError, AttributeError):  # JSONDecodeError is a ValueError
            return 0.0
        return seconds if math.isfinite(seconds) and seconds >= 0 else 0.0

    def sweep(self) -> SweepReport:
        now = self.clock.now()
        started = self.timer()
        found = survey(self.store, now, self.timer)
        repaired = dict.fromkeys(REPAIRS, 0)
        lease_until = (now + self.lease).timestamp()
        for row in [*found.stranded_due, *found.stranded_lease]:
            letter_id = row["letter_id"]
            done = self._letter(keys=[LETTER + letter_id, DUE, INFLIGHT, STATS],
                                args=[letter_id, lease_until, now.timestamp()])
            if done:
                what = done.decode()
                repaired[what] += 1
                log.warning("sweeper.repaired", letter_id=letter_id, status=row["status"],
                            repair=what)
        for item in found.stranded_callbacks:
            if self._callback(keys=[CALLBACK + item, CALLBACKS_DUE, CALLBACKS_DEAD, STATS],
                              args=[item, now.timestamp()]):
                repaired["callback"] += 1
                log.warning("sweeper.repaired", callback=item, repair="callback")
        repaired["alert"] = self._alert_dead(found, now)
        unrepaired = [{"what": "uncertain_without_resend", "letter_id": row["letter_id"],
                       "case_id": row["case_id"] or ""} for row in found.unresolved]
        for entry in unrepaired:
            log.error("sweeper.stranded", **entry,
                      why="uncertain, and no resend is planned: decide by its PKO_PostStatus")
        report = SweepReport(now, repaired, unrepaired, found.letters_scanned,
                             self.timer() - started)
        with self.redis.pipeline(transaction=True) as pipe:  # the report and its survey
            pipe.set(LAST, json.dumps(report.as_json()))
            pipe.set(FOUND, json.dumps(found.noted()))
            pipe.execute()
        return report


    def _alert_dead(self, found: Survey, now: datetime) -> int:
        """Plan the caseworker's alert of each letter the take made dead (too many
        attempts) that has none; how many. Only such a letter can lack one: every other way
        to dead stores the alert first. Each is planned only if the letter is still dead
        as read (an operator may retry it meanwhile) and the alert is new."""
        candidates = [row["letter_id"] for row in found.dead
                      if row["reason"] == TOO_MANY_ATTEMPTS]
        planned = 0
        for letter in self.store.letters(candidates).values():
            if letter.status is not Status.DEAD or letter.kind not in self.catalog.kinds:
                continue
            alert = failure_alert(self.catalog, letter, TOO_MANY_ATTEMPTS, now)
            if alert is not None and self.store.add_alert_if_dead(
                    letter, alert, now, why="alert_planned", audit={"by": "sweeper"}):
                planned += 1
                self.redis.hincrby(STATS, "swept|alert", 1)
                log.warning("sweeper.repaired", letter_id=letter.letter_id, repair="alert")
        return planned


def last_report(store: Store) -> dict[str, Any] | None:
    raw = store.redis.get(LAST)
    return json.loads(raw) if raw else None
