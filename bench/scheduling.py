"""1. Scheduling: events applied and letters planned per second, against one APScheduler
add_job per letter, on the same redis-server.

The three ways of storing run in turns, chunk by chunk, each in its own database, so a
burst of other load on the machine hits all of them alike instead of one phase.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from time import perf_counter, process_time

from bench import aps
from bench.report import Row, progress
from bench.servers import RedisServer
from bench.settings import bench_settings
from bench.workload import future, opening_event, story_events
from notifier.intake.events import Event
from notifier.models import Letter
from notifier.runtime import Runtime, build_runtime
from notifier.store import Store

TARGET = 10.0
CHUNKS = 10


@dataclass
class Stopwatch:
    """Adds up the time spent inside ``with stopwatch:`` blocks."""

    seconds: float = 0.0
    started: float = 0.0

    def __enter__(self) -> None:
        self.started = perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.seconds += perf_counter() - self.started


def measure_scheduling(server: RedisServer, copies: int, workdir: Path) -> list[Row]:
    server.client().flushall()
    runtime = build_runtime(bench_settings(server.url, workdir), client=server.client(0))
    direct = Store(server.client(1))
    scheduler = aps.paused_scheduler(server.port, db=2)
    events = story_events(copies)
    progress(f"1 scheduling: {len(events):,} events ({copies} copies of the demo), "
             "apply_event / add_letter / APScheduler in turns")
    applying, adding, apscheduler = Stopwatch(), Stopwatch(), Stopwatch()
    planned: list[Letter] = []
    size = -(-len(events) // CHUNKS)
    for start in range(0, len(events), size):
        with applying:
            chunk = apply_all(runtime, events[start:start + size])
        with adding:
            add_all(direct, chunk)
        jobs = [(letter.letter_id, letter.to_hash(), letter.send_at) for letter in chunk]
        with apscheduler:
            aps.add_jobs(scheduler, jobs)
        planned += chunk
    # Emptied first: the demo's events are dated in the past, so on shutdown APScheduler's
    # thread would find every job due and try to run it on a stopped executor.
    server.client().flushall()
    scheduler.shutdown(wait=False)
    return scheduling_rows(len(events), len(planned), applying.seconds, adding.seconds,
                           apscheduler.seconds, planning_only(runtime, len(events)))


def apply_all(runtime: Runtime, events: list[Event]) -> list[Letter]:
    planned: list[Letter] = []
    for event in events:
        planned += runtime.store.apply_event(event, runtime.planner, event.occurred_at).planned
    return planned


def add_all(store: Store, letters: list[Letter]) -> None:
    for letter in letters:
        store.add_letter(letter, letter.send_at, why="bench")


def planning_only(runtime: Runtime, count: int) -> tuple[float, float]:
    """The pure planner's rate on new cases, per core (CPU time, so other load on the
    machine does not count): the ceiling for any store fed by one process."""
    events = [opening_event(f"PLAN-{n:06d}", future()) for n in range(count)]
    letters = 0
    started = process_time()
    for event in events:
        letters += len(runtime.planner.apply(None, {}, event, event.occurred_at).planned)
    seconds = process_time() - started
    return count / seconds, letters / seconds


def scheduling_rows(events: int, letters: int, applying: float, adding: float,
                    apscheduler: float, planning: tuple[float, float]) -> list[Row]:
    ours = letters / applying
    theirs = letters / apscheduler
    return [
        Row("1 scheduling", "events applied (Store.apply_event, demo mix)", events / applying,
            "events/s"),
        Row("1 scheduling", "letters planned and stored (same run)", ours, "letters/s",
            theirs, "APScheduler add_job per letter", f">= {TARGET:g}x",
            ours >= TARGET * theirs),
        Row("1 scheduling", "letters stored one by one (Store.add_letter, no planning)",
            letters / adding, "letters/s", theirs, "APScheduler add_job"),
        Row("1 scheduling", f"planning alone (Planner.apply, no Redis), opening events: "
            f"{planning[0]:,.0f} events/s", planning[1], "letters/s",
            alternative_name="per core (CPU time): the ceiling for one ingest process"),
    ]
