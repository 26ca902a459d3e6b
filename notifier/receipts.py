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

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from notifier.catalog import Catalog
from notifier.delivery import failure_alert
from notifier.errors import ConflictError, FieldError, InputError
from notifier.logging import redact_text
from notifier.models import Status
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
    received_at: AwareDatetime = Field(description="When Digital Post registered it")
    reason: str | None = Field(default=None, max_length=300)


def parse_receipt(data: Any) -> BusinessReceipt:
    try:
        return BusinessReceipt.model_validate(data)
    except ValidationError as exc:
        raise InputError([FieldError(".".join(str(p) for p in err["loc"]) or "receipt",
                                     err["msg"]) for err in exc.errors()]) from None


def accept_receipt(store: Store, catalog: Catalog, data: Any, now: datetime) -> dict[str, Any]:
    """Record one receipt; returns ``{"letter_id", "outcome": "recorded"|"duplicate"}``."""
    receipt = parse_receipt(data)
    letter = store.letter(receipt.message_uuid)
    if letter is None:
        raise InputError.single("message_uuid", "no letter has this messageUUID")
    if letter.status not in (Status.SENDING, Status.SENT):
        raise ConflictError.single("message_uuid",
                                   f"the letter was never handed over (status {letter.status})")
    fields = {"receipt_status": receipt.status.value,
              "receipt_at": receipt.received_at.isoformat()}
    if receipt.reason:
        fields["receipt_reason"] = redact_text(receipt.reason)
    recorded = store.record_receipt(letter, fields, now)
    # Issue 15: the sender will not deliver the receipt again once we answered.
    store.confirm_letter(letter.letter_id, "receipt_at", fields["receipt_at"])
    if recorded and receipt.status is ReceiptStatus.FAILED:
        reason = f"Digital Post could not deliver it: {receipt.reason or 'no reason given'}"
        alert = failure_alert(catalog, letter, reason, now)
        if alert is not None:
            store.add_letter(alert, now, why="alert_planned")
    return {"letter_id": letter.letter_id, "outcome": "recorded" if recorded else "duplicate"}
