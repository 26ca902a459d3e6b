"""Letters as A4 PDF, typeset by Typst from the same HTML the other channels send (issue 16).

``notifier.delivery.pdf_typst`` turns the letter's rendered HTML into Typst markup; the layout in
``letters/da/letter.typ`` (base.html's print stylesheet, in Typst) places the address in
the window of a C5/DL envelope. One ``typst.Compiler`` per renderer, with the fonts loaded
once, compiles it: about 30x less CPU per letter than WeasyPrint did. Output is tagged
PDF/UA-1 with embedded font subsets and the running footer as an /Artifact, and it is
deterministic (no creation date, Typst's document id is a hash of the content): the same
HTML gives the same bytes, so the SHA-256 kept with a sent letter identifies the exact PDF
that went out (for aktindsigt) without storing the PDF itself in Redis.
"""

from __future__ import annotations

import hashlib
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Final, Literal

from notifier.delivery.pdf_typst import to_typst
from notifier.delivery.pdf_weasyprint import QUIET_LOGGERS, WeasyPdfRenderer, quiet_pdf_loggers
from notifier.delivery.render import Rendered
from notifier.errors import RenderError
from notifier.settings import PACKAGE_DIR

if TYPE_CHECKING:
    import typst

__all__ = ["MEDIA_TYPE", "QUIET_LOGGERS", "PdfRenderer", "quiet_pdf_loggers", "sha256"]

MEDIA_TYPE = "application/pdf"
PDF_STANDARD: Final[Literal["ua-1"]] = "ua-1"
LAYOUT = "letter.typ"
# The layout sets no document date (``date: none``), so no date is written; should one ever
# be, it is this fixed one and never the wall clock, or no rebuild would match its SHA-256.
FIXED_TIMESTAMP = 0
# The letters' fonts: Liberation Sans (metric-compatible with Arial, base.html's font) and
# DejaVu Sans for Greek, Cyrillic and symbols (notifier.intake.plaintext allows no other script).
# Only these are loaded, so the PDF cannot change with whatever else a host has installed.
FONT_DIRS = (Path("/usr/share/fonts/truetype/liberation"), Path("/usr/share/fonts/truetype/dejavu"))


class PdfRenderer:
    def __init__(self, letters_dir: Path) -> None:
        self.letters_dir = letters_dir.resolve()
        own = self.letters_dir / LAYOUT
        self.layout = (own if own.exists() else PACKAGE_DIR / "letters" / "da" / LAYOUT
                       ).read_text(encoding="utf-8")
        self._compiler: typst.Compiler | None = None
        # A Compiler is one mutable world: worker threads take turns (a compile is ~3 ms).
        self._lock = threading.Lock()
        self._legacy: WeasyPdfRenderer | None = None

    def render(self, rendered: Rendered) -> bytes:
        """The letter as PDF bytes; RenderError if it cannot be typeset."""
        import typst

        try:
            source = self.layout + to_typst(rendered.html, rendered.title, rendered.tree)
        except RenderError as exc:
            raise RenderError(f"{rendered.kind}: PDF rendering failed: {exc}") from None
        with self._lock:
            compiler = self._compiler or self._new_compiler()
            try:
                # Warnings (a glyph no font has) quote letter text: never logged.
                pdf, _warnings = compiler.compile_with_warnings(
                    source.encode(), format="pdf", pdf_standards=[PDF_STANDARD],
                    timestamp=FIXED_TIMESTAMP)
            except typst.TypstError as exc:
                raise RenderError(f"{rendered.kind}: PDF rendering failed: "
                                  f"{without_text(exc.message)}") from None
        if not isinstance(pdf, bytes) or not pdf:
            raise RenderError(f"{rendered.kind}: PDF rendering produced nothing")
        return pdf

    def rebuild(self, rendered: Rendered, kept_sha256: str | None) -> bytes:
        """The PDF of a sent letter: Typst's, or, if the SHA-256 kept when it was sent names
        a PDF WeasyPrint made (letters sent before issue 16), WeasyPrint's. The caller still
        compares the hash: a rebuild that matches neither is not the document sent."""
        pdf = self.render(rendered)
        if not kept_sha256 or sha256(pdf) == kept_sha256:
            return pdf
        if self._legacy is None:
            self._legacy = WeasyPdfRenderer(self.letters_dir)
        legacy = self._legacy.render(rendered)
        return legacy if sha256(legacy) == kept_sha256 else pdf

    def _new_compiler(self) -> typst.Compiler:
        import typst

        dirs = [str(path) for path in FONT_DIRS if path.is_dir()]
        # Without the Debian font folders (another distribution), the system's fonts.
        fonts = typst.Fonts(include_system_fonts=not dirs, include_embedded_fonts=False,
                            font_paths=dirs)
        self._compiler = typst.Compiler(root=str(self.letters_dir), font_paths=fonts)
        return self._compiler


_QUOTED = re.compile(r'`"(.*?)"`', re.S)
_NO_GLYPH = re.compile(r'the text `"(.)', re.S)


def without_text(message: str) -> str:
    """Typst's message with the letter text it quotes left out (issue 17: letter text never
    reaches a log). PDF/UA-1 forbids a glyph no font has (.notdef), so Typst refuses such a
    character: named by its code point, as notifier.intake.plaintext refuses it at intake."""
    missing = _NO_GLYPH.search(message)
    if missing and "could not be displayed" in message:
        return (f"contains a character the letter fonts cannot print "
                f"(U+{ord(missing[1]):04X})")
    return _QUOTED.sub("`...`", message)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
