"""The operations page at scale: ``python bench/survey.py [--letters N ...]``.

The page and the sweeper survey every letter (``lua/survey.lua``, a thousand keys per
script call). This fills a real redis-server with N letters laid out as the store lays
them out, then times one survey and one whole operations view, and reads Redis's own
per-call time of the script (each call blocks Redis for that long)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from time import perf_counter

if __package__ in (None, ""):  # run as a script: make the `bench` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.dispatch import runtime_on
from bench.memory import pending
from bench.servers import RedisServer
from bench.workload import PendingLetters, letter_templates, write_pending
from notifier.clock import SystemClock
from notifier.logging import configure_logging
from notifier.operations.survey import operations_view
from notifier.operations.sweeper import survey


def _script_stats(client: object) -> tuple[int, float]:
    stats = client.info("commandstats").get("cmdstat_evalsha", {})  # type: ignore[attr-defined]
    return int(stats.get("calls", 0)), float(stats.get("usec_per_call", 0.0))


def measure(server: RedisServer, workdir: Path, count: int) -> None:
    now = SystemClock().now()
    client = server.client()
    client.flushall()
    runtime = runtime_on(server, 0, workdir, now)
    letters = PendingLetters(letter_templates(runtime.planner), "OPS")
    write_pending(client, pending(letters, 0, count, now))
    client.config_resetstat()
    started = perf_counter()
    found = survey(runtime.store, now)
    seconds = perf_counter() - started
    calls, per_call = _script_stats(client)
    started = perf_counter()
    operations_view(runtime)
    view = perf_counter() - started
    print(f"| {count:,} | {found.letters_scanned:,} | {seconds:.2f} s | {view:.2f} s "
          f"| {calls} | {per_call / 1000:.2f} ms |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--letters", type=int, nargs="+", default=[100_000, 1_000_000])
    args = parser.parse_args()
    configure_logging("warning")
    print("| letters | scanned | survey | operations view | script calls | Redis time per call |")
    print("|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp, RedisServer(aof=False) as server:
        for count in args.letters:
            measure(server, Path(tmp), count)


if __name__ == "__main__":
    main()
