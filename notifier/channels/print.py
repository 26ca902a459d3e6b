"""Physical post for citizens exempt from Digital Post: a print job per letter."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from notifier.channels.base import Outgoing, write_atomically
from notifier.errors import PermanentError
from notifier.models import ChannelName, Receipt


def postal_address(outgoing: Outgoing) -> dict[str, Any]:
    """The window-envelope address; a missing part is a permanent error naming it."""
    address = outgoing.address.get("address") or {}
    for part in ("street", "postcode", "city"):
        if not str(address.get(part, "")).strip():
            raise PermanentError(f"citizen.address.{part}: missing; the letter cannot be posted")
    return {"name": outgoing.address.get("name", ""), **address}


class OutboxPrint:
    """Writes ``<outbox>/print/<letter id>.html`` plus a ``.json`` job with the address."""

    name = ChannelName.PRINT

    def __init__(self, outbox: Path) -> None:
        self.directory = outbox / "print"

    def deliver(self, outgoing: Outgoing) -> Receipt:
        job = {
            "letter_id": outgoing.letter.letter_id,
            "case_id": outgoing.letter.case_id,
            "title": outgoing.kind.title,
            "address": postal_address(outgoing),
            "document": f"{outgoing.letter.letter_id}.html",
        }
        stem = self.directory / outgoing.letter.letter_id
        write_atomically(stem.with_suffix(".html"), outgoing.rendered.html.encode())
        write_atomically(stem.with_suffix(".json"),
                         json.dumps(job, ensure_ascii=False, indent=2).encode())
        return Receipt(self.name.value, f"file:{stem.name}.json", outgoing.created)
