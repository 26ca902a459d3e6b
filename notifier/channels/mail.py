"""Caseworker alerts by e-mail. Sensitive letters are refused: they never go by e-mail.

An alert names the case, what is due and when, and links to the case page; it never
carries a CPR number or a citizen letter's body (the mail templates have neither).
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Protocol

from notifier.channels.base import Outgoing, write_atomically
from notifier.errors import PermanentError
from notifier.models import ChannelName, Receipt


def build_email(outgoing: Outgoing, sender: str) -> EmailMessage:
    if outgoing.kind.sensitive:
        raise PermanentError(f"{outgoing.letter.kind} is sensitive and may not go by e-mail")
    to = outgoing.address.get("email")
    if not to:
        raise PermanentError("caseworker.email: missing")
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = f"{outgoing.kind.title} - sag {outgoing.letter.case_id}"
    message["Date"] = format_datetime(outgoing.created)
    # A stable Message-ID per letter lets a mail system spot a retried duplicate.
    message["Message-ID"] = make_msgid(idstring=outgoing.letter.letter_id, domain="notifier")
    message["X-Notifier-Letter-Id"] = outgoing.letter.letter_id
    message.set_content(outgoing.rendered.text)
    message.add_alternative(outgoing.rendered.html, subtype="html")
    return message


class MailTransport(Protocol):
    def send(self, letter_id: str, message: EmailMessage) -> str:
        """Hand over one e-mail; return the transport's id for it."""
        ...

    def close(self) -> None: ...


class MailFolder:
    """``file`` transport: ``<outbox>/mail/<letter id>.eml`` (the embedded default)."""

    def __init__(self, outbox: Path) -> None:
        self.directory = outbox / "mail"

    def send(self, letter_id: str, message: EmailMessage) -> str:
        path = self.directory / f"{letter_id}.eml"
        write_atomically(path, bytes(message))
        return f"file:{path.name}"

    def close(self) -> None:
        pass  # nothing held open


class Mail:
    name = ChannelName.MAIL
    wants_pdf = False

    def __init__(self, sender: str, transport: MailTransport) -> None:
        self.sender = sender
        self.transport = transport

    def deliver(self, outgoing: Outgoing) -> Receipt:
        message = build_email(outgoing, self.sender)
        transport_id = self.transport.send(outgoing.letter.letter_id, message)
        return Receipt(self.name.value, transport_id, outgoing.created)

    def close(self) -> None:
        self.transport.close()
