"""Delivering one letter: the body of the ``deliver_letter`` actor, testable without Dramatiq.

Safe to run twice for the same id: only a ``queued`` letter is taken (atomically, to
``sending``), so a cancelled, sent or concurrently taken letter is skipped.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import redis

from notifier.channels.base import Channel, Outgoing
from notifier.clock import Clock
from notifier.delivery.context import letter_context
from notifier.delivery.pdf import PdfRenderer, sha256
from notifier.delivery.pending_document import adopt_pending, drop_pending, keep_pending
from notifier.delivery.render import Renderer
from notifier.errors import PermanentError, TransientError, UncertainError
from notifier.identifiers import letter_id as derive_letter_id
from notifier.logging import get_logger, redact_text
from notifier.models import CaseState, ChannelName, Letter, Receipt, Recipient, Status
from notifier.planning.catalog import Catalog
from notifier.planning.planner import Planner
from notifier.settings import Settings
from notifier.store import Store
from notifier.store.replication import NotReplicated

log = get_logger(__name__)

ALERT_KIND = "delivery_failed"
MAX_RETRY_DELAY = 3600  # seconds; the backoff doubles up to this, then stays
RECORD_RETRY_PAUSES = (0.5, 1.0, 2.0, 4.0, 8.0)  # seconds; well inside the lease
UNTAKE_DELAY = 5  # seconds; a letter whose take no replica confirmed is due again then


def given_back(letter: Letter) -> Status:
    """Where a letter goes when a send attempt is given back. A resend after an uncertain
    outcome may already be on the platform, so it stays uncertain (never cancellable, and
    settled by its PKO_PostStatus), not scheduled (issue 12)."""
    return Status.UNCERTAIN if letter.resends else Status.SCHEDULED


class NotHandedOver(Exception):
    """The 'handed over' mark was not confirmed on the replicas: the request must not
    leave, and the letter is given back as if never taken."""


class Deliverer:
    def __init__(
        self,
        store: Store,
        planner: Planner,
        renderer: Renderer,
        pdf: PdfRenderer,
        channels: Mapping[ChannelName, Channel],
        clock: Clock,
        settings: Settings,
    ) -> None:
        self.store = store
        self.planner = planner
        self.renderer = renderer
        self.pdf = pdf
        self.catalog: Catalog = renderer.catalog
        self.channels = channels
        self.clock = clock
        self.settings = settings
        self.forespoerg = _post_forespoerg(settings, channels)

    def deliver(self, letter_id: str) -> Status | None:
        """Deliver one letter; returns the status it ended in (None if unknown id)."""
        bound = log.bind(letter_id=letter_id)
        now = self.clock.now()
        lease = now + timedelta(seconds=self.settings.lease_seconds)
        resend_at = now + timedelta(seconds=self.settings.uncertain_wait_seconds)
        taken = self.store.take(letter_id, lease, self.settings.max_attempts,
                                resend_at=resend_at, now=now)
        status, attempts = taken.status, taken.attempts
        if status is Status.UNCERTAIN and attempts < 0:
            return self._taken_over_uncertain(letter_id, now, bound)
        if status is Status.DEAD and attempts > 0:  # this take found too many attempts
            return self._dead_from_attempts(taken.letter, now, bound)
        # attempts == 0: not taken. A letter another worker is sending right now also
        # reports 'sending' (a duplicate message); only the worker that took it may send.
        if status is not Status.SENDING or attempts == 0:
            bound.info("letter.skipped", status=status.value if status else "missing")
            return status
        letter, case = taken.letter, taken.case
        try:
            # Issue 15: the take must survive a failover before the letter leaves, or a
            # promoted replica would hand it to a second worker as never attempted.
            self.store.confirm_status(letter_id, Status.SENDING)
        except NotReplicated as exc:
            return self._untake(letter, attempts, str(exc), now, bound)
        if letter is None or case is None:
            bound.error("letter.orphaned")
            return None
        bound = bound.bind(case_id=letter.case_id, kind=letter.kind, attempt=attempts)
        if letter.receipt_status:
            return self._settle_by_receipt(letter, now, bound)
        if letter.kind == ALERT_KIND and (verdict := self._failure_verdict(letter)) != "stands":
            return self._hold_alert(letter, verdict, now, bound)
        try:
            letter = self._choose_channel(letter, case, now, bound)
            receipt, deadline, document = self._send(letter, case, now)
        except NotHandedOver as exc:
            return self._untake(letter, attempts, str(exc), now, bound)
        except UncertainError as exc:
            return self._uncertain(letter, str(exc), now, bound)
        except TransientError as exc:
            return self._retry(letter, exc, now, bound)
        except PermanentError as exc:
            return self._dead(letter, case, str(exc), now, bound)
        self._record_sent(letter, receipt, deadline, document, now)
        bound.info("letter.sent", channel=receipt.channel)
        return Status.SENT

    def _record_sent(self, letter: Letter, receipt: Receipt, deadline: str | None,
                     document: dict[str, str], now: datetime) -> None:
        """Record the send, riding out a short Redis outage: if the record were lost, the
        letter would be retaken after its lease and go out a second time."""
        for pause in (*RECORD_RETRY_PAUSES, None):
            try:
                # Issue 16: the document, the move to sent and dropping the pending copy
                # (issue 13: stored for good) are one atomic step.
                moved = self.store.transition(
                    # UNCERTAIN: our lease ran out during a slow send and another worker
                    # marked it uncertain; the platform's answer settles it as sent.
                    letter, (Status.SENDING, Status.QUEUED, Status.UNCERTAIN), Status.SENT, now,
                    fields={"sent_at": now.isoformat(), "receipt": receipt.transport_id,
                            **({"deadline": deadline} if deadline else {}),
                            **_versions(document)},
                    audit={"channel": receipt.channel, "receipt": receipt.transport_id},
                    document=document,
                )
                # Issue 15: confirmed on the replicas, or written again (a failover may have
                # lost it: then the transition applies anew on the promoted replica).
                if moved or self._is_sent(letter.letter_id):
                    self.store.confirm_status(letter.letter_id, Status.SENT)
                return
            except (redis.ConnectionError, redis.TimeoutError):
                if pause is None:
                    raise
                log.warning("letter.record_retry", letter_id=letter.letter_id, pause=pause)
                time.sleep(pause)

    def _untake(self, letter: Letter | None, attempts: int, error: str, now: datetime,
                log: Any) -> Status:
        """Give back a letter whose take (or handed-over mark) the replicas did not confirm:
        due again shortly,
        and not counted as an attempt (no replica for a while must not make letters dead).
        If even this is lost in a failover, the letter's lease brings it back."""
        log.warning("letter.take_unconfirmed", error=error[:200], retry_in_seconds=UNTAKE_DELAY)
        if letter is None:
            return Status.SCHEDULED
        back = given_back(letter)
        self.store.transition(letter, (Status.SENDING,), back, now,
                              due=now + timedelta(seconds=UNTAKE_DELAY),
                              fields={"attempts": str(max(attempts - 1, 0))},
                              audit={"reason": "no replica confirmed the take"})
        return back

    def _is_sent(self, letter_id: str) -> bool:
        current = self.store.letter(letter_id)
        return current is not None and current.status is Status.SENT

    def _send(self, letter: Letter, case: CaseState, now: datetime
              ) -> tuple[Receipt, str | None, dict[str, str]]:
        calendar = self.planner.calendar
        send_date = calendar.local_date(now)
        letters = (self.store.case_letters(letter.case_id)
                   if self.planner.needs_letters(letter, case) else {})
        deadlines = self.planner.deadlines(letter, case, letters, send_date)
        context = letter_context(letter, case, self.settings, send_date, deadlines)
        rendered = self.renderer.render(letter.kind, context)
        channel = self.channels[letter.channel]
        pdf = self.pdf.render(rendered) if channel.wants_pdf else None
        meeting = case.meetings.get(letter.scope) if letter.scope else None
        outgoing = Outgoing(letter, self.catalog[letter.kind], rendered,
                            _address(letter, case), now, pdf,
                            meeting.model_dump() if meeting else None)
        deadline = deadlines.get("deadline")
        # The PDF is rebuilt from this HTML on request; its hash proves it is the same one.
        document = {"title": rendered.title, "html": rendered.html, "text": rendered.text,
                    "sent_at": now.isoformat(), "channel": letter.channel.value,
                    **({"pdf_sha256": sha256(pdf)} if pdf else {}),
                    **({"template_version": rendered.template_version}
                       if rendered.template_version else {}),
                    **({"rules_version": letter.rules_version} if letter.rules_version else {})}
        if self._awaits_receipt(letter):
            # Issue 13: kept first, so a send settled later by its receipt has its document.
            keep_pending(self.store.redis, letter.letter_id, document)
            try:
                self.store.mark_handed_over(letter.letter_id, now)
            except NotReplicated as exc:
                raise NotHandedOver(str(exc)) from None
        receipt = channel.deliver(outgoing)
        return receipt, deadline.isoformat() if deadline else None, document

    def _choose_channel(self, letter: Letter, case: CaseState, now: datetime,
                        log: Any) -> Letter:
        """Issue 12: before a citizen's Digital Post letter is rendered, ask SF1601
        PostForespoerg; one who cannot receive Digital Post gets paper post (its deadlines
        are computed for the channel it goes by). The case's ``digital_post: false``
        already chose print in the planner; a ``true`` is checked against the platform."""
        if (self.forespoerg is None or letter.channel is not ChannelName.DIGITAL_POST
                or letter.recipient is not Recipient.CITIZEN):
            return letter
        cpr = str(case.parties["citizen"].get("cpr", ""))
        if not cpr or self.forespoerg.can_receive(cpr):
            return letter
        changed = replace(letter, channel=ChannelName.PRINT)
        self.store.set_channel(letter, ChannelName.PRINT, now,
                               why="PostForespoerg: the citizen cannot receive Digital Post")
        log.info("letter.channel_changed", channel=ChannelName.PRINT.value)
        return changed

    def _awaits_receipt(self, letter: Letter) -> bool:
        """Letters that go to SF1601, whose PKO_PostStatus can settle an uncertain send."""
        transport = {ChannelName.DIGITAL_POST: self.settings.digital_post_transport,
                     ChannelName.PRINT: self.settings.print_transport}.get(letter.channel)
        return transport == "http"

    def _uncertain(self, letter: Letter, why: str, now: datetime, log: Any) -> Status:
        """The request may have reached SF1601: never sent, never cancellable; it waits for
        its PKO_PostStatus and is resent with the same ids only after the wait (issue 12)."""
        settled = self.store.letter(letter.letter_id)
        if settled is not None and settled.receipt_status:
            return self._settle_by_receipt(settled, now, log)
        resend_at = now + timedelta(seconds=self.settings.uncertain_wait_seconds)
        self.store.transition(letter, (Status.SENDING,), Status.UNCERTAIN, now, due=resend_at,
                              fields={"last_error": redact_text(why)[:300]},
                              audit={"why": redact_text(why)[:300],
                                     "resend_at": resend_at.isoformat()})
        log.warning("letter.uncertain", why=why, resend_at=resend_at.isoformat())
        return Status.UNCERTAIN

    def _settle_by_receipt(self, letter: Letter, now: datetime, log: Any) -> Status:
        """The platform's PKO_PostStatus came while the letter was being sent (its request
        got through, our side timed out): it is sent, once, and never sent again. The
        document handed over becomes the sent one first (issue 13)."""
        adopt_pending(self.store.redis, letter.letter_id)
        self.store.transition(
            letter, (Status.SENDING,), Status.SENT, now,
            fields={"sent_at": (letter.handed_over or now).isoformat(),
                    "receipt": letter.receipt or "sf1601:receipt"},
            audit={"why": "its PKO_PostStatus came while it was being sent"})
        log.info("letter.settled_by_receipt", receipt_status=letter.receipt_status)
        return Status.SENT

    def _taken_over_uncertain(self, letter_id: str, now: datetime, log: Any) -> Status:
        letter = self.store.letter(letter_id)
        if letter is not None:
            self.store.add_audit(letter.case_id, now, Status.UNCERTAIN.value,
                                 letter_id=letter_id, kind=letter.kind,
                                 why="its worker died after the request left")
        log.warning("letter.uncertain", why="taken over after the request left")
        return Status.UNCERTAIN

    def _retry(self, letter: Letter, exc: TransientError, now: datetime, log: Any) -> Status:
        error = str(exc)
        if letter.resends:  # the first request may be on the platform: wait for its status
            return self._uncertain(letter, f"resend failed for now: {error}", now, log)
        backoff = self.settings.retry_base_seconds * 2 ** max(letter.attempts - 1, 0)
        delay = min(max(backoff, exc.retry_after or 0), MAX_RETRY_DELAY)
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
        # The alert is stored first: a crash between the two steps leaves the letter to be
        # retried (and the alert withdrawn if that succeeds), never dead without an alert.
        alert = failure_alert(self.catalog, letter, reason, now)
        if alert is not None:
            self.store.add_letter(alert, now, why="alert_planned")
        self.store.transition(letter, (Status.SENDING, Status.QUEUED), Status.DEAD, now,
                              fields={"reason": reason[:500]}, audit={"reason": reason[:500]})
        if not letter.resends:  # never on the platform (a resend's first try may be)
            drop_pending(self.store.redis, letter.letter_id)
        log.error("letter.dead", reason=reason)
        return Status.DEAD

    def _dead_from_attempts(self, letter: Letter | None, now: datetime, log: Any) -> Status:
        """Issue 13: begin_send marked it dead (with its audit entry and callback); the
        caseworker is alerted and the error logged as on every other way to dead. The
        letter is as the take left it, so an operator's retry meanwhile cannot give this
        alert the id of the next death's."""
        if letter is not None:
            alert = failure_alert(self.catalog, letter, "too many attempts", now)
            if alert is not None:
                self.store.add_letter(alert, now, why="alert_planned")
        log.error("letter.dead", reason="too many attempts")
        return Status.DEAD

    def _failure_verdict(self, alert: Letter) -> str:
        """"stands" if the alert's letter is dead or Digital Post reported it undeliverable;
        "pending" while it is still being tried; "withdrawn" if it went after all."""
        failed = self.store.letter(alert.cause)
        if failed is None:
            return "withdrawn"
        if failed.status is Status.DEAD or failed.receipt_status == "failed":
            return "stands"
        return "withdrawn" if failed.status.final else "pending"

    def _wait(self, letter: Letter, why: str, now: datetime, log: Any) -> Status:
        """Look again after a lease; waiting is not a delivery attempt, so it does not
        count towards max_attempts (nor can a long wait make the letter dead)."""
        self.store.transition(letter, (Status.SENDING,), Status.SCHEDULED, now,
                              due=now + timedelta(seconds=self.settings.lease_seconds),
                              fields={"attempts": str(max(letter.attempts - 1, 0))},
                              audit={"reason": why})
        log.info("letter.waiting", why=why)
        return Status.SCHEDULED

    def _hold_alert(self, alert: Letter, verdict: str, now: datetime, log: Any) -> Status:
        if verdict == "pending":
            # Stored just before its letter was marked dead, or the worker died in between
            # and the letter waits for its lease.
            return self._wait(alert, "waiting for the failed letter's outcome", now, log)
        self.store.transition(alert, (Status.SENDING,), Status.CANCELLED, now,
                              audit={"reason": "the failed letter was delivered after all"})
        log.info("letter.alert_withdrawn")
        return Status.CANCELLED


