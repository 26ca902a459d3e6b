"""Applying events: the plan written, all or nothing, with the idempotency record."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import redis

from notifier.errors import ConflictError, FieldError
from notifier.intake.events import Event
from notifier.models import CaseState, Letter, Status
from notifier.planning.planner import Plan, Planner
from notifier.store.keys import (
    DUE,
    INFLIGHT,
    LETTER,
    MAX_APPLY_RETRIES,
    PURGED,
    STATS,
    P,
    audit_entry,
    epoch,
    stat_key,
)
from notifier.store.reading import Reads


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


def purged_refusal(events: Sequence[Event], case_id: str) -> BatchRefused:
    position = next(i for i, e in enumerate(events) if e.case_id == case_id)
    return BatchRefused(position, ConflictError([FieldError(
        "case_id", "the case was archived and purged; it takes no more events")]))


class Plans(Reads):
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
                            raise purged_refusal(events, case_id)  # issue 14a: never reopened
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
            pipe.hincrby(STATS, stat_key(Status.CANCELLED.value, letter), 1)
            self.add_callback(pipe, letter.letter_id, "letter.cancelled", now,
                              {"cancelled_by": event.event_id})
        pipe.rpush(self.audit_key(case_id), audit_entry(
                   now, "event_applied", event_id=event.event_id,
                   type=event.type, planned=[x.letter_id for x in plan.planned],
                   cancelled=[x.letter_id for x in plan.cancelled]))

    def _write_letter(self, pipe: Any, letter: Letter) -> None:
        pipe.hset(LETTER + letter.letter_id, mapping=letter.to_hash())
        pipe.zadd(self.case_letters_key(letter.case_id), {letter.letter_id: epoch(letter.send_at)})
        if letter.status is Status.SCHEDULED:
            pipe.zadd(DUE, {letter.letter_id: epoch(letter.send_at)})
        pipe.hincrby(STATS, stat_key("planned", letter), 1)
        if letter.status is Status.SUPPRESSED:
            pipe.hincrby(STATS, stat_key(Status.SUPPRESSED.value, letter), 1)

    def add_letter(self, letter: Letter, now: datetime, *, why: str,
                   audit: Mapping[str, Any] | None = None) -> bool:
        """Persist a letter planned outside the rules (ad hoc, delivery alerts).

        Only a new letter id is written: a retried request (same derived id) must not
        reset a letter that has meanwhile been claimed or sent. False if it existed.
        """
        return self._write_once(LETTER + letter.letter_id,
                                lambda pipe: bool(pipe.exists(LETTER + letter.letter_id)),
                                self._planned(letter, now, why, audit))

    def add_alert_if_dead(self, dead: Letter, alert: Letter, now: datetime, *, why: str,
                          audit: Mapping[str, Any] | None = None) -> bool:
        """Persist ``alert`` only if ``dead`` is still dead as it was read (not retried
        since: same ``retries``) and the alert is new, in one optimistic step (issue 13's
        sweeper). False if not written."""
        def settled(pipe: Any) -> bool:
            status, retries = pipe.hmget(LETTER + dead.letter_id, "status", "retries")
            return (status != Status.DEAD.value.encode() or int(retries or 0) != dead.retries
                    or bool(pipe.exists(LETTER + alert.letter_id)))

        return self._write_once(LETTER + alert.letter_id, settled,
                                self._planned(alert, now, why, audit), LETTER + dead.letter_id)

    def _planned(self, letter: Letter, now: datetime, why: str,
                 audit: Mapping[str, Any] | None) -> Callable[[Any], None]:
        def write(pipe: Any) -> None:
            self._write_letter(pipe, letter)
            pipe.rpush(self.audit_key(letter.case_id), audit_entry(
                now, why, letter_id=letter.letter_id, kind=letter.kind, **(audit or {})))

        return write
