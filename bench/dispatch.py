"""3. Dispatcher: one tick that claims a full batch, with few and with many letters
pending in the future. The claim is a ZRANGEBYSCORE up to now, so its cost should follow
what is due, not what is pending. The two pending sets live in two databases of one
redis-server and are timed in turns, so background load hits both alike."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from time import perf_counter

from bench.report import Row, progress
from bench.servers import RedisServer
from bench.settings import bench_settings
from bench.workload import PendingLetters, write_pending
from notifier import names
from notifier.clock import SimulatedClock
from notifier.runtime import Runtime, build_runtime
from notifier.store import INFLIGHT

TARGET = 1.5
TARGET_MS = 40  # a tick claiming a full batch (issue 16: batched enqueue)
QUEUE = f"{names.DRAMATIQ_NAMESPACE}:{names.QUEUE_LETTERS}"
QUEUE_KEYS = (QUEUE, QUEUE + ".msgs")  # Dramatiq's list of ids and hash of messages


@dataclass
class PendingSet:
    """One pending set (in its own database) and the times measured against it."""

    count: int
    runtime: Runtime
    ticks: list[float] = field(default_factory=list)
    claims: list[float] = field(default_factory=list)


def runtime_on(server: RedisServer, db: int, workdir: Path, now: datetime) -> Runtime:
    settings = bench_settings(server.url, workdir)
    return build_runtime(settings, clock=SimulatedClock(now), client=server.client(db))


def timed_batch(target: PendingSet, due: PendingLetters, first: int, now: datetime,
                operation: Callable[[Runtime], int]) -> float:
    """Make one batch due, time ``operation`` claiming it, then remove what it left (the
    inflight entries, the Dramatiq messages) so the next turn starts from the same state."""
    runtime = target.runtime
    batch = runtime.settings.claim_batch
    write_pending(runtime.client, (due.clone(first + n, now - timedelta(seconds=1))
                                   for n in range(batch)))
    started = perf_counter()
    claimed = operation(runtime)
    elapsed = perf_counter() - started
    if claimed != batch:
        raise AssertionError(f"claimed {claimed}, expected {batch}")
    runtime.client.delete(INFLIGHT, *QUEUE_KEYS)
    return elapsed


def whole_tick(runtime: Runtime) -> int:
    return runtime.dispatcher.tick().claimed


def claim_only(runtime: Runtime) -> int:
    now = runtime.clock.now()
    return len(runtime.store.claim_due(now, now + timedelta(minutes=5),
                                       runtime.settings.claim_batch))


def measure_ticks(sets: list[PendingSet], due: PendingLetters, now: datetime, reps: int) -> None:
    """Take turns over the sets; the first round loads scripts and connections: dropped."""
    batch = sets[0].runtime.settings.claim_batch
    first = 0
    for rep in range(reps + 1):
        for target in sets:
            tick = timed_batch(target, due, first, now, whole_tick)
            claim = timed_batch(target, due, first + batch, now, claim_only)
            first += 2 * batch
            if rep:
                target.ticks.append(tick)
                target.claims.append(claim)


def tick_rows(few: PendingSet, many: PendingSet) -> list[Row]:
    batch = few.runtime.settings.claim_batch
    rows = []
    for name, few_s, many_s, target in (
            (f"tick claiming {batch} letters", few.ticks, many.ticks, True),
            (f"of which the Lua claim of {batch}", few.claims, many.claims, False)):
        few_ms = statistics.median(few_s) * 1000
        many_ms = statistics.median(many_s) * 1000
        progress(f"3 dispatcher: {name}: {few_ms:.1f} ms at {few.count:,} pending, "
                 f"{many_ms:.1f} ms at {many.count:,}")
        rows.append(Row("3 dispatcher", f"{name}, {many.count:,} pending (median)", many_ms,
                        "ms", few_ms, f"same at {few.count:,} pending",
                        f"<= {TARGET:g}x and <= {TARGET_MS:g} ms" if target else "",
                        many_ms <= TARGET * few_ms and many_ms <= TARGET_MS
                        if target else None))
    return rows
