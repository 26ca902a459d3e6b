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
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import redis

from notifier import names
from notifier.errors import ConflictError, FieldError
from notifier.events import Event
from notifier.models import CaseState, ChannelName, Letter, Status
from notifier.planner import Plan, Planner
from notifier.replication import Durability

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
PURGED = P + "retention:purged"  # issue 14a: case id -> where it was archived
# Dramatiq's own hash of messages enqueued and not yet acknowledged (its Redis layout).
QUEUE_MESSAGES = f"{names.DRAMATIQ_NAMESPACE}:{names.QUEUE_LETTERS}.msgs"
# Upper bounds (seconds) of the due-lag histogram: from planned send time to sent.
LAG_BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 86400.0)
COUNTED = (Status.SENT, Status.CANCELLED, Status.DEAD, Status.UNCERTAIN)
MAX_APPLY_RETRIES = 50


def _script(name: str) -> str:
    return resources.files("notifier").joinpath("lua", name).read_text(encoding="utf-8")


def _outbox_script(name: str) -> str:
    """A script that may write a callback item: the outbox function, then the script."""
    return _script("outbox.lua") + "\n" + _script(name)


def epoch(instant: datetime) -> float:
    return instant.timestamp()


class BatchRefused(ConflictError):
    """An event of a batch that its case's state refuses; ``position`` is its index."""

    def __init__(self, position: int, refused: ConflictError) -> None:
        super().__init__(refused.errors, where=refused.where)
        self.position = position


@dataclass(frozen=True)
class Applied:
    event_id: str
    case_id: str
    duplicate: bool
    planned: list[Letter] = field(default_factory=list)
    cancelled: list[Letter] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        return "duplicate" if self.duplicate else "accepted"


