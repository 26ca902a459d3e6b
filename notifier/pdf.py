"""Letters as A4 PDF (WeasyPrint) from the same HTML the other channels send.

The print stylesheet in ``base.html`` places the address in the window of a C5/DL
envelope. Output is tagged PDF/UA-1 with embedded font subsets, and deterministic: the
same HTML gives the same bytes, so the SHA-256 kept with a sent letter identifies the
exact PDF that went out (for aktindsigt) without storing the PDF itself in Redis.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

from notifier.errors import RenderError
from notifier.render import Rendered

PDF_VARIANT = "pdf/ua-1"
# WeasyPrint and fontTools warn once per glyph a font lacks, quoting the character: a
# letter's text (a name) would reach the log line by line, 250,000 lines for a long letter
# (issue 17). Only their errors are let through, whoever configures logging.
QUIET_LOGGERS = ("weasyprint", "fontTools")
MEDIA_TYPE = "application/pdf"


class PdfRenderer:
    def __init__(self, letters_dir: Path) -> None:
        self.base_url = str(letters_dir.resolve()) + "/"
        self.fetcher: Any = None

    def render(self, rendered: Rendered) -> bytes:
        """The letter as PDF bytes; RenderError if WeasyPrint cannot lay it out."""
        # Imported on first use: it costs most of a process's start-up, and schedulers and
        # the API's JSON routes never render a PDF.
        from weasyprint import HTML
        from weasyprint.urls import FatalURLFetchingError, URLFetcher

        quiet_pdf_loggers()
        if self.fetcher is None:
            # Local files only: a letter must never make the renderer fetch from the network.
            self.fetcher = URLFetcher(allowed_protocols={"file", "data"}, fail_on_errors=True)
        document = HTML(string=rendered.html, base_url=self.base_url, url_fetcher=self.fetcher)
        try:
            pdf = document.write_pdf(pdf_variant=PDF_VARIANT)
        except (FatalURLFetchingError, ValueError, OSError) as exc:
            raise RenderError(f"{rendered.kind}: PDF rendering failed: {exc}") from None
        if not pdf:
            raise RenderError(f"{rendered.kind}: PDF rendering produced nothing")
        return bytes(pdf)


def quiet_pdf_loggers() -> None:
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
