"""The PDF letter as WeasyPrint laid it out before issue 16: kept only to rebuild, byte for
byte, a PDF sent before the move to Typst, so the SHA-256 kept for aktindsigt still matches
a rebuild (``notifier.delivery.pdf.PdfRenderer.rebuild``). New letters are typeset by Typst.

Output is tagged PDF/UA-1 with embedded font subsets and deterministic for a given
WeasyPrint version and font set.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from notifier.delivery.render import Rendered
from notifier.errors import RenderError

PDF_VARIANT = "pdf/ua-1"
# WeasyPrint and fontTools warn once per glyph a font lacks, quoting the character: a
# letter's text (a name) would reach the log line by line, 250,000 lines for a long letter
# (issue 17). Only their errors are let through, whoever configures logging.
QUIET_LOGGERS = ("weasyprint", "fontTools")


class WeasyPdfRenderer:
    def __init__(self, letters_dir: Path) -> None:
        self.base_url = str(letters_dir.resolve()) + "/"
        self.fetcher: Any = None

    def render(self, rendered: Rendered) -> bytes:
        """The letter as PDF bytes; RenderError if WeasyPrint cannot lay it out."""
        # Imported on first use: it costs most of a process's start-up, and only a rebuild
        # of a letter sent before issue 16 needs it.
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
