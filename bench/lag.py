"""5. Due lag: letters coming due at a steady rate while a real `notifier scheduler` and
worker processes run; lag = sent_at (recorded by the worker) - send_at (due)."""

from __future__ import annotations

import statistics
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bench.processes import NOTIFIER, notifier_workers, running
from bench.report import Row, progress
from bench.servers import RedisServer
from bench.settings import child_env
from bench.throughput import LETTERS_PER_CASE, Workers, check_sent
from bench.workload import due_letters, letter_templates, open_cases
from notifier.clock import SystemClock
from notifier.models import Letter
from notifier.runtime import build_runtime
from notifier.settings import Settings
from notifier.store import DUE, INFLIGHT, LETTER

TARGET_P99 = 2.0
WRITE_RATE = 400  # letters/s add_letter manages at least, even on a busy 2-core machine;
# it sets the head start, so every letter is written before the first comes due


def lags(client: Any, letters: list[Letter]) -> list[float]:
    pipe = client.pipeline(transaction=False)
    for letter in letters:
        pipe.hget(LETTER + letter.letter_id, "sent_at")
    return [(datetime.fromisoformat(sent.decode()) - letter.send_at).total_seconds()
            for letter, sent in zip(letters, pipe.execute(), strict=True)]


def wait_all_sent(client: Any, first: datetime, last: datetime, timeout: float) -> None:
    """Until the due window is empty and nothing is in flight any more."""
    clock = SystemClock()
    deadline = time.monotonic() + timeout
    while (clock.now() <= last or client.zcount(DUE, first.timestamp(), last.timestamp())
           or client.zcard(INFLIGHT)):
        if time.monotonic() > deadline:
            raise RuntimeError("due-lag run did not finish in time")
        time.sleep(0.2)


def measure_due_lag(server: RedisServer, settings: Settings, rate: int, seconds: int,
                    workers: Workers, logs: Path) -> list[Row]:
    client = server.client()
    client.flushall()
    runtime = build_runtime(settings, client=client)
    count = rate * seconds
    progress(f"5 due lag: preparing {count:,} letters due at {rate}/s for {seconds} s")
    template = next(x for x in letter_templates(runtime.planner) if x.kind == "information_form")
    cases = open_cases(runtime.store, runtime.planner, count // LETTERS_PER_CASE + 1, "LAG")
    commands = [[NOTIFIER, "scheduler"], *notifier_workers(workers.processes, workers.threads)]
    with running(commands, child_env(settings), logs, f"lag-{rate}"):
        now = SystemClock().now()
        first = now + timedelta(seconds=3 + count / WRITE_RATE)
        letters = due_letters(template, cases,
                              [first + timedelta(seconds=n / rate) for n in range(count)], "lag")
        for letter in letters:
            runtime.store.add_letter(letter, now, why="bench")
        head_start = (first - SystemClock().now()).total_seconds()
        progress(f"5 due lag: written {head_start:.1f} s before the first came due; running")
        # Generous: even at 20 letters/s the backlog would drain by then.
        wait_all_sent(client, first, letters[-1].send_at, timeout=120 + count / 20)
    check_sent(client, letters)
    values = sorted(lags(client, letters))
    p50 = statistics.median(values)
    p99 = statistics.quantiles(values, n=100, method="inclusive")[98]
    pdf = ", with PDFs" if settings.digital_post_pdf else ""
    load = (f"{rate}/s for {seconds} s{pdf}, 1 scheduler + {workers.processes} workers x "
            f"{workers.threads} threads")
    return [
        Row("5 due lag", f"p50 due -> sent, {load}", p50, "s"),
        Row("5 due lag", f"p99 due -> sent at {rate}/s{pdf} (max {max(values):.2f} s)", p99, "s",
            target=f"< {TARGET_P99:g} s", met=p99 < TARGET_P99),
    ]
