"""Digital Post business receipts: the asynchronous word, after the gateway accepted a
message, on whether it reached the recipient's mailbox.

A receipt names the letter by its messageUUID (our letter id). It is stored on the letter
with an audit entry; the same receipt delivered twice is recorded once. A failed
delivery (e.g. the recipient has no Digital Post mailbox after all) alerts the caseworker,
who must arrange another way: nothing may fail silently.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from notifier.bounds import horizon_errors
from notifier.catalog import Catalog
from notifier.delivery import failure_alert
from notifier.errors import ConflictError, InputError
from notifier.events import AwareDateTime, field_errors
from notifier.logging import redact_text
from notifier.models import ChannelName, Status
from notifier.store import Store

UUID_PATTERN = r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"


class ReceiptStatus(StrEnum):
    DELIVERED = "delivered"  # in the recipient's mailbox
    READ = "read"  # opened (where the mailbox reports it)
    FAILED = "failed"  # could not be delivered; needs another way


class BusinessReceipt(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    message_uuid: str = Field(pattern=UUID_PATTERN, description="The letter id")
    status: ReceiptStatus
    received_at: AwareDateTime = Field(description="When Digital Post registered it")
    reason: str | None = Field(default=None, max_length=300)


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


def accept_receipt(store: Store, catalog: Catalog, data: Any, now: datetime) -> dict[str, Any]:
    """Record one receipt; returns ``{"letter_id", "outcome": "recorded"|"duplicate"}``."""
    receipt = parse_receipt(data, now)
    letter = store.letter(receipt.message_uuid)
    if letter is None:
        raise InputError.single("message_uuid", "no letter has this messageUUID")
    if letter.channel not in RECEIPTED:
        raise ConflictError.single("message_uuid", f"the letter went by {letter.channel}; "
                                   "only Digital Post and print letters get receipts")
    if letter.status not in (Status.SENDING, Status.SENT):
        raise ConflictError.single("message_uuid",
                                   f"the letter was never handed over (status {letter.status})")
    fields = {"receipt_status": receipt.status.value,
              "receipt_at": receipt.received_at.isoformat()}
    # Digital Post's words, not ours: masked rather than refused, so the receipt is kept.
    reason = redact_text(receipt.reason) if receipt.reason else None
    if reason:
        fields["receipt_reason"] = reason
    recorded = store.record_receipt(letter, fields, now)
    if recorded and receipt.status is ReceiptStatus.FAILED:
        reason = f"Digital Post could not deliver it: {reason or 'no reason given'}"
        alert = failure_alert(catalog, letter, reason, now)
        if alert is not None:
            store.add_letter(alert, now, why="alert_planned")
    return {"letter_id": letter.letter_id, "outcome": "recorded" if recorded else "duplicate"}
