"""The pipeline on real parts: redis-server, `notifier worker` / `scheduler` processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
import xmlschema

from notifier.clock import SimulatedClock, SystemClock
from notifier.models import Status
from notifier.runtime import Runtime, build_runtime
from notifier.settings import Settings, load_settings
from tests.conftest import opening_event
from tests.integration.conftest import (
    NOTIFIER,
    clock_at_real_now,
    notifier_env,
    opened_at,
    start_notifier,
)
from tests.support.schemas import memo_schema as memo_schema_of

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def memo_schema() -> xmlschema.XMLSchema:
    """MeMo 1.2, the default NOTIFIER_MEMO_VERSION (issue 12)."""
    return memo_schema_of("1.2")


@pytest.fixture
def real_settings(redis_url: str, tmp_path: Path, clean_env: None) -> Settings:
    return load_settings(redis_url=redis_url, outbox_dir=tmp_path / "outbox")


def open_cases(runtime: Runtime, count: int, **dated: object) -> list[str]:
    """Open ``count`` cases; return the ids of their information forms (due at once)."""
    forms = []
    for n in range(count):
        applied = runtime.store.apply_event(
            opening_event(event_id=f"evt-{n}", case_id=f"SDP-IT-{n:04d}", **dated),
            runtime.planner, runtime.clock.now())
        forms += [x.letter_id for x in applied.planned if x.kind == "information_form"]
    return forms


def wait_for(predicate, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.02)


def wait_started(log: Path) -> None:
    """Wait for a process's '*.started' line, so its signal handlers are in place."""
    wait_for(lambda: log.exists() and ".started" in log.read_text(), timeout=30)


def statuses(runtime: Runtime, ids: list[str]) -> list[Status]:
    return [runtime.store.letter(i).status for i in ids]  # type: ignore[union-attr]


def stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(30)


def test_worker_process_delivers_schema_valid_memo(real_settings: Settings, tmp_path: Path,
                                                    memo_schema: xmlschema.XMLSchema) -> None:
    """Given forms due in real Redis, when a dispatcher tick claims them and a separate
    `notifier worker` process runs, then each is sent once as a MeMo file that validates."""
    clock = SimulatedClock(datetime(2026, 11, 23, 9, 15, tzinfo=UTC))
    runtime = build_runtime(real_settings, clock=clock)
    forms = open_cases(runtime, 10)
    worker = start_notifier(["worker", "--threads", "2"],
                            notifier_env(real_settings.redis_url, real_settings.outbox_dir),
                            tmp_path / "worker.log")
    wait_started(tmp_path / "worker.log")
    try:
        assert runtime.dispatcher.tick().claimed == 10
        wait_for(lambda: set(statuses(runtime, forms)) == {Status.SENT})
    finally:
        assert stop(worker) == 0
    files = sorted((Path(real_settings.outbox_dir) / "digital_post").glob("*.xml"))
    assert sorted(f.stem for f in files) == sorted(forms)
    for path in files:
        memo_schema.validate(str(path))
    log = (tmp_path / "worker.log").read_text()
    assert "letter.sent" in log and "0706851234" not in log


def test_killed_worker_and_dispatcher_lose_nothing(real_settings: Settings,
                                                   tmp_path: Path) -> None:
    """Given 60 forms due, when a worker process is SIGKILLed mid-batch and 10 letters were
    claimed by a dispatcher that died before enqueueing them, then after the lease a
    reaper re-queues them and a fresh worker sends every letter exactly once.

    The scenario starts at the real now: the worker's leases come from the real clock, and
    the simulated clock must pass them without making the forms' reminders due."""
    clock = clock_at_real_now(real_settings)
    runtime = build_runtime(real_settings, clock=clock)
    forms = open_cases(runtime, 60, **opened_at(clock, real_settings))
    now = clock.now()
    orphaned = runtime.store.claim_due(now, now + timedelta(seconds=300), 10)  # never enqueued
    # HTML main documents: 60 PDFs would make this test about CPU, not about leases.
    env = notifier_env(real_settings.redis_url, real_settings.outbox_dir,
                       NOTIFIER_DIGITAL_POST_PDF="false")
    first = start_notifier(["worker", "--threads", "1"], env, tmp_path / "w1.log")
    runtime.dispatcher.tick()
    wait_for(lambda: Status.SENT in statuses(runtime, forms))
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    unfinished = [i for i, s in zip(forms, statuses(runtime, forms), strict=True)
                  if s is not Status.SENT]
    assert set(orphaned) <= set(unfinished)

    # The lease runs out (the worker set it from the real clock, at most a few minutes ago).
    lease = timedelta(seconds=real_settings.lease_seconds + 60)
    clock.set(max(SystemClock().now(), clock.now()) + lease)
    second = start_notifier(["worker", "--threads", "2"], env, tmp_path / "w2.log")
    wait_started(tmp_path / "w2.log")
    try:
        requeued = runtime.dispatcher.tick().requeued
        assert requeued >= len(orphaned)
        wait_for(lambda: set(statuses(runtime, forms)) == {Status.SENT})
    finally:
        assert stop(second) == 0
    # A worker SIGKILLed mid-write leaves its half-written temporary file (".tmp-*"),
    # never a letter file: writes are atomic renames.
    files = [f for f in (Path(real_settings.outbox_dir) / "digital_post").glob("*.xml")
             if not f.name.startswith(".tmp-")]
    assert sorted(f.stem for f in files) == sorted(forms)  # one file per letter id
    assert runtime.dispatcher.tick().claimed == 0  # and nothing else fell due meanwhile
    for letter_id in orphaned:
        audit = runtime.store.audit(runtime.store.letter(letter_id).case_id)  # type: ignore[union-attr]
        assert [e["what"] for e in audit if e.get("letter_id") == letter_id] == ["sent"]


