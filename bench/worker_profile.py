"""Where a letter's time goes in the worker: cProfile over ``Deliverer.deliver`` for letters
already claimed, against a real redis-server (AOF everysec, as the ha profile deploys), in
one process. Not part of run.py (the profiler inflates Python-heavy parts; read
proportions). Also prints Redis round trips per letter (``INFO commandstats`` before and
after).

    .venv/bin/python bench/worker_profile.py [--letters 500] [--pdf] [--top 15]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the `bench` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.servers import RedisServer
from bench.settings import bench_settings
from bench.throughput import prepare
from notifier.clock import SimulatedClock, SystemClock
from notifier.runtime import build_runtime


def commands(client: Any) -> dict[str, int]:
    stats = client.info("commandstats")
    return {name: int(value["calls"]) for name, value in stats.items()}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--letters", type=int, default=500)
    parser.add_argument("--pdf", action="store_true", help="Digital Post letters with a PDF")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--no-profile", action="store_true",
                        help="only time it (CPU and wall per letter, Redis commands)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="notifier-worker-profile-") as tmp, \
            RedisServer(aof=True) as server:
        settings = bench_settings(server.url, Path(tmp), pdf=args.pdf)
        client = server.client()
        now = SystemClock().now()
        runtime = build_runtime(settings, clock=SimulatedClock(now), client=client)
        warm, _measured = prepare(runtime, args.letters, now + timedelta(seconds=15), "PROF")
        lease = now + timedelta(seconds=600)
        ids = runtime.store.claim_due(now + timedelta(seconds=30), lease, 10 ** 6)
        first = {x.letter_id for x in warm}
        for letter_id in [i for i in ids if i in first]:
            runtime.deliverer.deliver(letter_id)  # warm-up: templates, compiler, fonts
        todo = [i for i in ids if i not in first]
        before = commands(client)
        profiler = cProfile.Profile()
        cpu, wall = time.process_time(), time.perf_counter()
        if not args.no_profile:
            profiler.enable()
        for letter_id in todo:
            runtime.deliverer.deliver(letter_id)
        profiler.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        after = commands(client)
    calls = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    under = "" if args.no_profile else " under the profiler"
    print(f"## {len(todo)} letters (pdf={args.pdf}): {cpu / len(todo) * 1000:.2f} ms CPU, "
          f"{wall / len(todo) * 1000:.2f} ms wall per letter{under}\n")
    print("Redis commands per letter: " + ", ".join(
        f"{k.removeprefix('cmdstat_')} {v / len(todo):.1f}"
        for k, v in sorted(calls.items(), key=lambda kv: -kv[1]) if v))
    if args.no_profile:
        return 0
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    for order in ("tottime", "cumulative"):
        out.seek(0)
        out.truncate()
        stats.sort_stats(order).print_stats(args.top)
        lines = out.getvalue().splitlines()
        start = next(n for n, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
        print(f"\nby {order}:\n```")
        print("\n".join(lines[start:start + args.top + 1]))
        print("```")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
