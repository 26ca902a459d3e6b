"""Held stop decisions (issue 11): a caseworker releases one (it is sent in the next send
window) or cancels it (``cancel_letter`` accepts ``held``). Both are one atomic transition
with an audit entry naming who did it.

A non-cooperation stop naming a meeting whose summons never reached the citizen is planned
``held`` (RULES.md, decision_made): releasing it is the caseworker's confirmation that the
citizen was told about the meeting after all, e.g. by phone.
"""

from __future__ import annotations

from datetime import datetime

from notifier.api.letters import find_letter
from notifier.calendar import DanishCalendar
from notifier.errors import ConflictError
from notifier.logging import redact_text
from notifier.models import Letter, Status, epoch_text
from notifier.store import Store

RELEASED = (Status.SCHEDULED, Status.QUEUED, Status.SENDING, Status.SENT)


def release_letter(store: Store, calendar: DanishCalendar, letter_id: str, now: datetime, *,
                   by: str, reason: str | None = None) -> tuple[Letter, bool]:
    """Send a held letter in the next send window. Returns (letter, whether this call
    released it); a letter already released by someone is fine (a retried request)."""
    letter = find_letter(store, letter_id)
    send_at = calendar.send_window(now)
    audit = {"by": by, "action": "released",
             **({"reason": redact_text(reason)[:300]} if reason else {})}
    if store.transition(letter, (Status.HELD,), Status.SCHEDULED, now, due=send_at,
                        fields={"send_at": epoch_text(send_at), "released_by": by},
                        audit=audit):
        return find_letter(store, letter_id), True
    current = find_letter(store, letter_id)
    if current.status in RELEASED and current.released_by:
        return current, False
    raise ConflictError.single(
        "status", f"the letter is {current.status}; only a held letter can be released")