class Store:
    def __init__(self, client: redis.Redis, durability: Durability | None = None, *,
                 callbacks: bool = False) -> None:
        # redis-py types replies as bytes | str (it depends on decode_responses); we never
        # decode responses, so the client is used untyped and replies are bytes.
        self.redis: Any = client
        self.durability = durability or Durability()
        self._claim = self.redis.register_script(_script("claim.lua"))
        self._reap = self.redis.register_script(_script("reap.lua"))
        self._begin = self.redis.register_script(_outbox_script("begin_send.lua"))
        self._transition = self.redis.register_script(_outbox_script("transition.lua"))
        # Issue 13: with a callback URL, every reported status change writes its callback
        # item in the same atomic step (the prefix '' tells the scripts not to).
        self.callbacks = callbacks
        self._callback_prefix = CALLBACK if callbacks else ""
        self._outbox = self.redis.register_script(_outbox_script("outbox_add.lua"))

    # --- keys ---------------------------------------------------------------------------
    @staticmethod
    def case_key(case_id: str) -> str:
        return f"{P}case:{case_id}"

    @staticmethod
    def case_letters_key(case_id: str) -> str:
        return f"{P}case:{case_id}:letters"

    @staticmethod
    def audit_key(case_id: str) -> str:
        return f"{P}audit:{case_id}"

    # --- reading ------------------------------------------------------------------------
    def letter(self, letter_id: str) -> Letter | None:
        raw = self.redis.hgetall(LETTER + letter_id)
        return Letter.from_hash(letter_id, _decode(raw)) if raw else None

    def case(self, case_id: str) -> CaseState | None:
        raw = self.redis.get(self.case_key(case_id))
        return CaseState.model_validate_json(raw) if raw else None

    def case_letters(self, case_id: str) -> dict[str, Letter]:
        ids = sorted(m.decode() for m in self.redis.zrange(self.case_letters_key(case_id), 0, -1))
        return self._letters(self.redis, ids)

    def _letters(self, client: Any, ids: Iterable[str]) -> dict[str, Letter]:
        pipe = client.pipeline(transaction=False) if client is self.redis else None
        ids = list(ids)
        if pipe is not None:
            for letter_id in ids:
                pipe.hgetall(LETTER + letter_id)
            raws = pipe.execute()
        else:
            raws = [client.hgetall(LETTER + letter_id) for letter_id in ids]
        return {i: Letter.from_hash(i, _decode(r)) for i, r in zip(ids, raws, strict=True) if r}

    def known_events(self, event_ids: Iterable[str]) -> set[str]:
        """Which of these event ids were applied already (re-submitting one is a no-op)."""
        ids = list(event_ids)
        with self.redis.pipeline(transaction=False) as pipe:
            for event_id in ids:
                pipe.exists(f"{P}event:{event_id}")
            found = pipe.execute()
        return {i for i, hit in zip(ids, found, strict=True) if hit}

    def audit(self, case_id: str) -> list[dict[str, Any]]:
        return [json.loads(item) for item in self.redis.lrange(self.audit_key(case_id), 0, -1)]

    def document(self, letter_id: str) -> dict[str, str] | None:
        raw = self.redis.hgetall(f"{P}doc:{letter_id}")
        return _decode(raw) if raw else None

    def next_due(self) -> datetime | None:
        first = self.redis.zrange(DUE, 0, 0, withscores=True)
        return datetime.fromtimestamp(float(first[0][1]), UTC) if first else None

    def inflight_count(self) -> int:
        return int(self.redis.zcard(INFLIGHT))

    def due_count(self) -> int:
        return int(self.redis.zcard(DUE))

    def queue_depth(self) -> int:
        """Messages in the Dramatiq queue not yet acknowledged by a worker."""
        return int(self.redis.hlen(QUEUE_MESSAGES))

    def stats(self) -> dict[str, float]:
        """The shared counters (see the module docstring), as numbers."""
        return {k.decode(): float(v) for k, v in self.redis.hgetall(STATS).items()}

    # --- events -------------------------------------------------------------------------
    def apply_event(self, event: Event, planner: Planner, now: datetime, *,
                    confirm: bool = True) -> Applied:
        """Plan ``event`` against the case's current state and persist it atomically.

        Optimistic: the case, its letters and the event marker are WATCHed, so a worker
        starting to send a letter, or another API process, makes us re-plan instead of
        acting on a stale view. A re-submitted event id changes nothing. With ``confirm``
        (else the caller calls ``confirm_events``), returns only once the event is on the
        configured number of replicas, a duplicate too: a retry after NotReplicated finds
        the event already on the primary, and must not be acknowledged on that alone.
        """
        applied = self.apply_events([event], planner, now)[0]
        if confirm:
            self.confirm_events([event.event_id])
        return applied

    def confirm_events(self, event_ids: Iterable[str]) -> None:
        """Raise NotReplicated unless these events are on enough replicas (replication.py)."""
        self.durability.confirm(self.redis, [f"{P}event:{i}" for i in event_ids])

    def confirm_status(self, letter_id: str, status: Status) -> None:
        """Raise NotReplicated unless the letter's ``status`` is on enough replicas."""
        self.confirm_letter(letter_id, "status", status.value)

    def confirm_letter(self, letter_id: str, field: str | None = None,
                       value: str | None = None) -> None:
        """Raise NotReplicated unless the letter (with ``field`` = ``value``) is on enough
        replicas."""
        self.durability.confirm(self.redis, [LETTER + letter_id], field, value)

    def apply_events(self, events: Sequence[Event], planner: Planner, now: datetime
                     ) -> list[Applied]:
        """Plan every event, in the order given, and persist them all in one MULTI/EXEC:
        all or nothing, whatever fails (issue 17). Each event is planned against the state
        the events before it leave, so the batch is the same as applying them one by one.

        Everything read is WATCHed, so a concurrent writer makes us re-plan. A refused event
        raises BatchRefused (a ConflictError) carrying its position; nothing is written.
        """
        case_ids = sorted({e.case_id for e in events})
        event_keys = [f"{P}event:{e.event_id}" for e in events]
        watched = list(dict.fromkeys([*event_keys, *map(self.case_key, case_ids),
                                      *map(self.case_letters_key, case_ids), PURGED]))
        pipe: Any
        with self.redis.pipeline() as pipe:
            for _ in range(MAX_APPLY_RETRIES):
                try:
                    pipe.watch(*watched)
                    known = {k for k in event_keys if pipe.exists(k)}
                    cases: dict[str, CaseState | None] = {}
                    letters: dict[str, dict[str, Letter]] = {}
                    for case_id in case_ids:
                        raw_case = pipe.get(self.case_key(case_id))
                        if raw_case is None and pipe.hexists(PURGED, case_id):
                            raise _purged(events, case_id)  # issue 14a: never reopened
                        cases[case_id] = (CaseState.model_validate_json(raw_case)
                                          if raw_case else None)
                        ids = sorted(m.decode() for m in
                                     pipe.zrange(self.case_letters_key(case_id), 0, -1))
                        if ids:
                            pipe.watch(*(LETTER + i for i in ids))
                        letters[case_id] = self._letters(pipe, ids)
                    results, plans = self._plan_all(events, known, cases, letters, planner, now)
                    pipe.multi()
                    for event, plan in plans:
                        self._write_plan(pipe, event, plan, now)
                    pipe.execute()
                    return results
                except redis.WatchError:
                    continue
        raise redis.WatchError("events: their cases kept changing; try again")

    @staticmethod
    def _plan_all(events: Sequence[Event], known: set[str],
                  cases: dict[str, CaseState | None], letters: dict[str, dict[str, Letter]],
                  planner: Planner, now: datetime
                  ) -> tuple[list[Applied], list[tuple[Event, Plan]]]:
        results: list[Applied] = []
        plans: list[tuple[Event, Plan]] = []
        for position, event in enumerate(events):
            key = f"{P}event:{event.event_id}"
            if key in known:  # stored before, or earlier in this batch
                results.append(Applied(event.event_id, event.case_id, duplicate=True))
                continue
            known.add(key)
            try:
                plan = planner.apply(cases[event.case_id], letters[event.case_id], event, now)
            except ConflictError as exc:
                raise BatchRefused(position, exc) from None
            cases[event.case_id] = plan.case
            letters[event.case_id].update((x.letter_id, x) for x in
                                          [*plan.planned, *plan.cancelled])
            plans.append((event, plan))
            results.append(Applied(event.event_id, event.case_id, False, plan.planned,
                                   plan.cancelled))
        return results, plans

    def _write_plan(self, pipe: Any, event: Event, plan: Plan, now: datetime) -> None:
        case_id = event.case_id
        pipe.set(f"{P}event:{event.event_id}", json.dumps(event.payload(), ensure_ascii=False))
        pipe.set(self.case_key(case_id), plan.case.model_dump_json())
        for letter in plan.planned:
            self._write_letter(pipe, letter)
            if letter.status is Status.HELD:
                self.add_callback(pipe, letter.letter_id, "letter.held", now, {})
        for letter in plan.cancelled:
            pipe.hset(LETTER + letter.letter_id, mapping={
                "status": Status.CANCELLED.value, "cancelled_by": event.event_id})
            pipe.zrem(DUE, letter.letter_id)
            pipe.zrem(INFLIGHT, letter.letter_id)
            pipe.hincrby(STATS, _stat(Status.CANCELLED.value, letter), 1)
            self.add_callback(pipe, letter.letter_id, "letter.cancelled", now,
                              {"cancelled_by": event.event_id})
        pipe.rpush(self.audit_key(case_id), _audit(now, "event_applied", event_id=event.event_id,
                   type=event.type, planned=[x.letter_id for x in plan.planned],
                   cancelled=[x.letter_id for x in plan.cancelled]))

    def _write_letter(self, pipe: Any, letter: Letter) -> None:
        pipe.hset(LETTER + letter.letter_id, mapping=letter.to_hash())
        pipe.zadd(self.case_letters_key(letter.case_id), {letter.letter_id: epoch(letter.send_at)})
        if letter.status is Status.SCHEDULED:
            pipe.zadd(DUE, {letter.letter_id: epoch(letter.send_at)})
        pipe.hincrby(STATS, _stat("planned", letter), 1)
        if letter.status is Status.SUPPRESSED:
            pipe.hincrby(STATS, _stat(Status.SUPPRESSED.value, letter), 1)

    def add_callback(self, pipe: Any, letter_id: str, kind: str, now: datetime,
                     detail: Mapping[str, str]) -> None:
        """Issue 13: queue a callback item on ``pipe`` (inside its MULTI), when callbacks
        are on; it is written at EXEC with the status change it reports."""
        if self.callbacks:
            self._outbox(keys=[LETTER + letter_id, CALLBACKS_DUE],
                         args=[CALLBACK, letter_id, kind, now.isoformat(), epoch(now),
                               json.dumps(dict(detail), ensure_ascii=False)], client=pipe)

    def add_letter(self, letter: Letter, now: datetime, *, why: str,
                   audit: Mapping[str, Any] | None = None) -> bool:
        """Persist a letter planned outside the rules (ad hoc, delivery alerts).

        Only a new letter id is written: a retried request (same derived id) must not
        reset a letter that has meanwhile been claimed or sent. False if it existed.
        """
        def write(pipe: Any) -> None:
            self._write_letter(pipe, letter)
            pipe.rpush(self.audit_key(letter.case_id), _audit(
                now, why, letter_id=letter.letter_id, kind=letter.kind, **(audit or {})))

        return self._write_once(LETTER + letter.letter_id,
                                lambda pipe: bool(pipe.exists(LETTER + letter.letter_id)), write)

    def _write_once(self, key: str, done: Callable[[Any], bool],
                    write: Callable[[Any], None]) -> bool:
        """WATCH ``key``; unless ``done`` (read on the watching pipe) says it is already so,
        ``write`` in one MULTI/EXEC. True if written; retried if ``key`` changed meanwhile."""
        pipe: Any
        with self.redis.pipeline() as pipe:
            for _ in range(MAX_APPLY_RETRIES):
                try:
                    pipe.watch(key)
                    if done(pipe):
                        pipe.unwatch()
                        return False
                    pipe.multi()
                    write(pipe)
                    pipe.execute()
                    return True
                except redis.WatchError:
                    continue
        raise redis.WatchError(f"{key}: kept changing; try again")

    # --- dispatching --------------------------------------------------------------------
    def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[str]:
        ids = self._claim(keys=[DUE, INFLIGHT],
                          args=[epoch(now), epoch(lease_until), limit, LETTER])
        return [i.decode() for i in ids]

    def reap_expired(self, now: datetime, lease_until: datetime, limit: int) -> list[str]:
        ids = self._reap(keys=[INFLIGHT], args=[epoch(now), epoch(lease_until), limit, LETTER])
        return [i.decode() for i in ids]

    def heartbeat(self, now: datetime) -> None:
        self.redis.set(HEARTBEAT, now.isoformat())

    def record_tick(self, seconds: float) -> None:
        """How long the dispatcher's last tick took, for /metrics in any process."""
        self.redis.set(TICK_SECONDS, repr(seconds))

    def last_tick_seconds(self) -> float | None:
        raw = self.redis.get(TICK_SECONDS)
        return float(raw) if raw else None

    def last_heartbeat(self) -> datetime | None:
        raw = self.redis.get(HEARTBEAT)
        return datetime.fromisoformat(raw.decode()) if raw else None

    # --- delivering ---------------------------------------------------------------------
    def begin_send(self, letter_id: str, lease_until: datetime, max_attempts: int, *,
                   resend_at: datetime | None = None, now: datetime | None = None
                   ) -> tuple[Status | None, int]:
        """(status, attempts): taken if ``sending`` with attempts > 0; attempts 0 means the
        letter was not taken and ``status`` is what it is (possibly another worker's
        ``sending``). ``('uncertain', -1)``: this call found a taken-over letter whose
        request may have left, and made it wait for its receipt until ``resend_at``."""
        resend_at = resend_at or lease_until
        if now is None and self.callbacks:
            raise ValueError("begin_send: give 'now' when callbacks are on (issue 13)")
        status, attempts = self._begin(
            keys=[LETTER + letter_id, INFLIGHT, STATS, DUE, CALLBACKS_DUE],
            args=[letter_id, epoch(lease_until), max_attempts, epoch(resend_at),
                  self._callback_prefix, now.isoformat() if now else "",
                  epoch(now) if now else "", f"{P}audit:",
                  _audit(now or datetime.fromtimestamp(0, UTC), Status.DEAD.value,
                         letter_id=letter_id, reason="too many attempts")[:-1]
                  + ', "kind": "'])
        text = status.decode()
        return (None if text == "missing" else Status(text)), int(attempts)

    def transition(
        self,
        letter: Letter,
        expected: Iterable[Status],
        new: Status,
        now: datetime,
        *,
        due: datetime | None = None,
        fields: Mapping[str, str] | None = None,
        audit: Mapping[str, Any] | None = None,
    ) -> bool:
        """Atomically ``expected`` -> ``new``; False if the letter was in another status."""
        flat: list[str] = [x for pair in (fields or {}).items() for x in pair]
        entry = _audit(now, new.value, letter_id=letter.letter_id, kind=letter.kind,
                       **(audit or {}))
        stats, lag = _transition_stats(letter, new, now)
        expected = tuple(expected)
        callback = callback_type(expected, new) if self.callbacks else None
        result = self._transition(
            keys=[LETTER + letter.letter_id, DUE, INFLIGHT, self.audit_key(letter.case_id),
                  STATS, CALLBACKS_DUE],
            args=[letter.letter_id, "," + ",".join(s.value for s in expected) + ",", new.value,
                  "" if due is None else epoch(due), entry, " ".join(stats), lag,
                  callback or "", self._callback_prefix, now.isoformat(), epoch(now),
                  json.dumps(dict(fields or {}), ensure_ascii=False), *flat],
        )
        return bool(result == b"ok")

    def set_channel(self, letter: Letter, channel: ChannelName, now: datetime, *,
                    why: str) -> None:
        """Record that a letter goes by another channel than planned (issue 12)."""
        self.redis.hset(LETTER + letter.letter_id, "channel", channel.value)
        self.add_audit(letter.case_id, now, "channel_changed", letter_id=letter.letter_id,
                       kind=letter.kind, channel=channel.value, why=why)

    def add_audit(self, case_id: str, now: datetime, what: str, **detail: Any) -> None:
        self.redis.rpush(self.audit_key(case_id), _audit(now, what, **detail))

    def mark_handed_over(self, letter_id: str, now: datetime) -> None:
        """Written just before a request for the letter leaves for SF1601 (issue 12): if its
        worker then dies, the letter may be on the platform and must not be resent at once.
        Raises NotReplicated (and the request must not leave) unless replicas hold it."""
        self.redis.hset(LETTER + letter_id, "handed_over", now.isoformat())
        # Issue 15: lost in a failover, the mark would let a retake resend at once.
        self.confirm_letter(letter_id, "handed_over", now.isoformat())

    def save_document(self, letter_id: str, document: Mapping[str, str]) -> None:
        self.redis.hset(f"{P}doc:{letter_id}", mapping=dict(document))

    def record_receipt(self, letter: Letter, fields: Mapping[str, str], now: datetime) -> bool:
        """Store a Digital Post business receipt on its letter, with an audit entry, once:
        False if the letter already holds exactly this receipt (a redelivered callback)."""
        key = LETTER + letter.letter_id
        before: list[str | None] = [None]  # the receipt status held when WATCHed

        def held(pipe: Any) -> bool:
            values = pipe.hmget(key, "receipt_status", *fields)
            before[0] = values[0].decode() if values[0] else None
            return [v.decode() if v else None for v in values[1:]] == list(fields.values())

        def write(pipe: Any) -> None:
            pipe.hset(key, mapping=dict(fields))
            pipe.rpush(self.audit_key(letter.case_id), _audit(
                now, "receipt", letter_id=letter.letter_id, **fields))
            # Issue 13: reported once per status (a repeated status at another time is not).
            status = fields.get("receipt_status")
            if status in ("delivered", "failed") and status != before[0]:
                self.add_callback(pipe, letter.letter_id, f"letter.{status}", now, fields)

        return self._write_once(key, held, write)


