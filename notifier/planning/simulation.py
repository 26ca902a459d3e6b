"""The dry run behind ``notifier plan``: events on a virtual clock, no Redis, no sending.

Letters become ``sent`` when the virtual clock passes their send time, exactly as the
dispatcher would release them, so later events can only cancel what is still pending.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from notifier.calendar import DanishCalendar
from notifier.errors import InputError
from notifier.intake.events import Event, parse_event
from notifier.models import CaseState, Letter, Status
from notifier.planning.planner import Planner


@dataclass(frozen=True)
class NumberedEvent:
    line: int
    event: Event


def read_events(lines: Iterable[str]) -> list[NumberedEvent]:
    """Parse JSON lines; blank lines and ``#`` comments are skipped. Errors name the line."""
    out = []
    for number, text in enumerate(lines, start=1):
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError.single("(json)", exc.msg, where=f"line {number}") from None
        except RecursionError:  # hostile nesting; the decoder recurses per level
            raise InputError.single("(json)", "nested too deeply", where=f"line {number}"
                                    ) from None
        try:
            out.append(NumberedEvent(number, parse_event(raw)))
        except InputError as exc:
            raise exc.located(f"line {number}") from None
    return out


class Simulation:
    def __init__(self, planner: Planner) -> None:
        self.planner = planner
        self.cases: dict[str, CaseState] = {}
        self.letters: dict[str, dict[str, Letter]] = {}
        self.seen: set[str] = set()

    def run(self, events: list[NumberedEvent]) -> list[Letter]:
        for item in sorted(events, key=lambda e: e.event.occurred_at):
            self._release(until=item.event.occurred_at)
            try:
                self._apply(item.event)
            except InputError as exc:
                raise exc.located(f"line {item.line}") from None
        self._release(until=None)
        every = [letter for case in self.letters.values() for letter in case.values()]
        return sorted(every, key=lambda letter: (letter.send_at, letter.case_id, letter.kind))

    def _apply(self, event: Event) -> None:
        if event.event_id in self.seen:
            return  # re-submitting an event id is a no-op, as in the store
        letters = self.letters.setdefault(event.case_id, {})
        plan = self.planner.apply(self.cases.get(event.case_id), letters, event,
                                  event.occurred_at)
        self.seen.add(event.event_id)
        self.cases[event.case_id] = plan.case
        for letter in [*plan.cancelled, *plan.planned]:
            letters[letter.letter_id] = letter

    def _release(self, until: datetime | None) -> None:
        for case_id, letters in self.letters.items():
            for letter in sorted(letters.values(), key=lambda item: item.send_at):
                if letter.status is Status.SCHEDULED and (until is None or letter.send_at <= until):
                    self._send(self.cases[case_id], letters, letter)

    def _send(self, case: CaseState, letters: dict[str, Letter], letter: Letter) -> None:
        send_date = self.planner.calendar.local_date(letter.send_at)
        deadline = self.planner.deadlines(letter, case, letters, send_date).get("deadline")
        letters[letter.letter_id] = letter.with_status(
            Status.SENT, sent_at=letter.send_at, deadline=deadline
        )


def plan_row(letter: Letter, calendar: DanishCalendar) -> dict[str, Any]:
    """One line of ``notifier plan --json`` (the contract in DESIGN.md)."""
    return {
        "letter_id": letter.letter_id,
        "case_id": letter.case_id,
        "kind": letter.kind,
        "recipient": letter.recipient.value,
        "channel": letter.channel.value,
        "send_at": calendar.local(letter.send_at).isoformat(),
        "deadline": letter.deadline.isoformat() if letter.deadline else None,
        "status": letter.status.value,
        "cause": letter.cause,
        "cancelled_by": letter.cancelled_by,
    }
