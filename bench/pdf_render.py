"""6. PDF letters (notifier.delivery.pdf: Typst since issue 16): letters per second per core, from
CPU time, over every citizen letter kind's catalog sample, next to the HTML + text rendering
every channel does and to WeasyPrint (the renderer before issue 16) on the same letters."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from time import perf_counter, process_time
from typing import Any, TypeVar

from bench.report import Row, progress
from notifier.delivery import html_tree
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
T = TypeVar("T")


def citizen_letters(settings: Settings) -> tuple[Renderer, list[tuple[str, dict[str, object]]]]:
    """Every kind a citizen can get (so: can be printed), with its catalog sample data."""
    catalog = load_catalog(settings.letters_dir)
    renderer = Renderer(settings.letters_dir, catalog, settings.zone)
    samples = [(kind, {"jobcenter": jobcenter_context(settings), **entry.sample})
               for kind, entry in sorted(catalog.kinds.items())
               if Recipient.CITIZEN in entry.recipients]
    return renderer, samples


def uncached(function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` with no parsed letter tree cached from before."""
    html_tree.parse.cache_clear()
    return function(*args)


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
    rendered: list[Rendered] = [uncached(renderer.render, *samples[n % len(samples)])
                                for n in range(html_count)]
    html_cpu = process_time() - html_cpu
    pdf = PdfRenderer(settings.letters_dir)
    pdf.render(rendered[0])  # fonts and the compiler load once per process: not counted
    # Parsed trees are cached (a worker parses a letter once for its text and its PDF);
    # the samples repeat, so every figure here clears the cache first: parsing included.
    cpu, wall = per_letter(lambda r: uncached(pdf.render, r), rendered[:count])
    markup_cpu, _ = per_letter(lambda r: uncached(to_typst, r.html, r.title),
                               rendered[:count])
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
        Row("6 pdf", "of which HTML to Typst markup (CPU per PDF letter)",
            markup_cpu / count * 1000, "ms"),
        Row("6 pdf", "median wall time per PDF letter (Typst)",
            statistics.median(wall) * 1000, "ms", statistics.median(legacy_wall) * 1000,
            "WeasyPrint"),
    ]
