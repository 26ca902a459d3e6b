"""Events in: one event or a list, from the API (``POST /events``) or ``notifier event``.

Validation is all-or-nothing: every event of a list is parsed before anything is stored,
and the list is checked against the cases' current state (a dry run of the reducer); then
the whole list is planned and written in one transaction, so a malformed or refused event,
or any failure while planning or writing, stores nothing from the list. Events are applied in
``occurred_at`` order, as the contract says; outcomes come back in the order sent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from notifier.errors import ConflictError, FieldError, InputError
from notifier.intake.bounds import horizon_errors
from notifier.intake.events import Event, parse_event
from notifier.intake.plaintext import domain_problem
from notifier.models import CaseState
from notifier.planning.planner import Planner
from notifier.planning.reducer import reduce
from notifier.store import Applied, BatchRefused, Store

MAX_EVENTS = 1000  # per request; the body size limit bounds it too
Locate = Callable[[int], str]  # index in the list -> prefix for its field names


def in_list(index: int) -> str:
    return f"[{index}]."


def alone(index: int) -> str:
    return ""


@dataclass(frozen=True)
class Outcome:
    event_id: str
    case_id: str
    outcome: str  # accepted | duplicate
    planned: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, applied: Applied) -> Outcome:
        return cls(applied.event_id, applied.case_id, applied.outcome,
                   [x.letter_id for x in applied.planned],
                   [x.letter_id for x in applied.cancelled])

    def as_json(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "case_id": self.case_id, "outcome": self.outcome,
                "planned": self.planned, "cancelled": self.cancelled}


def parse_batch(items: Sequence[object], locate: Locate) -> list[Event]:
    """Every event parsed, or InputError naming each bad field of each bad event."""
    if not items:
        raise InputError.single("(body)", "no events: send one event or a non-empty list")
    if len(items) > MAX_EVENTS:
        raise InputError.single("(body)", f"at most {MAX_EVENTS} events per request")
    events: list[Event] = []
    errors: list[FieldError] = []
    for index, item in enumerate(items):
        try:
            events.append(parse_event(item))
        except InputError as exc:
            errors += [FieldError(locate(index) + e.field, e.message) for e in exc.errors]
    if errors:
        raise InputError(errors)
    return events


def ingest(store: Store, planner: Planner, events: Sequence[Event], now: datetime,
           locate: Locate, email_domains: tuple[str, ...] = ()) -> list[Outcome]:
    """Apply the events all or nothing (one MULTI/EXEC); InputError for a date too far
    ahead or an address outside ``email_domains``, ConflictError if a case's state refuses
    one: either way nothing is stored. NotReplicated (503) if the replicas did not confirm
    them in time (issue 15): stored, not acknowledged; the case system retries the same
    ids, which is safe."""
    problems = [e for i, event in enumerate(events) for e in [
        *horizon_errors({"occurred_at": event.occurred_at, "data": event.data.model_dump()},
                        now, locate(i)),
        *_domain_errors(event, email_domains, locate(i))]]
    if problems:
        raise InputError(problems)
    _refuse_purged(store, events, locate)  # issue 14a
    order = sorted(range(len(events)), key=lambda i: events[i].occurred_at)
    _dry_run(store, [events[i] for i in order], [locate(i) for i in order])
    try:
        applied = store.apply_events([events[i] for i in order], planner, now)
    except BatchRefused as exc:  # another writer changed the case since the dry run
        prefix = locate(order[exc.position])
        raise ConflictError([FieldError(prefix + e.field, e.message) for e in exc.errors],
                            where="nothing from the request was stored") from None
    outcomes = {index: Outcome.of(result) for index, result in zip(order, applied, strict=True)}
    store.confirm_events(e.event_id for e in events)  # one WAIT for the whole batch
    return [outcomes[i] for i in range(len(events))]


def _refuse_purged(store: Store, events: Sequence[Event], locate: Locate) -> None:
    """Issue 14a: a case archived and purged takes no events (it would come back empty)."""
    from notifier.records.retention_store import purged_conflicts

    purged = purged_conflicts(store.redis, sorted({e.case_id for e in events}))
    errors = [FieldError(locate(i) + "case_id", f"the case was archived and purged on "
                         f"{purged[e.case_id]}; it takes no more events")
              for i, e in enumerate(events) if e.case_id in purged]
    if errors:
        raise ConflictError(errors, where="nothing from the request was stored")


def _domain_errors(event: Event, domains: tuple[str, ...], prefix: str) -> list[FieldError]:
    errors = []
    for party in ("citizen", "caseworker"):
        address = getattr(getattr(event.data, party, None), "email", None)
        problem = domain_problem(address, domains) if address else None
        if problem:
            errors.append(FieldError(f"{prefix}data.{party}.email", problem))
    return errors


def _dry_run(store: Store, events: Sequence[Event], prefixes: Sequence[str]) -> None:
    """The reducer over the batch against the stored cases: the conflicts, before any write."""
    seen = store.known_events(e.event_id for e in events)
    cases: dict[str, CaseState | None] = {}
    errors: list[FieldError] = []
    for event, prefix in zip(events, prefixes, strict=True):
        if event.event_id in seen:
            continue
        seen.add(event.event_id)
        if event.case_id not in cases:
            cases[event.case_id] = store.case(event.case_id)
        try:
            cases[event.case_id] = reduce(cases[event.case_id], event)
        except ConflictError as exc:
            errors += [FieldError(prefix + e.field, e.message) for e in exc.errors]
    if errors:
        raise ConflictError(errors)
