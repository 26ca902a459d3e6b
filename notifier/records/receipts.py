"""Digital Post business receipts: the asynchronous word, after the gateway accepted a
message, on whether it reached the recipient's mailbox.

A receipt names the letter by its messageUUID (our letter id). It is stored on the letter
with an audit entry; the same receipt delivered twice is recorded once. A failed
delivery (e.g. the recipient has no Digital Post mailbox after all) alerts the caseworker,
who must arrange another way: nothing may fail silently.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from notifier.delivery.deliverer import failure_alert
from notifier.delivery.pending_document import adopt_pending
from notifier.errors import ConflictError, InputError
from notifier.identifiers import letter_id as derive_letter_id
from notifier.intake.bounds import horizon_errors
from notifier.intake.events import AwareDateTime, field_errors
from notifier.logging import redact_text
from notifier.models import ChannelName, Letter, Recipient, Status
from notifier.planning.catalog import Catalog
from notifier.store import Store

UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"


class ReceiptStatus(StrEnum):
    RECEIVED = "received"  # the platform has it (PKO_PostStatus "Modtaget …", "Afsendt")
    DELIVERED = "delivered"  # in the recipient's mailbox, or handed to print and post
    READ = "read"  # UNSOURCED: no public SF1601 source shows a "read" status (issue 12)
    FAILED = "failed"  # could not be delivered; needs another way


# A later status never overwrites a further one (statuses may arrive out of order).
RANK = {ReceiptStatus.RECEIVED: 0, ReceiptStatus.DELIVERED: 1, ReceiptStatus.READ: 2,
        ReceiptStatus.FAILED: 3}


class BusinessReceipt(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    message_uuid: str = Field(pattern=UUID_PATTERN, description="The letter id")
    status: ReceiptStatus
    received_at: AwareDateTime = Field(description="When Digital Post registered it")
    reason: str | None = Field(default=None, max_length=300)
    platform_status: str | None = Field(default=None, max_length=100,
                                        description="PKO_PostStatus TransaktionsStatusKode")
    transmission_id: str | None = Field(default=None, max_length=64,
                                        description="PKO_PostStatus TransmissionId")


# Business receipts exist for what went through Digital Post (digitally or as paper).
RECEIPTED = (ChannelName.DIGITAL_POST, ChannelName.PRINT)


def parse_receipt(data: Any, now: datetime) -> BusinessReceipt:
    if not isinstance(data, dict):
        raise InputError.single("receipt", "must be a JSON object")
    try:
        receipt = BusinessReceipt.model_validate(data)
    except ValidationError as exc:
        raise InputError(field_errors(exc.errors())) from None
    ahead = horizon_errors({"received_at": receipt.received_at}, now)
    if ahead:
        raise InputError(ahead)
    return receipt


def receipt_letter(store: Store, receipt: BusinessReceipt) -> Letter:
    """The letter a receipt is about, if a receipt may be recorded on it (else the error a
    sender must see). A letter that passes cannot stop passing: these statuses only move
    on to ``sent``."""
    letter = store.letter(receipt.message_uuid)
    if letter is None:
        raise InputError.single("message_uuid", "no letter has this messageUUID")
    if letter.channel not in RECEIPTED:
        raise ConflictError.single("message_uuid", f"the letter went by {letter.channel}; "
                                   "only Digital Post and print letters get receipts")
    if letter.status not in (Status.SENDING, Status.SENT, Status.UNCERTAIN):
        raise ConflictError.single("message_uuid",
                                   f"the letter was never handed over (status {letter.status})")
    return letter


def accept_receipt(store: Store, catalog: Catalog, data: Any, now: datetime, *,
                   paper_resend: bool = True) -> dict[str, Any]:
    """Record one receipt; returns ``{"letter_id", "outcome": "recorded"|"duplicate"|
    "superseded"}`` (and ``"resent_by_paper"``: the new letter's id, when one was planned)."""
    receipt = parse_receipt(data, now)
    letter = receipt_letter(store, receipt)
    if letter.status is Status.UNCERTAIN:
        # Any status proves the platform has the letter: it was sent, once (issue 12).
        # Issue 13: the document handed over becomes the sent one before the change (and
        # its letter.sent callback) is written.
        adopt_pending(store.redis, letter.letter_id)
        store.transition(letter, (Status.UNCERTAIN,), Status.SENT, now,
                         fields={"sent_at": (letter.handed_over or now).isoformat(),
                                 "receipt": f"sf1601:{receipt.transmission_id or '?'}"},
                         audit={"why": "its PKO_PostStatus settled an uncertain send"})
    held = ReceiptStatus(letter.receipt_status) if letter.receipt_status in set(
        ReceiptStatus) else None
    if held is not None and RANK[held] > RANK[receipt.status]:
        return {"letter_id": letter.letter_id, "outcome": "superseded"}
    fields = {"receipt_status": receipt.status.value,
              "receipt_at": receipt.received_at.isoformat()}
    # Digital Post's words, not ours: masked rather than refused, so the receipt is kept.
    reason = redact_text(receipt.reason) if receipt.reason else None
    if reason:
        fields["receipt_reason"] = reason
    if receipt.platform_status:
        fields["receipt_platform_status"] = receipt.platform_status
    recorded = store.record_receipt(letter, fields, now)
    result = {"letter_id": letter.letter_id, "outcome": "recorded" if recorded else "duplicate"}
    if receipt.status is ReceiptStatus.FAILED:
        # Also for a status delivered again: the first delivery may have been recorded and
        # then died (or got a 503) before planning these. Their ids are derived from the
        # letter, so each is planned once however often the status comes.
        reason = f"Digital Post could not deliver it: {reason or 'no reason given'}"
        alert = failure_alert(catalog, letter, reason, now)
        if alert is not None:
            store.add_letter(alert, now, why="alert_planned")
        resend = paper_copy(letter, now) if paper_resend and still_news(store, letter) else None
        if resend is not None and store.add_letter(
                resend, now, why="paper_resend", audit={"resends": letter.letter_id}):
            result["resent_by_paper"] = resend.letter_id
    # Issue 15: the sender will not deliver the status again once we answered, so confirm
    # last: WAIT covers every write before it, the alert and the paper copy too.
    store.confirm_letter(letter.letter_id, "receipt_at", fields["receipt_at"])
    return result


# The citizen's notices that a meeting moved or was called off: once one was planned after
# a letter about the meeting, that letter's time no longer holds.
SUPERSEDING = ("meeting_rescheduled", "meeting_cancelled")


def still_news(store: Store, failed: Letter) -> bool:
    """Whether a failed letter still says something true, so a paper copy is worth
    sending: not a summons or reminder for a meeting since moved or called off (the
    citizen would be summoned to a time that no longer holds; the caseworker's alert
    stands either way). The notice of the move or cancellation itself is news, and so is
    anything in a closed case: a decision must reach the citizen whatever came after."""
    if not failed.scope:
        return True
    return not any(other.kind in SUPERSEDING and other.scope == failed.scope
                   and other.cause != failed.cause and other.send_at >= failed.send_at
                   for other in store.case_letters(failed.case_id).values())


def paper_copy(failed: Letter, now: datetime) -> Letter | None:
    """Issue 12: a citizen's Digital Post letter that failed goes again by paper post, as a
    new letter linked to the first (``cause``); its deadlines are computed when it is sent,
    from its own send date. The derived id makes a redelivered status plan it once."""
    if failed.recipient is not Recipient.CITIZEN or failed.channel is not ChannelName.DIGITAL_POST:
        return None
    return replace(
        failed, letter_id=derive_letter_id(failed.case_id, failed.letter_id, "paper_resend"),
        channel=ChannelName.PRINT, send_at=now, status=Status.SCHEDULED, cause=failed.letter_id,
        cancelled_by=None, sent_at=None, attempts=0, reason=None, receipt=None,
        receipt_status=None, receipt_at=None, last_error=None, handed_over=None, resends=0,
        retries=0)
