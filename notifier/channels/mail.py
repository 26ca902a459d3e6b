"""Caseworker alerts by e-mail. Sensitive letters are refused: they never go by e-mail."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

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


class OutboxMail:
    """Writes each alert as ``<outbox>/mail/<letter id>.eml`` (the embedded default)."""

    name = ChannelName.MAIL

    def __init__(self, outbox: Path, sender: str) -> None:
        self.directory = outbox / "mail"
        self.sender = sender

    def deliver(self, outgoing: Outgoing) -> Receipt:
        message = build_email(outgoing, self.sender)
        path = self.directory / f"{outgoing.letter.letter_id}.eml"
        write_atomically(path, bytes(message))
        return Receipt(self.name.value, f"file:{path.name}", outgoing.created)
