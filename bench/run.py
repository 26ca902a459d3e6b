"""The benchmark: ``python bench/run.py --quick`` (a few minutes) or without the flag
(full size). Starts its own redis-servers, prints progress to stderr and a Markdown
table of figures and ratios to stdout. See docs/performance.md."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the `bench` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.dispatch import PendingSet, measure_ticks, runtime_on, tick_rows
from bench.lag import measure_due_lag
from bench.machine import describe
from bench.memory import OurMemory, all_in_bytes, aps_bytes_per_job, memory_rows, pending
from bench.pdf_render import measure_pdf
from bench.report import Row, as_json, progress, table
from bench.scheduling import measure_scheduling
from bench.servers import RedisServer
from bench.settings import bench_settings
from bench.throughput import Workers, bare_dramatiq, end_to_end_rows, ours
from bench.workload import PendingLetters, letter_templates, write_pending
from notifier.clock import SystemClock
from notifier.logging import configure_logging
from notifier.runtime import build_planner


@dataclass(frozen=True)
class Size:
    name: str
    story_copies: int  # 1: copies of the demo's 21 events
    memory_sizes: tuple[int, ...]  # 2: pending letters, ascending
    aps_jobs: int  # 2: APScheduler jobs for its bytes per job
    few_pending: int  # 3: the small pending set
    tick_reps: int  # 3: ticks timed per pending size
    e2e_letters: int  # 4
    e2e_pdf_letters: int  # 4, with PDF on
    lag_rates: tuple[tuple[int, bool], ...]  # 5: (letters coming due per second, PDF on)
    lag_seconds: int  # 5: per run
    pdf_letters: int  # 6 (Typst)
    legacy_pdf_letters: int  # 6: WeasyPrint, for comparison (about 30x slower)


# Issue 16: with Typst, section 4 runs as many PDF letters as plain ones (a ratio in one
# run), and section 5 adds 300 letters/s with PDFs (the load).
QUICK = Size("quick", 50, (10_000, 100_000), 10_000, 1_000, 15, 3_000, 3_000,
             ((50, False), (200, False), (300, True)), 15, 300, 20)
FULL = Size("full", 500, (100_000, 1_000_000), 100_000, 1_000, 30, 20_000, 20_000,
            ((100, False), (300, False), (300, True)), 60, 2_000, 100)


def memory_and_dispatch(server: RedisServer, workdir: Path, size: Size) -> list[Row]:
    settings = bench_settings(server.url, workdir)
    templates = letter_templates(build_planner(settings))
    letters, due = PendingLetters(templates, "MEM"), PendingLetters(templates, "DUE")
    letters.check()
    now = SystemClock().now()
    aps = aps_bytes_per_job(server, letters, size.aps_jobs, now)
    all_in = all_in_bytes(server, workdir, size.story_copies // 2)
    memory = OurMemory(server, letters, now)
    footprint = {count: memory.grow_to(count) for count in size.memory_sizes}
    record = memory.record_bytes()
    # The small pending set goes to database 1 only now, so it is not in the figures above.
    few = PendingSet(size.few_pending, runtime_on(server, 1, workdir, now))
    write_pending(few.runtime.client, pending(letters, 0, size.few_pending, now))
    many = PendingSet(memory.count, runtime_on(server, 0, workdir, now))
    progress(f"3 dispatcher: {size.tick_reps} turns at {few.count:,} and {many.count:,} pending")
    measure_ticks([few, many], due, now, size.tick_reps)
    server.client().flushall()
    return [*memory_rows(footprint, record, aps, size.aps_jobs), all_in, *tick_rows(few, many)]


def end_to_end(server: RedisServer, workdir: Path, size: Size, workers: Workers) -> list[Row]:
    logs = workdir / "logs"
    settings = bench_settings(server.url, workdir / "e2e")
    bare = bare_dramatiq(server, settings, size.e2e_letters, workers, logs)
    rate = ours(server, settings, size.e2e_letters, workers, logs)
    with_pdf = None
    if size.e2e_pdf_letters:
        pdf_settings = bench_settings(server.url, workdir / "e2e-pdf", pdf=True)
        with_pdf = (ours(server, pdf_settings, size.e2e_pdf_letters, workers, logs),
                    size.e2e_pdf_letters)
    return end_to_end_rows(rate, bare, size.e2e_letters, workers, with_pdf)


def run(size: Size, sections: set[int], workers: Workers, workdir: Path) -> list[Row]:
    rows: list[Row] = []
    with RedisServer(aof=True) as fast, RedisServer(aof=False) as plain:
        for line in describe(fast.version()):
            print(line)
        if 1 in sections:
            rows += measure_scheduling(fast, size.story_copies, workdir)
        if sections & {2, 3}:
            rows += memory_and_dispatch(plain, workdir, size)
        if 4 in sections:
            rows += end_to_end(fast, workdir, size, workers)
        for rate, pdf in size.lag_rates if 5 in sections else ():
            settings = bench_settings(fast.url, workdir / f"lag-{rate}-{pdf}", pdf=pdf)
            rows += measure_due_lag(fast, settings, rate, size.lag_seconds, workers,
                                    workdir / "logs")
    if 6 in sections:
        rows += measure_pdf(bench_settings(None, workdir / "pdf"), size.pdf_letters,
                            size.legacy_pdf_letters)
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes: a few minutes")
    parser.add_argument("--only", default="1,2,3,4,5,6", help="sections to run, e.g. 4,5")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (4, 5)")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker (4, 5)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args(argv)
    size = QUICK if args.quick else FULL
    sections = {int(x) for x in args.only.split(",")}
    configure_logging("warning", "json")  # the dispatcher's info lines would drown stderr
    command = " ".join([".venv/bin/python bench/run.py", *(argv or sys.argv[1:])])
    print(f"Command: `{command}` ({size.name} size)\n")
    with tempfile.TemporaryDirectory(prefix="notifier-bench-") as tmp:
        rows = run(size, sections, Workers(args.workers, args.threads), Path(tmp))
    print(f"- load average at end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}\n")
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(as_json(rows), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
