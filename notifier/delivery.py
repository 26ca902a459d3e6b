"""Delivering one letter: the body of the ``deliver_letter`` actor, testable without Dramatiq.

Safe to run twice for the same id: only a ``queued`` letter is taken (atomically, to
``sending``), so a cancelled, sent or concurrently taken letter is skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from notifier.catalog import Catalog
from notifier.channels.base import Channel, Outgoing
from notifier.clock import Clock
from notifier.context import letter_context
from notifier.errors import PermanentError, TransientError
from notifier.identifiers import letter_id as derive_letter_id
from notifier.logging import get_logger
from notifier.models import CaseState, ChannelName, Letter, Receipt, Recipient, Status
from notifier.planner import Planner
from notifier.render import Renderer
from notifier.settings import Settings
from notifier.store import Store

log = get_logger(__name__)

ALERT_KIND = "delivery_failed"


class Deliverer:
    def __init__(
        self,
        store: Store,
        planner: Planner,
        renderer: Renderer,
        channels: Mapping[ChannelName, Channel],
        clock: Clock,
        settings: Settings,
    ) -> None:
        self.store = store
        self.planner = planner
        self.renderer = renderer
        self.catalog: Catalog = renderer.catalog
        self.channels = channels
        self.clock = clock
        self.settings = settings

    def deliver(self, letter_id: str) -> Status | None:
        """Deliver one letter; returns the status it ended in (None if unknown id)."""
        bound = log.bind(letter_id=letter_id)
        now = self.clock.now()
        lease = now + timedelta(seconds=self.settings.lease_seconds)
        status, attempts = self.store.begin_send(letter_id, lease, self.settings.max_attempts)
        if status is not Status.SENDING:
            bound.info("letter.skipped", status=status.value if status else "missing")
            return status
        letter = self.store.letter(letter_id)
        case = self.store.case(letter.case_id) if letter else None
        if letter is None or case is None:
            bound.error("letter.orphaned")
            return None
        bound = bound.bind(case_id=letter.case_id, kind=letter.kind, attempt=attempts)
        try:
            receipt, deadline, document = self._send(letter, case, now)
        except TransientError as exc:
            return self._retry(letter, str(exc), now, bound)
        except PermanentError as exc:
            return self._dead(letter, case, str(exc), now, bound)
        self.store.save_document(letter_id, document)
        self.store.transition(
            letter, (Status.SENDING, Status.QUEUED), Status.SENT, now,
            fields={"sent_at": now.isoformat(), "receipt": receipt.transport_id,
                    **({"deadline": deadline} if deadline else {})},
            audit={"channel": receipt.channel, "receipt": receipt.transport_id},
        )
        bound.info("letter.sent", channel=receipt.channel)
        return Status.SENT

    def _send(self, letter: Letter, case: CaseState, now: datetime
              ) -> tuple[Receipt, str | None, dict[str, str]]:
        calendar = self.planner.calendar
        send_date = calendar.local_date(now)
        letters = self.store.case_letters(letter.case_id)
        deadlines = self.planner.deadlines(letter, case, letters, send_date)
        context = letter_context(letter, case, self.settings, send_date, deadlines)
        rendered = self.renderer.render(letter.kind, context)
        outgoing = Outgoing(letter, self.catalog[letter.kind], rendered,
                            _address(letter, case), now)
        receipt = self.channels[letter.channel].deliver(outgoing)
        deadline = deadlines.get("deadline")
        document = {"title": rendered.title, "html": rendered.html, "text": rendered.text,
                    "sent_at": now.isoformat(), "channel": letter.channel.value}
        return receipt, deadline.isoformat() if deadline else None, document

    def _retry(self, letter: Letter, error: str, now: datetime, log: Any) -> Status:
        delay = min(self.settings.retry_base_seconds * 2 ** max(letter.attempts - 1, 0), 3600)
        if (now - letter.send_at).total_seconds() + delay > self.settings.retry_max_seconds:
            case = self.store.case(letter.case_id)
            assert case is not None
            return self._dead(letter, case, f"gave up retrying: {error}", now, log)
        self.store.transition(
            letter, (Status.SENDING,), Status.SCHEDULED, now,
            due=self.planner.calendar.send_window(now + timedelta(seconds=delay)),
            fields={"last_error": error[:500]}, audit={"error": error[:500], "retry_in": delay},
        )
        log.warning("letter.retry", error=error, retry_in_seconds=delay)
        return Status.SCHEDULED

    def _dead(self, letter: Letter, case: CaseState, reason: str, now: datetime,
              log: Any) -> Status:
        self.store.transition(letter, (Status.SENDING, Status.QUEUED), Status.DEAD, now,
                              fields={"reason": reason[:500]}, audit={"reason": reason[:500]})
        log.error("letter.dead", reason=reason)
        if letter.recipient is not Recipient.CASEWORKER and ALERT_KIND in self.catalog.kinds:
            self.store.add_letter(self._alert(letter, reason, now), now, why="alert_planned")
        return Status.DEAD

    def _alert(self, failed: Letter, reason: str, now: datetime) -> Letter:
        return Letter(
            letter_id=derive_letter_id(failed.case_id, failed.letter_id, ALERT_KIND),
            case_id=failed.case_id,
            kind=ALERT_KIND,
            recipient=Recipient.CASEWORKER,
            channel=ChannelName.MAIL,
            send_at=now,
            status=Status.SCHEDULED,
            cause=failed.letter_id,
            params={"failed_kind": failed.kind, "failed_title": self.catalog[failed.kind].title,
                    "failed_reason": reason[:300]},
        )


def _address(letter: Letter, case: CaseState) -> dict[str, Any]:
    if letter.recipient is Recipient.EMPLOYER:
        return dict(case.parties.get("employer") or {})
    if letter.recipient is Recipient.CASEWORKER:
        return dict(case.parties["caseworker"])
    return dict(case.parties["citizen"])
