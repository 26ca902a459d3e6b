"""One letter: its view for the timeline, the document that was sent, and cancelling it.

Cancelling is one atomic status transition (scheduled or queued -> cancelled). The worker
only ever takes a ``queued`` letter, atomically, to ``sending``; so a letter cancelled
here is never sent, and a letter a worker has started is never reported cancelled.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from notifier.api.errors import NotFoundError
from notifier.calendar import DanishCalendar
from notifier.delivery.pdf import PdfRenderer, sha256
from notifier.delivery.render import Rendered
from notifier.errors import ConflictError, InputError
from notifier.intake.plaintext import control_problem
from notifier.logging import redact_text
from notifier.models import Letter, Status
from notifier.planning.catalog import Catalog
from notifier.store import Store

LETTER_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
CANCELLABLE = (Status.SCHEDULED, Status.QUEUED, Status.HELD)  # held: issue 11


def letter_view(letter: Letter, catalog: Catalog, calendar: DanishCalendar) -> dict[str, Any]:
    """The letter as the API and the caseworker pages show it (times in local time)."""

    def local(instant: datetime | None) -> str | None:
        return calendar.local(instant).isoformat() if instant else None

    return {
        "letter_id": letter.letter_id,
        "case_id": letter.case_id,
        "kind": letter.kind,
        "title": catalog.kinds[letter.kind].title if letter.kind in catalog.kinds else letter.kind,
        "recipient": letter.recipient.value,
        "channel": letter.channel.value,
        "status": letter.status.value,
        "send_at": local(letter.send_at),
        "sent_at": local(letter.sent_at),
        "deadline": letter.deadline.isoformat() if letter.deadline else None,
        "cause": letter.cause,
        "cancelled_by": letter.cancelled_by,
        "reason": letter.reason,
        "attempts": letter.attempts,
        "last_error": letter.last_error,
        "receipt": letter.receipt,
        "receipt_status": letter.receipt_status,
        "receipt_at": local(letter.receipt_at),
        "cancellable": letter.status in CANCELLABLE,
        "releasable": letter.status is Status.HELD,
        "released_by": letter.released_by,
        "has_document": letter.status is Status.SENT,
        "rules_version": letter.rules_version,  # issue 14
        "template_version": letter.template_version,
    }


def find_letter(store: Store, letter_id: str) -> Letter:
    if not LETTER_ID.match(letter_id):
        raise InputError.single("letter_id", "must be a letter id (a lowercase UUID)")
    letter = store.letter(letter_id)
    if letter is None:
        raise NotFoundError.single("letter_id", "unknown letter")
    return letter


def sent_document(store: Store, letter_id: str) -> dict[str, str]:
    """The document exactly as it was sent (title, html, text, sent_at, channel, ...)."""
    letter = find_letter(store, letter_id)
    document = store.document(letter_id)
    if document is None:
        raise NotFoundError.single(
            "letter_id", f"no document: the letter has not been sent (status {letter.status})")
    return document


def document_pdf(pdf: PdfRenderer, document: dict[str, str]) -> bytes:
    """The sent letter as PDF, rebuilt from the stored HTML (rendering is deterministic).

    If a PDF went out, its SHA-256 was kept: a rebuilt PDF that differs is refused rather
    than passed off as the document that was sent. A letter sent before issue 16 had its PDF
    from WeasyPrint: ``rebuild`` makes that one again when the kept hash names it.
    """
    rendered = Rendered(kind="document", title=document["title"], html=document["html"],
                        text=document.get("text", ""))
    kept = document.get("pdf_sha256")
    data = pdf.rebuild(rendered, kept)
    if kept and sha256(data) != kept:
        raise ConflictError.single(
            "format", "the rebuilt PDF differs from the one sent; use the HTML document")
    return data


def cancel_letter(store: Store, letter_id: str, now: datetime, *, by: str,
                  reason: str | None = None) -> tuple[Letter, bool]:
    """Cancel a letter nobody has started sending. Returns (letter, whether this call
    cancelled it); an already cancelled letter is fine (a retried request)."""
    letter = find_letter(store, letter_id)
    problem = control_problem(reason) if reason else None
    if problem:
        raise InputError.single("reason", problem)
    audit = {"by": by, **({"reason": redact_text(reason)[:300]} if reason else {})}
    if store.transition(letter, CANCELLABLE, Status.CANCELLED, now,
                        fields={"cancelled_by": by}, audit=audit):
        # Issue 15: a cancel lost in a failover would let the letter go out after all.
        store.confirm_status(letter_id, Status.CANCELLED)
        return find_letter(store, letter_id), True
    current = find_letter(store, letter_id)  # it moved on between our read and the swap
    if current.status is Status.CANCELLED:
        store.confirm_status(letter_id, Status.CANCELLED)
        return current, False
    raise ConflictError.single(
        "status", f"the letter is {current.status}; only a scheduled, queued or held letter "
        "can be cancelled")
