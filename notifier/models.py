"""The records the planner reasons about and the store keeps: letters and case state."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict


class Recipient(StrEnum):
    CITIZEN = "citizen"
    EMPLOYER = "employer"
    CASEWORKER = "caseworker"


class ChannelName(StrEnum):
    DIGITAL_POST = "digital_post"
    PRINT = "print"
    MAIL = "mail"


class Status(StrEnum):
    SCHEDULED = "scheduled"  # waiting in the due set
    QUEUED = "queued"  # claimed by a dispatcher, message on its way to a worker (leased)
    SENDING = "sending"  # a worker is delivering it (leased)
    SENT = "sent"
    CANCELLED = "cancelled"
    SUPPRESSED = "suppressed"  # planned while the case was on standby; never sent
    HELD = "held"  # a stop decision waiting for a caseworker to release or cancel it
    DEAD = "dead"  # gave up; ``reason`` says why, and the caseworker was alerted
    # Issue 12: the request may have reached SF1601 (no answer, or its worker died after
    # the request left). Never cancellable; resolved by its PKO_PostStatus, or resent with
    # the same ids after NOTIFIER_UNCERTAIN_WAIT_SECONDS without one.
    UNCERTAIN = "uncertain"

    @property
    def pending(self) -> bool:
        """Still cancellable: nobody has started delivering it."""
        return self in (Status.SCHEDULED, Status.QUEUED)

    @property
    def final(self) -> bool:
        return self in (Status.SENT, Status.CANCELLED, Status.SUPPRESSED, Status.DEAD)


@dataclass(frozen=True)
class Letter:
    """One letter to one recipient. ``scope`` ties it to a meeting or decision id."""

    letter_id: str
    case_id: str
    kind: str
    recipient: Recipient
    channel: ChannelName
    send_at: datetime  # UTC; for a sent letter, when it was planned to go
    status: Status
    cause: str  # the event id that planned it
    scope: str = ""
    deadline: date | None = None  # as planned; recomputed from the actual send date
    params: dict[str, str] = field(default_factory=dict)
    cancelled_by: str | None = None
    sent_at: datetime | None = None
    attempts: int = 0
    reason: str | None = None  # why it is dead
    receipt: str | None = None  # the transport's id when sent (file name, SF1601, SMTP)
    receipt_status: str | None = None  # Digital Post's later business receipt, if any
    receipt_at: datetime | None = None
    last_error: str | None = None  # the latest transient failure, while retrying
    released_by: str | None = None  # who released it, if it was held (issue 11)
    handed_over: datetime | None = None  # when a request for it last left for SF1601
    resends: int = 0  # times it was resent after waiting out an uncertain outcome
    retries: int = 0  # times an operator retried it after it was dead (issue 13)
    # Issue 14: the rule set it was planned under, the templates it was rendered with.
    rules_version: str | None = None
    template_version: str | None = None

    def with_status(self, status: Status, **changes: Any) -> Letter:
        return replace(self, status=status, **changes)

    def to_hash(self) -> dict[str, str]:
        """Flat string fields for a Redis hash. To save memory (most letters wait months),
        empty optionals, a zero attempt count and the id (the key holds it) are left out."""
        raw = asdict(self)
        del raw["letter_id"]
        out: dict[str, str] = {}
        for key, value in raw.items():
            if value is None or value == "" or value == {} or (
                    key in ("attempts", "resends", "retries") and not value):
                continue
            if key == "params":
                out[key] = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
            elif key == "send_at":
                out[key] = epoch_text(value)  # 10 characters instead of 25
            elif isinstance(value, datetime | date):
                out[key] = value.isoformat()
            else:
                out[key] = str(value)
        return out

    @classmethod
    def from_hash(cls, letter_id: str, raw: dict[str, str]) -> Letter:
        return cls(
            letter_id=letter_id,
            case_id=raw["case_id"],
            kind=raw["kind"],
            recipient=Recipient(raw["recipient"]),
            channel=ChannelName(raw["channel"]),
            send_at=parse_send_at(raw["send_at"]),
            status=Status(raw["status"]),
            cause=raw["cause"],
            scope=raw.get("scope", ""),
            deadline=date.fromisoformat(raw["deadline"]) if raw.get("deadline") else None,
            params=json.loads(raw["params"]) if raw.get("params") else {},
            cancelled_by=raw.get("cancelled_by"),
            sent_at=_instant(raw.get("sent_at")),
            attempts=int(raw.get("attempts", "0")),
            reason=raw.get("reason"),
            receipt=raw.get("receipt"),
            receipt_status=raw.get("receipt_status"),
            receipt_at=_instant(raw.get("receipt_at")),
            last_error=raw.get("last_error"),
            released_by=raw.get("released_by"),
            handed_over=_instant(raw.get("handed_over")),
            resends=int(raw.get("resends", "0")),
            retries=int(raw.get("retries", "0")),
            rules_version=raw.get("rules_version"),
            template_version=raw.get("template_version"),
        )


def epoch_text(instant: datetime) -> str:
    """An instant as compact epoch seconds ("1795420800", or with a fraction)."""
    seconds = instant.timestamp()
    return str(int(seconds)) if seconds.is_integer() else repr(seconds)


def parse_send_at(text: str) -> datetime:
    # Letters stored before send_at became epoch seconds hold ISO 8601; both are read.
    if "T" in text:
        return datetime.fromisoformat(text)
    return datetime.fromtimestamp(float(text), UTC)


def _instant(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@dataclass(frozen=True)
class Receipt:
    """What a channel reports after delivering: which transport took it, under which id."""

    channel: str
    transport_id: str
    sent_at: datetime


class Meeting(BaseModel):
    model_config = ConfigDict(extra="forbid")

    meeting_id: str
    starts_at: datetime
    form: str
    location: str | None = None
    with_employer: bool = False
    agenda: str | None = None
    cancelled: bool = False
    previous_starts_at: datetime | None = None


class CaseState(BaseModel):
    """What the planner needs to know about a case between events.

    ``parties`` holds the citizen, employer and caseworker as the opening event gave them;
    ``facts`` holds dates later rules count from (``first_absence_day``, ...).
    """

    model_config = ConfigDict(extra="forbid")

    case_id: str
    closed: bool = False
    standby: bool = False
    last_occurred_at: datetime
    parties: dict[str, Any]
    facts: dict[str, Any] = {}
    meetings: dict[str, Meeting] = {}
    decisions: dict[str, dict[str, Any]] = {}
    # Issue 14: the local day the case was opened, which picks rules with an effective
    # date (rules.Overlay); None for cases opened before it was recorded (base rules).
    opened_on: date | None = None
