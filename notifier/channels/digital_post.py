"""Digital Post (e-Boks / mit.dk): a MeMo message (1.2, or 1.1) per letter, through a transport.

The letter id is the MeMo messageUUID on every attempt, so a retry after an ambiguous
failure is recognisable as the same message by Digital Post.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from notifier.channels.base import Outgoing, write_atomically
from notifier.delivery.memo import (
    MemoAction,
    MemoDocument,
    MemoMessage,
    MemoParty,
    MemoReservation,
    build_memo,
)
from notifier.delivery.render import Rendered
from notifier.errors import PermanentError
from notifier.identifiers import letter_id
from notifier.models import ChannelName, Receipt, Recipient
from notifier.planning.catalog import LetterKind
from notifier.settings import Settings


class MemoTransport(Protocol):
    def send(self, letter_id: str, memo: bytes) -> str:
        """Hand over one MeMo message; return the transport's id for it."""
        ...

    def close(self) -> None: ...


class FileTransport:
    """``<outbox>/<folder>/<letter id>.xml``: the embedded default and for inspection."""

    def __init__(self, outbox: Path, folder: str = "digital_post") -> None:
        self.directory = outbox / folder

    def send(self, letter_id: str, memo: bytes) -> str:
        path = self.directory / f"{letter_id}.xml"
        write_atomically(path, memo)
        return f"file:{path.name}"

    def close(self) -> None:
        pass  # nothing held open


@dataclass(frozen=True)
class MemoContent:
    """What goes into one MeMo message besides the parties."""

    message_uuid: str
    case_id: str
    kind: LetterKind
    rendered: Rendered
    pdf: bytes | None
    created: datetime
    meeting: dict[str, Any] | None = None


MEETING_MINUTES = 60  # the case system gives no end time; the calendar entry shows an hour
_FORMS = {"phone": "Telefonsamtale", "video": "Videomøde"}


def appointment(settings: Settings, case_id: str, meeting: dict[str, Any]) -> MemoAction:
    """The meeting as a calendar entry; the same meeting keeps its reservation id."""
    start: datetime = meeting["starts_at"]
    location = _FORMS.get(meeting["form"]) or meeting.get("location") or \
        settings.jobcenter_address
    booking = MemoReservation(
        reservation_uuid=letter_id(case_id, "reservation", str(meeting["meeting_id"])),
        description="Samtale i jobcentret", abstract="Opfølgningssamtale",
        location=location, start=start, end=start + timedelta(minutes=MEETING_MINUTES),
        organizer_name=settings.sender_name)
    return MemoAction(label="Sæt samtalen i din kalender", action_code="AFTALE",
                      reservation=booking)


def memo_message(settings: Settings, content: MemoContent, recipient: MemoParty) -> MemoMessage:
    """The MeMo message for a letter: PDF main document with the HTML alternative, or HTML
    with a text alternative when there is no PDF."""
    html = MemoDocument("brev.html", "text/html", content.rendered.html.encode("utf-8"))
    text = MemoDocument("brev.txt", "text/plain", content.rendered.text.encode("utf-8"))
    if content.pdf is not None:
        main, alternatives = MemoDocument("brev.pdf", "application/pdf", content.pdf), (html,)
    else:
        main, alternatives = html, (text,)
    actions: tuple[MemoAction, ...] = ()
    if content.kind.action:
        actions = (MemoAction(label=content.kind.action, url=settings.self_service_url),)
    if content.kind.calendar and content.meeting:
        actions += (appointment(settings, content.case_id, content.meeting),)
    return MemoMessage(
        message_uuid=content.message_uuid,
        label=content.kind.title,
        created=content.created,
        sender=MemoParty(settings.sender_cvr, "CVR", settings.sender_name),
        recipient=recipient,
        main_document=main,
        alternatives=alternatives,
        legal_notification=content.kind.legal_notification,
        notification=content.kind.notification,
        case_id=content.case_id,
        actions=actions,
        memo_version=settings.memo_version,
    )


class DigitalPost:
    name = ChannelName.DIGITAL_POST

    def __init__(self, settings: Settings, transport: MemoTransport) -> None:
        self.settings = settings
        self.transport = transport
        self.wants_pdf = settings.digital_post_pdf

    def deliver(self, outgoing: Outgoing) -> Receipt:
        memo = memo_bytes(self.message(outgoing))
        transport_id = self.transport.send(outgoing.letter.letter_id, memo)
        return Receipt(self.name.value, transport_id, outgoing.created)

    def message(self, outgoing: Outgoing) -> MemoMessage:
        return memo_message(self.settings, content_of(outgoing), memo_recipient(outgoing))

    def close(self) -> None:
        self.transport.close()


def memo_bytes(message: MemoMessage) -> bytes:
    """build_memo, with its refusal (which names the field) made a permanent error."""
    try:
        return build_memo(message)
    except ValueError as exc:
        raise PermanentError(f"MeMo message refused: {exc}") from None


def content_of(outgoing: Outgoing) -> MemoContent:
    letter = outgoing.letter
    return MemoContent(letter.letter_id, letter.case_id, outgoing.kind, outgoing.rendered,
                       outgoing.pdf, outgoing.created, outgoing.meeting)


def memo_recipient(outgoing: Outgoing) -> MemoParty:
    address = outgoing.address
    if outgoing.letter.recipient is Recipient.EMPLOYER:
        if not address.get("cvr"):
            raise PermanentError("employer.cvr: missing; cannot address Digital Post")
        return MemoParty(address["cvr"], "CVR", address.get("name", ""))
    if not address.get("cpr"):
        raise PermanentError("citizen.cpr: missing; cannot address Digital Post")
    return MemoParty(address["cpr"], "CPR", address.get("name", ""))
