"""Letters as PDF: every kind renders to an A4, tagged PDF with embedded fonts, the
citizen's address sits in the envelope window, and the same HTML gives the same bytes."""

from __future__ import annotations

import html
import io
import re
from typing import Any

import pytest
from pypdf import PdfReader

from notifier.delivery.pdf import PdfRenderer, sha256
from notifier.delivery.render import Rendered, Renderer
from tests.unit.test_letters import (
    ALERT_KINDS,
    CATALOG,
    CITIZEN_KINDS,
    KINDS,
    LETTERS_DIR,
    ZONE,
    context,
)

MM = 72 / 25.4  # PDF points per millimetre
A4 = (210, 297)
# A C5/DL envelope's left window: 20 mm from the left edge, 45 mm from the top, 90 x 45 mm.
WINDOW_LEFT, WINDOW_TOP, WINDOW_WIDTH, WINDOW_HEIGHT = 20, 45, 90, 45


@pytest.fixture(scope="module")
def pdf() -> PdfRenderer:
    return PdfRenderer(LETTERS_DIR)


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(LETTERS_DIR, CATALOG, ZONE)


def _render(renderer: Renderer, pdf: PdfRenderer, kind: str) -> tuple[Rendered, PdfReader]:
    rendered = renderer.render(kind, context(kind))
    return rendered, PdfReader(io.BytesIO(pdf.render(rendered)))


def text_positions(reader: PdfReader) -> list[tuple[str, float, float]]:
    """(text, x mm from the left, baseline mm from the top) on the first page."""
    page = reader.pages[0]
    height = float(page.mediabox.height)
    found: list[tuple[str, float, float]] = []

    def visit(text: str, cm: Any, tm: Any, _font: Any, _size: Any) -> None:
        if text.strip():
            x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
            y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
            found.append((text.strip(), x / MM, (height - y) / MM))

    page.extract_text(visitor_text=visit)
    return found


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_is_an_a4_tagged_pdf_with_embedded_fonts(
    renderer: Renderer, pdf: PdfRenderer, kind: str
) -> None:
    """The PDF opens, is A4, declares Danish, is tagged (PDF/UA structure tree), carries
    the letter's visible heading as its title (issue 11), and every font it uses is
    embedded."""
    rendered, reader = _render(renderer, pdf, kind)
    box = reader.pages[0].mediabox
    assert (round(float(box.width) / MM), round(float(box.height) / MM)) == A4
    root = reader.trailer["/Root"]
    assert root["/Lang"] == "da"
    assert "/StructTreeRoot" in root and root["/MarkInfo"]["/Marked"]
    heading = re.search(r"<h1>(.*?)</h1>", rendered.html, re.S)
    assert heading is not None
    assert reader.metadata is not None
    assert reader.metadata.title == html.unescape(heading[1].strip())
    fonts = [font.get_object() for page in reader.pages
             for font in page["/Resources"]["/Font"].values()]
    assert fonts
    for font in fonts:
        descendant = font["/DescendantFonts"][0].get_object() if "/DescendantFonts" in font \
            else font
        descriptor = descendant["/FontDescriptor"].get_object()
        assert {"/FontFile", "/FontFile2", "/FontFile3"} & set(descriptor), font["/BaseFont"]


@pytest.mark.parametrize("kind", sorted(k for k in CITIZEN_KINDS if k != "adhoc"))
def test_citizen_address_sits_in_the_envelope_window(
    renderer: Renderer, pdf: PdfRenderer, kind: str
) -> None:
    """Name, street and postcode/city are laid out inside the window area of page 1."""
    sample = context(kind)
    address = sample["citizen"]["address"]
    lines = [sample["citizen"]["name"], address["street"],
             f"{address['postcode']} {address['city']}"]
    _, reader = _render(renderer, pdf, kind)
    placed = {text: (x, y) for text, x, y in text_positions(reader)}
    for line in lines:
        assert line in placed, f"{line!r} not on page 1"
        x, y = (round(value, 1) for value in placed[line])
        assert WINDOW_LEFT <= x <= WINDOW_LEFT + WINDOW_WIDTH, (line, x)
        assert WINDOW_TOP <= y <= WINDOW_TOP + WINDOW_HEIGHT, (line, y)


def test_same_html_gives_the_same_pdf(renderer: Renderer, pdf: PdfRenderer) -> None:
    """Rendering is deterministic, so a stored hash identifies the PDF that was sent."""
    rendered = renderer.render("decision", context("decision"))
    assert sha256(pdf.render(rendered)) == sha256(pdf.render(rendered))
    changed = Rendered(rendered.kind, rendered.title, rendered.html.replace("</h1>", ".</h1>"),
                       rendered.text)
    assert sha256(pdf.render(changed)) != sha256(pdf.render(rendered))


