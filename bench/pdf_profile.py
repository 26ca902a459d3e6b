"""Where a PDF letter's time goes: cProfile over every citizen letter kind's sample, for
the Typst renderer (issue 16) and for WeasyPrint (before it). Not part of run.py (the
profiler inflates Python-heavy parts); see docs/performance.md, section 6.

    .venv/bin/python bench/pdf_profile.py [--letters 100] [--top 12]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the `bench` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.pdf_render import citizen_letters
from bench.settings import bench_settings
from notifier.delivery.pdf import PdfRenderer
from notifier.delivery.pdf_weasyprint import WeasyPdfRenderer
from notifier.delivery.render import Rendered


def profile(name: str, render: Callable[[Rendered], bytes], letters: list[Rendered],
            top: int) -> None:
    render(letters[0])  # start-up (fonts, stylesheets, compiler) is not what we look at
    profiler = cProfile.Profile()
    profiler.enable()
    for letter in letters:
        render(letter)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    total: float = stats.total_tt  # type: ignore[attr-defined]  # set, but not in the stubs
    print(f"## {name}: {len(letters)} letters, "
          f"{total / len(letters) * 1000:.1f} ms per letter under the profiler\n")
    for order in ("tottime", "cumulative"):
        out.seek(0)
        out.truncate()
        stats.sort_stats(order).print_stats(top)
        lines = out.getvalue().splitlines()
        start = next(n for n, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
        print(f"by {order}:\n```")
        print("\n".join(lines[start:start + top + 1]))
        print("```\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--letters", type=int, default=100, help="Typst letters")
    parser.add_argument("--weasyprint", type=int, default=20, help="WeasyPrint letters")
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="notifier-pdf-profile-") as tmp:
        settings = bench_settings(None, Path(tmp))
        renderer, samples = citizen_letters(settings)
        count = max(args.letters, args.weasyprint)
        letters = [renderer.render(*samples[n % len(samples)]) for n in range(count)]
        profile("Typst (notifier.delivery.pdf.PdfRenderer)",
                PdfRenderer(settings.letters_dir).render,
                letters[:args.letters], args.top)
        if args.weasyprint:
            profile("WeasyPrint (notifier.delivery.pdf_weasyprint, before issue 16)",
                    WeasyPdfRenderer(settings.letters_dir).render, letters[:args.weasyprint],
                    args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
