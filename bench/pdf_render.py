"""6. PDF rendering for the print channel (notifier.pdf, WeasyPrint): letters per second
per core, from CPU time, next to the HTML + text rendering every channel does."""

from __future__ import annotations

import statistics
from time import perf_counter, process_time

from bench.report import Row, progress
from notifier.catalog import load_catalog
from notifier.context import jobcenter_context
from notifier.models import Recipient
from notifier.pdf import PdfRenderer
from notifier.render import Rendered, Renderer
from notifier.settings import Settings

HTML_LETTERS = 500  # HTML is ~100x cheaper: render more of them for a stable figure


def citizen_letters(settings: Settings) -> tuple[Renderer, list[tuple[str, dict[str, object]]]]:
    """Every kind a citizen can get (so: can be printed), with its catalog sample data."""
    catalog = load_catalog(settings.letters_dir)
    renderer = Renderer(settings.letters_dir, catalog, settings.zone)
    samples = [(kind, {"jobcenter": jobcenter_context(settings), **entry.sample})
               for kind, entry in sorted(catalog.kinds.items())
               if Recipient.CITIZEN in entry.recipients]
    return renderer, samples


def measure_pdf(settings: Settings, count: int) -> list[Row]:
    renderer, samples = citizen_letters(settings)
    progress(f"6 pdf: {count} letters over {len(samples)} citizen letter kinds")
    html_count = max(count, HTML_LETTERS)
    html_cpu = process_time()
    rendered: list[Rendered] = [renderer.render(*samples[n % len(samples)])
                                for n in range(html_count)]
    html_cpu = process_time() - html_cpu
    pdf = PdfRenderer(settings.letters_dir)
    pdf.render(rendered[0])  # fonts and stylesheet load once per process: not counted
    wall = []
    cpu = process_time()
    for letter in rendered[:count]:
        started = perf_counter()
        pdf.render(letter)
        wall.append(perf_counter() - started)
    cpu = process_time() - cpu
    return [
        Row("6 pdf", f"PDF letters per second per core ({count} letters, CPU time)",
            count / cpu, "letters/s", html_count / html_cpu, "HTML + text rendering per core"),
        Row("6 pdf", "median wall time per PDF letter", statistics.median(wall) * 1000, "ms"),
    ]
