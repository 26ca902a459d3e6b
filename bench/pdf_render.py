"""6. PDF letters (notifier.delivery.pdf: Typst since issue 16): letters per second per core, from
CPU time, over every citizen letter kind's catalog sample, next to the HTML + text rendering
every channel does and to WeasyPrint (the renderer before issue 16) on the same letters."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from time import perf_counter, process_time

from bench.report import Row, progress
from notifier.delivery.context import jobcenter_context
from notifier.delivery.pdf import PdfRenderer
from notifier.delivery.pdf_typst import to_typst
from notifier.delivery.pdf_weasyprint import WeasyPdfRenderer
from notifier.delivery.render import Rendered, Renderer
from notifier.models import Recipient
from notifier.planning.catalog import load_catalog
from notifier.settings import Settings

HTML_LETTERS = 500  # HTML is cheap: render more of them for a stable figure
TARGET = 100  # PDF letters per second per core (issue 16)


def citizen_letters(settings: Settings) -> tuple[Renderer, list[tuple[str, dict[str, object]]]]:
    """Every kind a citizen can get (so: can be printed), with its catalog sample data."""
    catalog = load_catalog(settings.letters_dir)
    renderer = Renderer(settings.letters_dir, catalog, settings.zone)
    samples = [(kind, {"jobcenter": jobcenter_context(settings), **entry.sample})
               for kind, entry in sorted(catalog.kinds.items())
               if Recipient.CITIZEN in entry.recipients]
    return renderer, samples


def per_letter(render: Callable[[Rendered], object], letters: list[Rendered]
               ) -> tuple[float, list[float]]:
    """CPU seconds for all of ``letters`` and each one's wall time."""
    wall = []
    cpu = process_time()
    for letter in letters:
        started = perf_counter()
        render(letter)
        wall.append(perf_counter() - started)
    return process_time() - cpu, wall


def measure_pdf(settings: Settings, count: int, legacy_count: int) -> list[Row]:
    renderer, samples = citizen_letters(settings)
    progress(f"6 pdf: {count} letters over {len(samples)} citizen letter kinds "
             f"(WeasyPrint: {legacy_count})")
    html_count = max(count, HTML_LETTERS)
    html_cpu = process_time()
    rendered: list[Rendered] = [renderer.render(*samples[n % len(samples)])
                                for n in range(html_count)]
    html_cpu = process_time() - html_cpu
    pdf = PdfRenderer(settings.letters_dir)
    pdf.render(rendered[0])  # fonts and the compiler load once per process: not counted
    # As in a worker, the PDF reuses the tree the renderer parsed for the text (counted
    # in the HTML + text figure); the markup row parses again, so it includes the parse.
    cpu, wall = per_letter(pdf.render, rendered[:count])
    markup_cpu, _ = per_letter(lambda r: to_typst(r.html, r.title), rendered[:count])
    legacy = WeasyPdfRenderer(settings.letters_dir)
    legacy.render(rendered[0])  # likewise
    legacy_cpu, legacy_wall = per_letter(legacy.render, rendered[:legacy_count])
    rate = count / cpu
    return [
        Row("6 pdf", f"PDF letters per second per core (Typst, {count} letters over "
            f"{len(samples)} kinds, CPU time)", rate, "letters/s",
            legacy_count / legacy_cpu, f"WeasyPrint, first {legacy_count} of the same",
            f">= {TARGET} letters/s", rate >= TARGET),
        Row("6 pdf", "HTML + text rendering per core (every channel; not in the above)",
            html_count / html_cpu, "letters/s"),
        Row("6 pdf", "HTML to Typst markup, parse included (CPU per PDF letter)",
            markup_cpu / count * 1000, "ms"),
        Row("6 pdf", "median wall time per PDF letter (Typst)",
            statistics.median(wall) * 1000, "ms", statistics.median(legacy_wall) * 1000,
            "WeasyPrint"),
    ]
