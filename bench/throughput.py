"""4. End to end: claim -> Dramatiq -> render -> MeMo XML -> file transport -> record, with
worker processes, against a bare Dramatiq no-op actor on the same Redis, same message
count, same processes and threads. Both are timed from the first enqueue (for us: the
first dispatcher tick) until the last message is acknowledged."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from time import perf_counter
from typing import Any

from bench.processes import cpu_seconds, noop_workers, notifier_workers, running
from bench.report import Row, progress
from bench.servers import RedisServer
from bench.settings import child_env
from bench.workload import due_letters, letter_templates, open_cases
from notifier import names
from notifier.clock import SimulatedClock, SystemClock
from notifier.dispatch.broker import build_broker
from notifier.dispatch.dispatcher import letter_message
from notifier.models import Letter, Status
from notifier.runtime import Runtime, build_runtime
from notifier.settings import Settings
from notifier.store import LETTER

TARGET = 0.5
PDF_TARGET = 0.5  # end to end with PDFs against without (issue 16)
WARM_UP = 100  # letters through first, so workers are polling and templates compiled
LETTERS_PER_CASE = 4  # due letters added to each opened case (which has ~6 of its own)
MESSAGES = f"{names.DRAMATIQ_NAMESPACE}:{names.QUEUE_LETTERS}.msgs"


@dataclass(frozen=True)
class Workers:
    processes: int
    threads: int


@dataclass(frozen=True)
class Run:
    rate: float  # letters (messages) per second, wall clock
    cpu_ms: float  # the worker processes' CPU per letter (message)


def wait_drained(client: Any, timeout: float) -> None:
    """Until every enqueued message is acknowledged (Dramatiq deletes it from .msgs)."""
    deadline = time.monotonic() + timeout
    while client.hlen(MESSAGES):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{client.hlen(MESSAGES)} messages still unacknowledged")
        time.sleep(0.005)


def timed(client: Any, enqueue: Callable[[], None], timeout: float) -> float:
    """Seconds from the start of ``enqueue`` until its last message is acknowledged."""
    started = perf_counter()
    enqueue()
    wait_drained(client, timeout)
    return perf_counter() - started


def bare_dramatiq(server: RedisServer, settings: Settings, count: int, workers: Workers,
                  logs: Path) -> Run:
    """Messages per second through the no-op actor."""
    client = server.client()
    client.flushall()
    broker = build_broker(client)

    def enqueue(prefix: str, number: int) -> Callable[[], None]:
        def send() -> None:  # the messages the dispatcher would send, one enqueue each
            for n in range(number):
                broker.enqueue(letter_message(f"{prefix}-{n}"))
        return send

    progress(f"4 end to end: bare Dramatiq, {count:,} messages")
    with running(noop_workers(workers.processes, workers.threads, server.url),
                 child_env(settings), logs, "noop") as children:
        timed(client, enqueue("warm", WARM_UP), timeout=120)
        cpu = cpu_seconds(children)
        seconds = timed(client, enqueue("bare", count), timeout=120 + count / 10)
        cpu = cpu_seconds(children) - cpu
    return Run(count / seconds, cpu / count * 1000)


def prepare(runtime: Runtime, count: int, now: datetime, tag: str
            ) -> tuple[list[Letter], list[Letter]]:
    """Cases, then warm-up letters due before ``now - 15 s`` and measured ones after it."""
    template = next(x for x in letter_templates(runtime.planner) if x.kind == "information_form")
    cases = open_cases(runtime.store, runtime.planner,
                       (count + WARM_UP) // LETTERS_PER_CASE + 1, tag)
    warm = due_letters(template, cases, [now - timedelta(seconds=20)] * WARM_UP, "warm")
    measured = due_letters(template, cases, [now - timedelta(seconds=10)] * count, "run")
    for letter in warm + measured:
        runtime.store.add_letter(letter, now, why="bench")
    return warm, measured


def ours(server: RedisServer, settings: Settings, count: int, workers: Workers,
         logs: Path) -> Run:
    """Letters per second, dispatcher tick to recorded as sent."""
    client = server.client()
    client.flushall()
    now = SystemClock().now()
    clock = SimulatedClock(now - timedelta(seconds=15))
    runtime = build_runtime(settings, clock=clock, client=client)
    progress(f"4 end to end: preparing {count:,} letters (pdf={settings.digital_post_pdf})")
    warm, measured = prepare(runtime, count, now, "E2E")
    progress(f"4 end to end: notifier workers, {count:,} letters")

    def dispatch() -> None:
        claimed = 0
        while claimed < count:
            claimed += runtime.dispatcher.tick().claimed

    name = "worker-pdf" if settings.digital_post_pdf else "worker"
    with running(notifier_workers(workers.processes, workers.threads), child_env(settings),
                 logs, name) as children:
        runtime.dispatcher.tick()  # the warm-up letters only: the clock is before the rest
        wait_drained(client, timeout=300)
        clock.set(now)
        cpu = cpu_seconds(children)
        seconds = timed(client, dispatch, timeout=120 + count / 5)
        cpu = cpu_seconds(children) - cpu
    check_sent(client, measured)
    memos = list((settings.outbox_dir / "digital_post").glob("*.xml"))
    if len(memos) != len(warm) + count:
        raise RuntimeError(f"{len(memos)} MeMo files for {len(warm) + count} letters")
    return Run(count / seconds, cpu / count * 1000)


def check_sent(client: Any, letters: list[Letter]) -> None:
    """Refuse to report a rate for a run that did not send every letter."""
    pipe = client.pipeline(transaction=False)
    for letter in letters:
        pipe.hget(LETTER + letter.letter_id, "status")
    unsent = [s for s in pipe.execute() if s != Status.SENT.value.encode()]
    if unsent:
        raise RuntimeError(f"{len(unsent)} of {len(letters)} letters not sent: {unsent[:5]}")


def end_to_end_rows(ours: Run, bare: Run, count: int, workers: Workers,
                    with_pdf: tuple[Run, int] | None) -> list[Row]:
    shape = f"{workers.processes} processes x {workers.threads} threads"
    rows = [Row("4 end to end", f"letters sent, {count:,} letters, {shape}", ours.rate,
                "letters/s", bare.rate, "bare Dramatiq no-op, same messages",
                f">= {TARGET:.0%} of bare", ours.rate >= TARGET * bare.rate),
            Row("4 end to end", "worker CPU per letter (all worker processes; bare: per "
                "message)", ours.cpu_ms, "ms", bare.cpu_ms, "bare Dramatiq no-op")]
    if with_pdf is not None:
        pdf, pdf_count = with_pdf
        # Issue 16: with PDFs (Typst) at least half the rate without them.
        rows += [Row("4 end to end", f"same with digital_post_pdf=true (the default), "
                     f"{pdf_count:,} letters", pdf.rate, "letters/s", ours.rate,
                     "the same without PDFs", f">= {PDF_TARGET:.0%} of without",
                     pdf.rate >= PDF_TARGET * ours.rate),
                 Row("4 end to end", "worker CPU per letter with PDFs", pdf.cpu_ms, "ms",
                     ours.cpu_ms, "without PDFs")]
    return rows