def test_two_scheduler_processes_never_enqueue_a_letter_twice(real_settings: Settings,
                                                              tmp_path: Path) -> None:
    """Two `notifier scheduler` processes tick against the same Redis; every due letter
    is enqueued exactly once (counted in the Dramatiq queue, with no worker running)."""
    clock = SimulatedClock(datetime(2020, 1, 6, 9, 0, tzinfo=UTC))  # in the past: due now
    runtime = build_runtime(real_settings, clock=clock)
    # No back-pressure here: with the queue capped (1000), letters of the first cases
    # opened could fill it before the last cases' forms exist, and those would wait.
    env = notifier_env(real_settings.redis_url, real_settings.outbox_dir,
                       NOTIFIER_DISPATCH_INTERVAL="0.05", NOTIFIER_CLAIM_BATCH="7",
                       NOTIFIER_MAX_QUEUE_DEPTH="100000")
    schedulers = [start_notifier(["scheduler"], env, tmp_path / f"s{n}.log") for n in (1, 2)]
    try:
        for n in (1, 2):
            wait_started(tmp_path / f"s{n}.log")
        # Both tick before anything is due, so both compete for the letters (had one
        # started a second later, the other could have claimed every one alone).
        forms = open_cases(runtime, 300)
        wait_for(lambda: set(statuses(runtime, forms)) == {Status.QUEUED}, timeout=60)
        time.sleep(0.5)  # a few more ticks from both
    finally:
        for process in schedulers:
            assert stop(process) == 0
    client = redis.Redis.from_url(real_settings.redis_url)
    messages = client.hvals("notifier:dramatiq:letters.msgs")
    enqueued = [json.loads(m)["args"][0] for m in messages]
    claimed = [key.decode().rsplit(":", 1)[1] for key in client.scan_iter("notifier:letter:*")
               if client.hget(key, "status") == b"queued"]
    assert len(enqueued) == len(set(enqueued)) == len(claimed) >= len(forms)
    assert set(enqueued) == set(claimed)
    for n in (1, 2):
        assert "dispatcher.tick" in (tmp_path / f"s{n}.log").read_text()


def test_demo_runs_and_every_memo_validates(tmp_path: Path,
                                            memo_schema: xmlschema.XMLSchema) -> None:
    """`notifier demo` (embedded store) finishes, leaves schema-valid MeMo files, a print
    job and caseworker mails, and no CPR number in anything it printed or logged."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("NOTIFIER_")}
    env["NOTIFIER_LOG_LEVEL"] = "info"
    result = subprocess.run([NOTIFIER, "demo"], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    outbox = tmp_path / "outbox"
    memos = list((outbox / "digital_post").glob("*.xml"))
    assert len(memos) >= 10
    for path in memos:
        memo_schema.validate(str(path))
    assert list((outbox / "print").glob("*.json"))
    mails = list((outbox / "mail").glob("*.eml"))
    assert mails
    cprs = ["0706851234", "1203784321", "2502901122"]
    for text in [result.stdout, result.stderr, *(m.read_text() for m in mails)]:
        assert not any(cpr in text for cpr in cprs)
    assert "sendt decision" in result.stdout


# A `notifier serve` that signals itself SIGTERM the moment it logs '.started'.
SIGNALLED_AT_STARTED = """
import os, signal, sys
import notifier.cli as cli
real = cli.log
class Tripwire:
    def __getattr__(self, name):
        return getattr(real, name)
    def info(self, event, **fields):
        real.info(event, **fields)
        if event.endswith('.started'):
            os.kill(os.getpid(), signal.SIGTERM)
cli.log = Tripwire()
sys.exit(cli.main(['serve', '--port', '0']))
"""


def test_a_sigterm_as_started_is_logged_stops_cleanly(tmp_path: Path) -> None:
    """Given a process that is sent SIGTERM at the very moment it logs '.started' (what
    tests and supervisors wait for), then it stops cleanly with exit 0: its handlers were
    in place before the line (they were installed after it, and a SIGTERM in between
    killed it; seen once in `make test-future`)."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("NOTIFIER_")}
    result = subprocess.run([sys.executable, "-c", SIGNALLED_AT_STARTED], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "serve.stopped" in result.stderr


def test_serve_embedded_says_nothing_is_persisted_and_stops_cleanly(tmp_path: Path) -> None:
    """`notifier serve` without NOTIFIER_REDIS_URL warns loudly and exits 0 on SIGTERM."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("NOTIFIER_")}
    log = tmp_path / "serve.log"
    process = start_notifier(["serve", "--port", "0"], env, log)  # its API on any free port
    wait_started(log)
    assert stop(process) == 0
    text = log.read_text()
    assert "NOTHING IS PERSISTED" in text and "serve.stopped" in text
