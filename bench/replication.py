"""What WAIT costs (issue 15): events applied with and without confirmation by a replica.

A primary and a replica (both AOF ``everysec``, as docker-compose.yml runs them) on free
loopback ports. The demo's stories (copies, renamed) go through ``Store.apply_event``
one event at a time, as the API applies a single posted event, in two ways taking turns
chunk by chunk (so background load on the machine hits both alike), each in its own
database: WAIT 0 (the primary's acknowledgement, today's default without Sentinel) and
WAIT 1 (``NOTIFIER_REDIS_WAIT_REPLICAS=1``, the default with Sentinel). Also timed alone:
the confirmation a worker adds when it takes a letter and when it records it sent.

Loopback hides the network: on a LAN, add one round trip between primary and replica
(typically 0.1-0.5 ms) to every WAIT. Run: ``.venv/bin/python bench/replication.py``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path
from time import perf_counter

if __package__ in (None, ""):  # run as a script: make the `bench` package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.machine import describe
from bench.report import progress
from bench.servers import RedisServer
from bench.settings import bench_settings
from bench.workload import story_events
from notifier.intake.events import Event
from notifier.runtime import Runtime, build_runtime
from notifier.store.replication import Durability

CHUNKS = 10


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def timed(runtime: Runtime, events: list[Event], into: list[float]) -> None:
    for event in events:
        started = perf_counter()
        runtime.store.apply_event(event, runtime.planner, event.occurred_at)
        into.append(perf_counter() - started)


def row(name: str, seconds: list[float]) -> str:
    ms = [s * 1000 for s in seconds]
    return (f"| {name} | {len(ms):,} | {statistics.median(ms):.3f} | "
            f"{percentile(ms, 0.95):.3f} | {percentile(ms, 0.99):.3f} | "
            f"{statistics.fmean(ms):.3f} | {len(ms) / sum(seconds):,.0f} |")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=100,
                        help="copies of the demo's stories (21 events each)")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="notifier-bench-wait-"))
    with RedisServer(aof=True) as primary, RedisServer(aof=True, extra=(
            "--replicaof", "127.0.0.1", str(primary.port))) as replica:
        while replica.client().info("replication")["master_link_status"] != "up":
            pass  # the initial sync of an empty primary takes milliseconds
        runtimes = {}
        for wait, db in ((0, 0), (1, 1)):
            runtime = build_runtime(bench_settings(primary.url, workdir),
                                    client=primary.client(db))
            runtime.store.durability = Durability(wait, 1.0)
            runtimes[wait] = runtime
        events = story_events(args.copies)
        progress(f"replication: {len(events):,} events, WAIT 0 and WAIT 1 in turns")
        results: dict[int, list[float]] = {0: [], 1: []}
        size = -(-len(events) // CHUNKS)
        for start in range(0, len(events), size):
            for wait, runtime in runtimes.items():
                timed(runtime, events[start:start + size], results[wait])
        confirm: list[float] = []
        store = runtimes[1].store
        letter_ids = [k.decode().removeprefix("notifier:letter:") for k in
                      primary.client(1).scan_iter(match="notifier:letter:*", count=1000)]
        for letter_id in letter_ids[:2000]:
            status = primary.client(1).hget(f"notifier:letter:{letter_id}", "status")
            started = perf_counter()
            store.durability.confirm(store.redis, [f"notifier:letter:{letter_id}"], "status",
                                     (status or b"").decode())
            confirm.append(perf_counter() - started)
        print("\n".join(describe(primary.version())))
        print("- primary and replica on loopback, both AOF everysec\n")
        print("| what | n | p50 ms | p95 ms | p99 ms | mean ms | per second |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        print(row("apply_event, WAIT 0 (primary only)", results[0]))
        print(row("apply_event, WAIT 1 (a replica confirms)", results[1]))
        print(row("confirmation alone (take / sent record)", confirm))
    return 0


if __name__ == "__main__":
    sys.exit(main())
