"""2. Memory: Redis bytes per pending letter (INFO used_memory delta / N), ours at two
sizes, APScheduler's bytes per job carrying the same record."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

from bench import aps
from bench.report import Row, progress
from bench.servers import RedisServer
from bench.settings import bench_settings
from bench.workload import Pending, PendingLetters, story_events, write_pending
from notifier.runtime import build_runtime
from notifier.store import LETTER

TARGET_BYTES = 600
YEAR_SECONDS = 365 * 86400


def pending(letters: PendingLetters, start: int, stop: int, now: datetime) -> Iterator[Pending]:
    """Letters ``start..stop`` due over the coming year (a fixed, well-spread order)."""
    for n in range(start, stop):
        yield letters.clone(n, now + timedelta(seconds=3600 + (n * 7919) % YEAR_SECONDS))


def aps_bytes_per_job(server: RedisServer, letters: PendingLetters, count: int,
                      now: datetime) -> float:
    client = server.client()
    client.flushall()
    progress(f"2 memory: {count:,} APScheduler jobs")
    scheduler = aps.paused_scheduler(server.port)
    before = server.used_memory()
    aps.add_jobs(scheduler, ((p.letter_id, p.record, datetime.fromtimestamp(p.due, now.tzinfo))
                             for p in pending(letters, 0, count, now)))
    used = server.used_memory() - before
    scheduler.shutdown(wait=False)
    client.flushall()
    return used / count


class OurMemory:
    """Grows one pending set in steps and reads the footprint at each size."""

    def __init__(self, server: RedisServer, letters: PendingLetters, now: datetime) -> None:
        self.server = server
        self.letters = letters
        self.now = now
        self.count = 0
        server.client().flushall()
        self.baseline = server.used_memory()

    def grow_to(self, count: int) -> float:
        progress(f"2 memory: writing pending letters {self.count:,}..{count:,}")
        write_pending(self.server.client(), pending(self.letters, self.count, count, self.now))
        self.count = count
        return (self.server.used_memory() - self.baseline) / count

    def record_bytes(self, sample: int = 200) -> float:
        """Mean MEMORY USAGE of letter record hashes: the part the key layout decides."""
        client = self.server.client()
        step = max(self.count // sample, 1)
        sizes = [int(client.memory_usage(LETTER + self.letters.ident(n), samples=0) or 0)
                 for n in range(0, self.count, step)]
        return sum(sizes) / len(sizes)


def all_in_bytes(server: RedisServer, workdir: Path, copies: int) -> Row:
    """Everything apply_event stores (case state, event record, audit trail, letters, due
    entries) per letter planned, for the demo's stories; includes letters the stories
    later cancel, as those records stay too."""
    client = server.client()
    client.flushall()
    runtime = build_runtime(bench_settings(server.url, workdir), client=client)
    progress(f"2 memory: all-in footprint of {copies} copies of the demo's stories")
    before = server.used_memory()
    planned = 0
    for event in story_events(copies):
        planned += len(runtime.store.apply_event(event, runtime.planner,
                                                 event.occurred_at).planned)
    used = server.used_memory() - before
    client.flushall()
    return Row("2 memory", f"bytes per planned letter, all in (case, event, audit; "
               f"{planned:,} letters)", used / planned, "B")


def memory_rows(sizes: dict[int, float], record: float, aps_bytes: float, aps_count: int
                ) -> list[Row]:
    rows = []
    for count, ours in sizes.items():
        rows.append(Row("2 memory", f"bytes per pending letter at {count:,} pending", ours, "B",
                        aps_bytes, f"APScheduler job, at {aps_count:,}",
                        f"<= {TARGET_BYTES} B and below APScheduler",
                        ours <= TARGET_BYTES and ours < aps_bytes))
    rows.append(Row("2 memory", "of which the letter's record hash (MEMORY USAGE)", record, "B",
                    alternative_name="the rest: due-set entry and case index"))
    return rows
