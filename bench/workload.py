"""Realistic input for the benchmark, made by the real planner and written the Store's way.

Events are copies of the demo scenario (three cases' full stories: 21 events of 9 types),
renamed per copy. Letters are clones of what the planner plans for an opening event, so
their records have the fields, sizes and Redis encoding of real letters.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from notifier import store as layout
from notifier.clock import SystemClock
from notifier.demo import demo_events
from notifier.identifiers import letter_id
from notifier.intake.events import Event, parse_event
from notifier.models import Letter, epoch_text
from notifier.planning.planner import Planner
from notifier.store import Store

PIPELINE_BATCH = 1000  # commands per pipeline round trip when bulk-writing letters


@cache
def future() -> datetime:
    """A year from now: the letters of cases opened then stay pending for the whole run,
    in the due set as background, never due."""
    return SystemClock().now().replace(microsecond=0) + timedelta(days=365)


def story_events(copies: int) -> list[Event]:
    """``copies`` renamed copies of the demo's stories, each copy in occurred_at order."""
    stories = [event.payload() for event in demo_events(None)]
    events = []
    for copy in range(copies):
        for raw in stories:
            events.append(parse_event({**raw, "case_id": f"{raw['case_id']}-{copy:06d}",
                                       "event_id": f"{raw['event_id']}-{copy:06d}"}))
    return events


@cache
def _opening() -> dict[str, Any]:
    return next(e for e in demo_events(None) if e.type == "sick_leave_reported").payload()


def opening_event(case_id: str, occurred_at: datetime) -> Event:
    """A sick_leave_reported event like the demo's first one, for another case id."""
    return parse_event({**_opening(), "case_id": case_id, "event_id": f"open-{case_id}",
                        "occurred_at": occurred_at.isoformat()})


def letter_templates(planner: Planner) -> list[Letter]:
    """The letters one opening event plans: the commonest letters a case holds."""
    event = opening_event("BENCH-TEMPLATE", future())
    return planner.apply(None, {}, event, future()).planned


@dataclass(frozen=True)
class Pending:
    letter_id: str
    case_id: str
    record: dict[str, str]  # what Letter.to_hash() gives
    due: float  # epoch seconds


class PendingLetters:
    """Clones of the templates: letter ``n`` is template ``n % len`` for case
    ``n // len``, so each case holds one of each, as an opened case does."""

    def __init__(self, templates: Sequence[Letter], prefix: str) -> None:
        self.templates = list(templates)
        self.records = [t.to_hash() for t in self.templates]
        self.prefix = prefix

    def clone(self, n: int, due: datetime) -> Pending:
        # Patching the template's record is ~20x faster than Letter.to_hash() (a deep
        # asdict), which matters at a million letters; check() proves they agree.
        template = self.records[n % len(self.records)]
        case_id = f"{self.prefix}-{n // len(self.records):07d}"
        ident = self.ident(n)
        record = {**template, "case_id": case_id, "send_at": epoch_text(due),
                  "cause": f"open-{case_id}"}
        return Pending(ident, case_id, record, due.timestamp())

    def ident(self, n: int) -> str:
        return letter_id(self.prefix, str(n))

    def check(self) -> None:
        due = future() + timedelta(days=3)
        made = self.clone(0, due)
        real = replace(self.templates[0], letter_id=made.letter_id, case_id=made.case_id,
                       send_at=due, cause=f"open-{made.case_id}").to_hash()
        if made.record != real:
            raise AssertionError(f"bench clone drifted from Letter.to_hash(): {made.record}")


def write_pending(client: Any, letters: Iterator[Pending]) -> int:
    """Write letters as Store.add_letter lays them out (record hash, due entry, case index),
    pipelined in batches. The per-letter audit line add_letter also writes is left out:
    planned letters share one audit entry per event (see the all-in figure)."""
    pipe = client.pipeline(transaction=False)
    count = 0
    for letter in letters:
        pipe.hset(layout.LETTER + letter.letter_id, mapping=letter.record)
        pipe.zadd(layout.DUE, {letter.letter_id: letter.due})
        pipe.zadd(Store.case_letters_key(letter.case_id), {letter.letter_id: letter.due})
        count += 1
        if count % PIPELINE_BATCH == 0:
            pipe.execute()
    pipe.execute()
    return count


def open_cases(store: Store, planner: Planner, count: int, prefix: str) -> list[str]:
    """``count`` cases opened through Store.apply_event at future() (their letters stay
    pending in the background); returns the case ids."""
    case_ids = [f"{prefix}-{n:06d}" for n in range(count)]
    for case_id in case_ids:
        store.apply_event(opening_event(case_id, future()), planner, future())
    return case_ids


def due_letters(template: Letter, case_ids: Sequence[str], times: Sequence[datetime],
                tag: str) -> list[Letter]:
    """One letter like ``template`` per due time, spread round-robin over the cases."""
    out = []
    for n, when in enumerate(times):
        case_id = case_ids[n % len(case_ids)]
        out.append(replace(template, letter_id=letter_id(case_id, tag, str(n)),
                           case_id=case_id, send_at=when, cause=f"open-{case_id}"))
    return out