def test_pdf_never_fetches_from_the_network(pdf: PdfRenderer) -> None:
    """An image pointing at a remote host is not fetched: rendering fails loudly instead."""
    from notifier.errors import RenderError

    html = '<html lang="da"><title>x</title><body><img src="http://192.0.2.1/x.png"></body>'
    with pytest.raises(RenderError, match="PDF rendering failed"):
        pdf.render(Rendered("adhoc", "x", html, "x"))


def pdf_text(reader: PdfReader) -> str:
    """Every page's text without the running footer, all whitespace removed."""
    pages = [re.sub(r"Side \d+ af \d+", "", page.extract_text()) for page in reader.pages]
    return re.sub(r"\s+", "", "".join(pages))


@pytest.mark.parametrize("channel", ["digital_post", "print"])
@pytest.mark.parametrize("kind", sorted(set(KINDS) - set(ALERT_KINDS)))  # alerts: e-mail only
def test_pdf_says_what_the_html_says(renderer: Renderer, pdf: PdfRenderer, kind: str,
                                     channel: str) -> None:
    """Issue 16: the PDF is typeset from the letter's HTML, not from a second copy of the
    wording. Every line of the letter's text (derived from the same HTML) appears in the
    PDF's text, in full; bullets and heading underlines aside."""
    data = context(kind)
    data["letter"] = {**data["letter"], "channel": channel}
    rendered = renderer.render(kind, data)
    text = pdf_text(PdfReader(io.BytesIO(pdf.render(rendered))))
    for line in rendered.text.splitlines():
        line = re.sub(r"\s+", "", line.removeprefix("- "))
        if line and set(line) - {"=", "-"}:
            assert line in text, line


def test_letter_text_is_never_read_as_typst(renderer: Renderer, pdf: PdfRenderer) -> None:
    """Free text full of Typst syntax (code, markup, maths, escapes, a comment, a label)
    comes out literally in the PDF: it is text, never markup or code to run."""
    hostile = ['#read("/etc/passwd") *fed* _kursiv_ $x^2$ \\ "citat" ]) [',
               "// <label> @ref = -- ~"]
    rendered = renderer.render("adhoc", context("adhoc", adhoc__paragraphs=hostile))
    text = pdf_text(PdfReader(io.BytesIO(pdf.render(rendered))))
    for paragraph in hostile:
        assert re.sub(r"\s+", "", paragraph) in text


def test_same_html_gives_the_same_pdf_in_another_process(renderer: Renderer,
                                                         pdf: PdfRenderer) -> None:
    """The SHA-256 kept when a letter is sent matches a rebuild in a fresh process (a
    later worker or the API): no creation date, no per-process state in the bytes."""
    import subprocess
    import sys

    rendered = renderer.render("decision", context("decision"))
    script = ("import sys; from pathlib import Path; "
              "from notifier.delivery.pdf import PdfRenderer, "
              "sha256; from notifier.delivery.render import Rendered; "
              "print(sha256(PdfRenderer(Path(sys.argv[1])).render("
              "Rendered('decision', sys.argv[2], sys.stdin.read(), ''))))")
    done = subprocess.run([sys.executable, "-c", script, str(LETTERS_DIR), rendered.title],
                          input=rendered.html, capture_output=True, text=True, check=True,
                          timeout=60)
    assert done.stdout.strip() == sha256(pdf.render(rendered))


def test_rebuild_finds_a_pdf_weasyprint_made_before_typst(renderer: Renderer,
                                                          pdf: PdfRenderer) -> None:
    """A letter sent before issue 16 kept the SHA-256 of a WeasyPrint PDF: rebuild makes
    that very PDF again; with a hash naming neither renderer's PDF, Typst's comes back (and
    the caller refuses it, as before)."""
    from notifier.delivery.pdf_weasyprint import WeasyPdfRenderer

    rendered = renderer.render("hearing", context("hearing"))
    legacy = WeasyPdfRenderer(LETTERS_DIR).render(rendered)
    assert legacy != pdf.render(rendered)
    assert pdf.rebuild(rendered, sha256(legacy)) == legacy
    assert pdf.rebuild(rendered, "0" * 64) == pdf.render(rendered)
    assert pdf.rebuild(rendered, None) == pdf.render(rendered)
