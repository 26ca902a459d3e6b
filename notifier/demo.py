"""``notifier demo``: example cases through the real pipeline on a simulated clock.

The events are applied through the store, the dispatcher claims due letters, a Dramatiq
worker renders and delivers them to the outbox; only time is simulated, so months of
follow-up pass in seconds.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from time import monotonic, sleep

import dramatiq

from notifier.clock import SimulatedClock
from notifier.errors import InputError
from notifier.intake.events import Event
from notifier.models import Status
from notifier.planning.simulation import read_events
from notifier.runtime import Runtime, build_runtime
from notifier.settings import Settings

IDLE_TIMEOUT_SECONDS = 30.0
_NOT_SENT = {Status.SUPPRESSED: "undertrykt (standby)",
             Status.HELD: "holdt tilbage til sagsbehandleren"}


def demo_events(path: Path | None) -> list[Event]:
    if path is None:
        text = resources.files("notifier").joinpath("scenarios", "demo.jsonl").read_text("utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    events = [item.event for item in read_events(text.splitlines())]
    return sorted(events, key=lambda e: e.occurred_at)


def run_demo(settings: Settings, events_path: Path | None = None) -> int:
    events = demo_events(events_path)
    if not events:
        raise InputError.single("events", "no events to run")
    clock = SimulatedClock(events[0].occurred_at - timedelta(minutes=1))
    runtime = build_runtime(settings, clock=clock)
    if settings.embedded:
        print("Demo on the embedded in-memory store (nothing persisted); "
              f"letters go to {settings.outbox_dir}/", file=sys.stderr)
    worker = dramatiq.Worker(runtime.broker, worker_threads=2, worker_timeout=100)
    worker.start()
    reported: set[str] = set()
    try:
        for event in events:
            _release_until(runtime, clock, event.occurred_at, reported)
            clock.set(event.occurred_at)
            applied = runtime.store.apply_event(event, runtime.planner, clock.now())
            _line(runtime, event.occurred_at, event.case_id,
                  f"hændelse {event.type} ({applied.outcome})")
            for letter in applied.cancelled:
                _line(runtime, event.occurred_at, event.case_id, f"  annulleret {letter.kind}")
            for letter in applied.planned:  # what will not go out on its own (issue 11)
                if letter.status in _NOT_SENT:
                    _line(runtime, event.occurred_at, event.case_id,
                          f"  {_NOT_SENT[letter.status]} {letter.kind}")
        _release_until(runtime, clock, None, reported)
        _drain_callbacks(runtime, clock)
    finally:
        worker.stop()
        runtime.close()
    _summary(runtime)
    return 0


def _release_until(runtime: Runtime, clock: SimulatedClock, until: datetime | None,
                   reported: set[str]) -> None:
    while (due := runtime.store.next_due()) is not None and (until is None or due <= until):
        clock.set(max(due, clock.now()))
        claimed = runtime.dispatcher.tick().claimed
        _wait_idle(runtime)
        if claimed:
            _report_sent(runtime, reported)


def _drain_callbacks(runtime: Runtime, clock: SimulatedClock) -> None:
    """Issue 13: with NOTIFIER_CALLBACK_URL set, give the callbacks time to go out (the
    simulated clock moves on a second per tick, so retries fall due), then say how many
    are still pending."""
    if runtime.callbacks is None:
        return
    outbox = runtime.callbacks.outbox
    started = monotonic()
    while outbox.counts()["pending"] and monotonic() - started < IDLE_TIMEOUT_SECONDS:
        clock.advance(timedelta(seconds=1))
        runtime.dispatcher.tick()
        sleep(0.1)
    counts = outbox.counts()
    print(f"\nCallbacks til {runtime.settings.callback_url}: {counts['pending']} venter, "
          f"{counts['dead']} opgivet (notifier callbacks status)")


def _wait_idle(runtime: Runtime) -> None:
    started = monotonic()
    while runtime.store.inflight_count():
        if monotonic() - started > IDLE_TIMEOUT_SECONDS:
            raise RuntimeError("the worker did not finish the claimed letters in time")
        sleep(0.005)


def _report_sent(runtime: Runtime, reported: set[str]) -> None:
    """Print letters sent since the last report (``reported`` remembers which were shown)."""
    for key in runtime.client.scan_iter(match="notifier:letter:*", count=1000):
        letter = runtime.store.letter(key.decode().rsplit(":", 1)[1])
        if letter is None or letter.letter_id in reported or letter.sent_at is None:
            continue
        reported.add(letter.letter_id)
        deadline = f", frist {letter.deadline.isoformat()}" if letter.deadline else ""
        _line(runtime, letter.sent_at, letter.case_id,
              f"  sendt {letter.kind} via {letter.channel.value}{deadline}")


def _line(runtime: Runtime, at: datetime, case_id: str, text: str) -> None:
    local = runtime.planner.calendar.local(at)
    print(f"{local:%Y-%m-%d %H:%M}  {case_id:<15} {text}")


def _summary(runtime: Runtime) -> None:
    counts: dict[str, int] = {}
    for key in runtime.client.scan_iter(match="notifier:letter:*", count=1000):
        letter = runtime.store.letter(key.decode().rsplit(":", 1)[1])
        if letter:
            counts[letter.status.value] = counts.get(letter.status.value, 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    print(f"\nBreve: {summary}. Se dem i {runtime.settings.outbox_dir}/")
