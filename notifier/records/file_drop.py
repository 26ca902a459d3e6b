"""The file-drop alternative to HTTP callbacks (issue 13), for ESDH systems that import
from a watched folder: per sent letter, ``<letter id>.pdf`` (the document as sent; HTML
when it was sent without a PDF) and ``<letter id>.json`` (the ``letter.sent`` callback's
``data``, with ``document.file`` naming the document file instead of carrying it).

It rides the callback outbox (``callbacks.py``): the ``letter.sent`` item written in the
same atomic step as the send is what makes the pair, with the outbox's retries, leases and
dead-item alerts. Each file is written to a hidden temporary file in the same folder,
flushed to disk and renamed into place (atomic on one file system), the document first
and the JSON last, so an importer that acts on ``*.json`` never sees half a pair. Writing
a letter's pair again (a retried or replayed item) writes the same bytes under the same
names: one pair per letter, whatever happens.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from notifier.logging import get_logger

log = get_logger(__name__)


class FileDrop:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def write(self, data: dict[str, Any]) -> list[Path]:
        """Write the pair for ``data`` (a ``letter.sent`` callback's data, with
        ``document``); returns the paths (document, JSON). OSError if the folder fails."""
        letter_id = str(data["letter_id"])
        document = dict(data["document"])
        if document.get("pdf"):
            content, suffix = base64.b64decode(document.pop("pdf")), ".pdf"
        else:
            content, suffix = base64.b64decode(document.pop("html")), ".html"
            document.pop("pdf", None)
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.directory / f"{letter_id}{suffix}"
        meta = {**data, "document": {**document, "file": target.name}}
        body = json.dumps(meta, ensure_ascii=False, indent=2, sort_keys=True).encode() + b"\n"
        _atomic_write(target, content)
        _atomic_write(self.directory / f"{letter_id}.json", body)
        log.info("file_drop.written", letter_id=letter_id, file=target.name)
        return [target, self.directory / f"{letter_id}.json"]


def _atomic_write(path: Path, content: bytes) -> None:
    if path.exists() and path.read_bytes() == content:
        return  # written before (a retried item): nothing changes for the importer
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.",
                                         suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a power cut
    finally:
        os.close(directory)
