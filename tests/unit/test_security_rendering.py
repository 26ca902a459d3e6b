"""Issue 17, finding 2: rendering is bounded. A letter's text has a size limit and a script
limit (422 naming the field), a PDF render has a time limit (503), WeasyPrint's per-glyph
warnings never reach the log, and a sent letter's PDF comes from a cache keyed by SHA-256."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import pytest

from notifier.api.rendering import BoundedPdf
from notifier.clock import SimulatedClock
from notifier.delivery.pdf import QUIET_LOGGERS, PdfRenderer
from notifier.delivery.pdf_weasyprint import WeasyPdfRenderer
from notifier.delivery.render import Rendered
from notifier.errors import RenderError
from notifier.settings import PACKAGE_DIR
from tests.unit.test_api_helpers import CASEWORKER, Api, make_api
from tests.unit.test_pipeline import deliver_due

CJK = "中文字"


@pytest.fixture
def api(tmp_path: Path, clean_env: None, clock: SimulatedClock) -> Api:
    return make_api(tmp_path, clock)


def test_letter_text_over_the_limit_is_a_422(api: Api) -> None:
    """The review's 250,000-character letter: refused before rendering, naming the field
    and the limit (NOTIFIER_LETTER_MAX_CHARS, 50,000 by default)."""
    body = {"kind": "adhoc", "paragraphs": ["x" * 5000] * 11, "format": "pdf"}
    response = api.client.post("/letters/preview", json=body, headers=CASEWORKER)
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "paragraphs" and "at most 50000" in error["message"]


def test_characters_the_fonts_lack_are_refused_by_name(api: Api) -> None:
    """CJK text (one WeasyPrint warning and a slow fallback per glyph) is refused with the
    first character's code point; Danish, Greek and Cyrillic pass."""
    body = {"kind": "adhoc", "paragraphs": ["Kære Søren, æøå ÆØÅ é – “citat” €", CJK]}
    response = api.client.post("/letters/preview", json=body, headers=CASEWORKER)
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "paragraphs.1" and "U+4E2D" in error["message"]
    body["paragraphs"] = ["Kære Søren, æøå – “citat” € α β Жж"]
    assert api.client.post("/letters/preview", json=body, headers=CASEWORKER).status_code == 200


def test_per_glyph_warnings_never_reach_the_log(caplog: pytest.LogCaptureFixture) -> None:
    """WeasyPrint does warn per missing glyph, quoting it (checked first, so this test can
    fail); through its renderer (kept to rebuild PDFs sent before issue 16) and through
    PdfRenderer (Typst) no such record is emitted, whoever configured logging."""
    from weasyprint import HTML

    html = f"<p>{CJK * 20}</p>"
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)
    with caplog.at_level(logging.DEBUG):
        HTML(string=html).write_pdf()
    assert any(CJK[0] in r.getMessage() for r in caplog.records if r.name == "weasyprint")
    caplog.clear()
    letter = Rendered(kind="adhoc", title="t", html=html, text="")
    with caplog.at_level(logging.DEBUG):
        WeasyPdfRenderer(PACKAGE_DIR / "letters" / "da").render(letter)
        # Typst (issue 16) logs nothing; under PDF/UA-1 a glyph no font has is an error,
        # naming the code point, never quoting the text.
        with pytest.raises(RenderError, match=r"cannot print \(U\+4E2D\)") as refused:
            PdfRenderer(PACKAGE_DIR / "letters" / "da").render(letter)
    assert CJK[0] not in str(refused.value)
    assert not [r for r in caplog.records if r.name.startswith(QUIET_LOGGERS)
                and r.levelno < logging.ERROR]


class SlowPdf(PdfRenderer):
    """A renderer that blocks until released: a stand-in for a pathological layout."""

    def __init__(self) -> None:
        super().__init__(PACKAGE_DIR / "letters" / "da")
        self.release = threading.Event()

    def render(self, rendered: Rendered) -> bytes:
        self.release.wait(5)
        return b"%PDF-slow"


def test_a_render_over_the_time_limit_answers_503(api: Api) -> None:
    """A PDF preview that takes longer than NOTIFIER_RENDER_TIMEOUT answers 503 with
    Retry-After instead of holding the request for minutes."""
    slow = SlowPdf()
    api.client.app.state.pdf = BoundedPdf(slow, timeout=0.2, cache_entries=4)  # type: ignore[attr-defined]
    try:
        response = api.client.post("/letters/preview", headers=CASEWORKER,
                                   json={"kind": "adhoc", "paragraphs": ["Hej"],
                                         "format": "pdf"})
        assert response.status_code == 503
        assert response.headers["retry-after"] == "30"
    finally:
        slow.release.set()


def test_sent_pdf_is_served_from_the_cache(api: Api) -> None:
    """Viewing a sent letter's PDF twice (API and page) renders it once: the second view
    comes from the cache under the SHA-256 kept when it was sent, with the same bytes."""
    api.open_case()
    (form_id,) = deliver_due(api.runtime)
    pdf: BoundedPdf = api.client.app.state.pdf  # type: ignore[attr-defined]
    first = api.client.get(f"/letters/{form_id}/document?format=pdf", headers=CASEWORKER)
    second = api.client.get(f"/letters/{form_id}/document?format=pdf", headers=CASEWORKER)
    assert first.status_code == second.status_code == 200
    assert first.content == second.content and first.content.startswith(b"%PDF")
    assert pdf.renders == 1


def test_cache_is_bounded() -> None:
    """The cache keeps at most its configured number of PDFs (oldest out first)."""

    class Fake(PdfRenderer):
        def render(self, rendered: Rendered) -> bytes:
            return rendered.html.encode()

    pdf = BoundedPdf(Fake(PACKAGE_DIR / "letters" / "da"), timeout=5, cache_entries=2)
    docs: list[dict[str, Any]] = [{"title": "t", "html": f"<p>{i}</p>"} for i in range(3)]
    for doc in docs:
        pdf.sent(doc)
    pdf.sent(docs[2])
    assert pdf.renders == 3
    pdf.sent(docs[0])
    assert pdf.renders == 4