def _versions(document: Mapping[str, str]) -> dict[str, str]:
    """Issue 14: the template version the sent document was rendered with, for the letter."""
    return {k: document[k] for k in ("template_version",) if k in document}


def failure_alert(catalog: Catalog, failed: Letter, reason: str, now: datetime
                  ) -> Letter | None:
    """The caseworker's ``delivery_failed`` alert for a citizen or employer letter (an
    alert that failed itself cannot alert anyone by the same road: it is logged, dead).
    A letter an operator retried that dies again gets a new alert (its own id)."""
    if failed.recipient is Recipient.CASEWORKER or ALERT_KIND not in catalog.kinds:
        return None
    death = f"{ALERT_KIND}#{failed.retries}" if failed.retries else ALERT_KIND
    return Letter(
        letter_id=derive_letter_id(failed.case_id, failed.letter_id, death),
        case_id=failed.case_id,
        kind=ALERT_KIND,
        recipient=Recipient.CASEWORKER,
        channel=ChannelName.MAIL,
        send_at=now,
        status=Status.SCHEDULED,
        cause=failed.letter_id,
        params={"failed_kind": failed.kind, "failed_title": catalog[failed.kind].title,
                "failed_reason": redact_text(reason)[:300]},
    )


def _post_forespoerg(settings: Settings, channels: Mapping[ChannelName, Channel]) -> Any:
    """The PostForespoerg client when Digital Post goes to SF1601 (None otherwise)."""
    from notifier.channels.gateway import find_gateway
    from notifier.channels.postforespoerg import PostForespoerg

    gateway = find_gateway(channels)
    if settings.digital_post_transport != "http" or not settings.postforespoerg_url or \
            gateway is None:
        return None
    return PostForespoerg(settings, gateway)


def _address(letter: Letter, case: CaseState) -> dict[str, Any]:
    if letter.recipient is Recipient.EMPLOYER:
        return dict(case.parties.get("employer") or {})
    if letter.recipient is Recipient.CASEWORKER:
        return dict(case.parties["caseworker"])
    return dict(case.parties["citizen"])
