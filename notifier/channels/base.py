"""The Channel seam: a rendered letter in, a receipt out; failures as DeliveryErrors."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from notifier.delivery.render import Rendered
from notifier.models import ChannelName, Letter, Receipt
from notifier.planning.catalog import LetterKind


@dataclass(frozen=True)
class Outgoing:
    """Everything a channel needs to deliver one letter; ``address`` is channel-specific."""

    letter: Letter
    kind: LetterKind
    rendered: Rendered
    address: dict[str, Any]  # citizen (with cpr), employer (cvr) or caseworker (email)
    created: datetime  # UTC send instant
    pdf: bytes | None = None  # the letter as PDF, for channels that send or print one
    meeting: dict[str, Any] | None = None  # for a calendar appointment (issue 11)


class Channel(Protocol):
    name: ChannelName
    wants_pdf: bool  # the deliverer renders the PDF once, and keeps its hash as the record

    def deliver(self, outgoing: Outgoing) -> Receipt:
        """Deliver once, idempotently per letter id; raise Transient/PermanentError."""
        ...

    def close(self) -> None:
        """Release connections (at shutdown)."""
        ...


def write_atomically(path: Path, data: bytes) -> None:
    """Write via a temporary file and rename, so a crash never leaves half a letter and a
    retry of the same letter id overwrites instead of duplicating."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