def _purged(events: Sequence[Event], case_id: str) -> BatchRefused:
    position = next(i for i, e in enumerate(events) if e.case_id == case_id)
    return BatchRefused(position, ConflictError([FieldError(
        "case_id", "the case was archived and purged; it takes no more events")]))


def callback_type(expected: Iterable[Status], new: Status) -> str | None:
    """Issue 13: the callback a transition reports (None: the case system is not told)."""
    if new is Status.SCHEDULED and tuple(expected) == (Status.HELD,):
        return "letter.released"
    if new in (Status.SENT, Status.CANCELLED, Status.DEAD):
        return f"letter.{new.value}"
    return None


def _audit(now: datetime, what: str, **detail: Any) -> str:
    return json.dumps({"at": now.isoformat(), "what": what, **detail}, ensure_ascii=False,
                      default=str)


def _stat(what: str, letter: Letter) -> str:
    return f"{what}|{letter.kind}|{letter.channel.value}"


def lag_bucket(seconds: float) -> str:
    """The stats field of the smallest histogram bucket that holds ``seconds``."""
    bound = next((b for b in LAG_BUCKETS if seconds <= b), None)
    return f"lag_le:{bound:g}" if bound is not None else "lag_le:+Inf"


def _transition_stats(letter: Letter, new: Status, now: datetime) -> tuple[list[str], str]:
    """Counters a transition to ``new`` increments, and the due lag of a sent letter."""
    if new not in COUNTED:
        return [], ""
    stats = [_stat(new.value, letter)]
    if new is not Status.SENT:
        return stats, ""
    lag = max((now - letter.send_at).total_seconds(), 0.0)
    return [*stats, lag_bucket(lag)], repr(lag)


def _decode(raw: Mapping[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in raw.items()}
