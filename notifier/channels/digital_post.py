"""Digital Post (e-Boks / mit.dk): a MeMo 1.1 message per letter, through a transport.

The letter id is the MeMo messageUUID on every attempt, so a retry after an ambiguous
failure is recognisable as the same message by Digital Post.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from notifier.channels.base import Outgoing, write_atomically
from notifier.errors import PermanentError
from notifier.memo import MemoAction, MemoDocument, MemoMessage, MemoParty, build_memo
from notifier.models import ChannelName, Receipt, Recipient
from notifier.settings import Settings


class MemoTransport(Protocol):
    def send(self, letter_id: str, memo: bytes) -> str:
        """Hand over one MeMo message; return the transport's id for it."""
        ...


class FileTransport:
    """``<outbox>/digital_post/<letter id>.xml``: the embedded default and for inspection."""

    def __init__(self, outbox: Path) -> None:
        self.directory = outbox / "digital_post"

    def send(self, letter_id: str, memo: bytes) -> str:
        path = self.directory / f"{letter_id}.xml"
        write_atomically(path, memo)
        return f"file:{path.name}"


class DigitalPost:
    name = ChannelName.DIGITAL_POST

    def __init__(self, settings: Settings, transport: MemoTransport) -> None:
        self.settings = settings
        self.transport = transport

    def deliver(self, outgoing: Outgoing) -> Receipt:
        memo = build_memo(self.message(outgoing))
        transport_id = self.transport.send(outgoing.letter.letter_id, memo)
        return Receipt(self.name.value, transport_id, outgoing.created)

    def message(self, outgoing: Outgoing) -> MemoMessage:
        kind = outgoing.kind
        actions: tuple[MemoAction, ...] = ()
        if kind.action:
            actions = (MemoAction(label=kind.action, url=self.settings.self_service_url),)
        return MemoMessage(
            message_uuid=outgoing.letter.letter_id,
            label=kind.title,
            created=outgoing.created,
            sender=MemoParty(self.settings.sender_cvr, "CVR", self.settings.sender_name),
            recipient=_recipient(outgoing),
            main_document=MemoDocument("brev.html", "text/html",
                                       outgoing.rendered.html.encode("utf-8")),
            alternatives=(MemoDocument("brev.txt", "text/plain",
                                       outgoing.rendered.text.encode("utf-8")),),
            legal_notification=kind.legal_notification,
            notification=kind.notification,
            case_id=outgoing.letter.case_id,
            actions=actions,
        )


def _recipient(outgoing: Outgoing) -> MemoParty:
    address = outgoing.address
    if outgoing.letter.recipient is Recipient.EMPLOYER:
        if not address.get("cvr"):
            raise PermanentError("employer.cvr: missing; cannot address Digital Post")
        return MemoParty(address["cvr"], "CVR", address.get("name", ""))
    if not address.get("cpr"):
        raise PermanentError("citizen.cpr: missing; cannot address Digital Post")
    return MemoParty(address["cpr"], "CPR", address.get("name", ""))
