"""The operations page at scale: ``python bench/survey.py [--letters N ...]``.

The page and the sweeper survey every letter (``lua/survey.lua``, a thousand keys per
script call). This fills a real redis-server with N letters laid out as the store lays
them out (a thousand of them dead), then times one survey, one operations view surveying
every letter now, and one view after a sweep (the sweep's survey, its letters read
again), and reads Redis's own per-call time of the script (each call blocks Redis for
that long)."""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Callable
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
from notifier.operations.sweeper import Sweeper, survey
from notifier.store import LETTER

DEAD = 1000  # letters marked dead, spread over the keyspace


def _script_stats(client: object) -> tuple[int, float]:
    stats = client.info("commandstats").get("cmdstat_evalsha", {})  # type: ignore[attr-defined]
    return int(stats.get("calls", 0)), float(stats.get("usec_per_call", 0.0))


def _timed(work: Callable[[], object]) -> float:
    started = perf_counter()
    work()
    return perf_counter() - started


def measure(server: RedisServer, workdir: Path, count: int) -> None:
    now = SystemClock().now()
    client = server.client()
    client.flushall()
    runtime = runtime_on(server, 0, workdir, now)
    letters = PendingLetters(letter_templates(runtime.planner), "OPS")
    write_pending(client, pending(letters, 0, count, now))
    for n in range(0, count, max(count // DEAD, 1)):  # some letters an operator must see
        client.hset(LETTER + letters.ident(n), "status", "dead")
    client.config_resetstat()
    seconds = _timed(lambda: survey(runtime.store, now))
    calls, per_call = _script_stats(client)
    live = _timed(lambda: operations_view(runtime, live=True))
    Sweeper(runtime.store, runtime.clock, runtime.settings).sweep()
    view = operations_view(runtime)
    from_sweep = _timed(lambda: operations_view(runtime))
    print(f"| {count:,} | {seconds:.2f} s | {calls} | {per_call / 1000:.2f} ms | {live:.2f} s "
          f"| {from_sweep * 1000:.0f} ms ({view['survey']['by']}, {view['dead_count']} dead) |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--letters", type=int, nargs="+", default=[100_000, 1_000_000])
    args = parser.parse_args()
    configure_logging("warning")
    print("| letters | survey | script calls | Redis time per call | view, surveying now "
          "| view after a sweep |")
    print("|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp, RedisServer(aof=False) as server:
        for count in args.letters:
            measure(server, Path(tmp), count)


if __name__ == "__main__":
    main()
