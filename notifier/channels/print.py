"""Physical post for citizens exempt from Digital Post: the letter as PDF, printed.

Transports: ``file`` writes ``<outbox>/print/<letter id>.pdf`` and a ``.json`` job with
the window-envelope address (for a print shop's hot folder); ``http`` sends the MeMo
message and a Fjernprint ``ForsendelseI`` (the PDF, an explicit recipient address, the
print agreement's type id) to SF1601 with KombiValgKode "Fysisk Post".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

from notifier.channels.base import Outgoing, write_atomically
from notifier.channels.digital_post import (
    content_of,
    memo_bytes,
    memo_message,
    memo_recipient,
)
from notifier.channels.fjernprint import forsendelse_i, print_order
from notifier.channels.gateway import KombiChoice, Sf1601Gateway
from notifier.errors import ConfigError, PermanentError
from notifier.models import ChannelName, Receipt
from notifier.settings import Settings

ADDRESS_PARTS = ("street", "postcode", "city")


def postal_address(outgoing: Outgoing) -> dict[str, Any]:
    """The window-envelope address; a missing part is a permanent error naming it."""
    address = outgoing.address.get("address") or {}
    for part in ADDRESS_PARTS:
        if not str(address.get(part, "")).strip():
            raise PermanentError(f"citizen.address.{part}: missing; the letter cannot be posted")
    return {"name": outgoing.address.get("name", ""), **address}


class PrintTransport(Protocol):
    def send(self, outgoing: Outgoing, pdf: bytes) -> str:
        """Hand over one print job; return the transport's id for it."""
        ...

    def close(self) -> None: ...


class PrintJobFolder:
    """``file`` transport: PDF plus address JSON, the JSON written last as the go signal."""

    def __init__(self, outbox: Path) -> None:
        self.directory = outbox / "print"

    def send(self, outgoing: Outgoing, pdf: bytes) -> str:
        stem = self.directory / outgoing.letter.letter_id
        job = {
            "letter_id": outgoing.letter.letter_id,
            "case_id": outgoing.letter.case_id,
            "title": outgoing.kind.title,
            "address": postal_address(outgoing),
            "document": f"{stem.name}.pdf",
            "pages": "A4, simplex, C5/DL window envelope (address window left)",
        }
        write_atomically(stem.with_suffix(".pdf"), pdf)
        write_atomically(stem.with_suffix(".json"),
                         json.dumps(job, ensure_ascii=False, indent=2).encode())
        return f"file:{stem.name}.json"

    def close(self) -> None:
        pass  # nothing held open


class GatewayPrint:
    """``http`` transport: the MeMo message and a ForsendelseI, as "Fysisk Post"."""

    def __init__(self, settings: Settings, gateway: Sf1601Gateway) -> None:
        if settings.print_type_id is None:
            raise ConfigError("NOTIFIER_PRINT_TYPE_ID: required by the http print transport")
        self.settings = settings
        self.type_id = settings.print_type_id
        self.gateway = gateway

    def send(self, outgoing: Outgoing, pdf: bytes) -> str:
        letter_id = outgoing.letter.letter_id
        message = memo_message(self.settings, content_of(outgoing), memo_recipient(outgoing))
        try:
            order = forsendelse_i(print_order(
                letter_id, self.type_id, self.settings.print_category, outgoing.address,
                postal_address(outgoing), outgoing.kind.title, pdf))
        except ValueError as exc:
            raise PermanentError(f"Fjernprint: {exc}") from None
        return self.gateway.send(letter_id, KombiChoice.PHYSICAL, memo_bytes(message), order)

    def close(self) -> None:
        self.gateway.close()


class Print:
    name = ChannelName.PRINT
    wants_pdf = True

    def __init__(self, transport: PrintTransport) -> None:
        self.transport = transport

    def deliver(self, outgoing: Outgoing) -> Receipt:
        postal_address(outgoing)  # refuse an unpostable letter before anything leaves
        if outgoing.pdf is None:
            raise PermanentError("print: the letter has no PDF to print")
        transport_id = self.transport.send(outgoing, outgoing.pdf)
        return Receipt(self.name.value, transport_id, outgoing.created)

    def close(self) -> None:
        self.transport.close()
