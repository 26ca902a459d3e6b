"""Real delivery under faults: a real redis-server, the fake SF1601 gateway over HTTP, a
real SMTP server with STARTTLS, the Dramatiq worker (in a thread, or as `notifier worker`
processes), and a simulated clock for the dispatcher so retries need no waiting."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import dramatiq
import pytest

from notifier.clock import SimulatedClock, SystemClock
from notifier.identifiers import looks_like_cpr
from notifier.models import Letter, Status
from notifier.records.beskedfordeler import accept_post_status
from notifier.runtime import Runtime, build_runtime
from notifier.settings import Settings, load_settings
from tests.conftest import local, opening_event
from tests.integration.conftest import (
    RedisServer,
    clock_at_real_now,
    notifier_env,
    opened_at,
    start_notifier,
)
from tests.support.gateway import FakeGateway, modtag_besked_input
from tests.support.smtp import SmtpServer

pytestmark = pytest.mark.integration


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    fake = FakeGateway(slow_seconds=8).start()
    yield fake
    fake.stop()


def channel_env(gateway: FakeGateway, smtp: SmtpServer, ca_file: Path) -> dict[str, str]:
    return {
        **gateway.env(), "NOTIFIER_DIGITAL_POST_TRANSPORT": "http",
        "NOTIFIER_GATEWAY_TIMEOUT": "3", "NOTIFIER_MAIL_TRANSPORT": "smtp",
        "NOTIFIER_SMTP_HOST": "localhost", "NOTIFIER_SMTP_PORT": str(smtp.port),
        "NOTIFIER_SMTP_CA_FILE": str(ca_file), "NOTIFIER_SMTP_TIMEOUT": "3",
    }


@pytest.fixture
def settings_real(redis_url: str, tmp_path: Path, gateway: FakeGateway, smtp: SmtpServer,
                  ca_file: Path, clean_env: None) -> Settings:
    env = channel_env(gateway, smtp, ca_file)
    overrides = {k.removeprefix("NOTIFIER_").lower(): v for k, v in env.items()}
    return load_settings(redis_url=redis_url, outbox_dir=tmp_path / "outbox",
                         retry_base_seconds=10, lease_seconds=5, **overrides)


@pytest.fixture
def runtime(settings_real: Settings) -> Iterator[Runtime]:
    built = build_runtime(settings_real, clock=SimulatedClock(local("2026-11-23 10:15")))
    yield built
    built.close()


@pytest.fixture
def worker(runtime: Runtime) -> Iterator[dramatiq.Worker]:
    thread_worker = dramatiq.Worker(runtime.broker, worker_threads=2, worker_timeout=100)
    thread_worker.start()
    yield thread_worker
    thread_worker.stop()


def wait_for(predicate, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def pump(runtime: Runtime) -> None:
    """Move the clock to the next due letter, tick once, and wait until it is handled."""
    due = runtime.store.next_due()
    assert due is not None, "nothing is due"
    clock = runtime.clock
    assert isinstance(clock, SimulatedClock)
    clock.set(max(due, clock.now()))
    runtime.dispatcher.tick()
    wait_for(lambda: runtime.store.inflight_count() == 0)


def open_case(runtime: Runtime, **dated: object) -> Letter:
    """Open the standard case; return its information form (due at once)."""
    applied = runtime.store.apply_event(opening_event(**dated), runtime.planner,
                                        runtime.clock.now())
    (form,) = [x for x in applied.planned if x.kind == "information_form"]
    return form


def letter(runtime: Runtime, letter_id: str) -> Letter:
    found = runtime.store.letter(letter_id)
    assert found is not None
    return found


def test_gateway_5xx_then_200_delivers_once(runtime: Runtime, worker: dramatiq.Worker,
                                            gateway: FakeGateway) -> None:
    """Given the gateway answers 503 once, when the letter is retried, then it is accepted
    exactly once, under the same messageUUID, on the second attempt."""
    gateway.script(["503"])
    form = open_case(runtime)
    pump(runtime)
    assert letter(runtime, form.letter_id).status is Status.SCHEDULED
    pump(runtime)
    sent = letter(runtime, form.letter_id)
    assert (sent.status, sent.attempts) == (Status.SENT, 2)
    assert sent.receipt is not None and sent.receipt.startswith("sf1601:")
    assert gateway.received[form.letter_id] == 2
    assert gateway.accepted == {form.letter_id: 1}
    assert gateway.rejections == []


def test_gateway_4xx_makes_the_letter_dead_and_alerts_by_mail(
    runtime: Runtime, worker: dramatiq.Worker, gateway: FakeGateway, smtp: SmtpServer
) -> None:
    """Given the gateway refuses the message (400), the letter becomes dead with the reason
    on record, and the caseworker's alert arrives over STARTTLS without any CPR number."""
    gateway.default = "400"
    form = open_case(runtime)
    pump(runtime)
    dead = letter(runtime, form.letter_id)
    assert dead.status is Status.DEAD and dead.attempts == 1
    assert dead.reason is not None and "HTTP 400" in dead.reason
    audit = runtime.store.audit(form.case_id)
    assert any(entry.get("reason") == dead.reason for entry in audit)
    pump(runtime)  # the alert
    (alert,) = smtp.received
    assert alert.tls and alert.rcpt_tos == ["lise@eksempel.dk"]
    body = alert.message.as_string()
    assert form.case_id in alert.message["Subject"] + body
    assert not looks_like_cpr(body)
    assert gateway.accepted == {}


def test_smtp_outage_then_delivered_once(runtime: Runtime, worker: dramatiq.Worker,
                                         gateway: FakeGateway, smtp: SmtpServer) -> None:
    """Given the SMTP server is down for three attempts (70 s on the clock), when it is
    back, the alert is delivered exactly once; meanwhile it waits scheduled, not lost."""
    gateway.default = "400"
    form = open_case(runtime)
    pump(runtime)  # the form dies, which plans the alert
    smtp.stop()
    started = runtime.clock.now()
    for _ in range(3):
        pump(runtime)
    (alert_id,) = [i for i, x in runtime.store.case_letters(form.case_id).items()
                   if x.kind == "delivery_failed"]
    waiting = letter(runtime, alert_id)
    assert (waiting.status, waiting.attempts) == (Status.SCHEDULED, 3)
    assert waiting.last_error is not None and "SMTP" in waiting.last_error
    smtp.start()
    pump(runtime)
    assert runtime.clock.now() - started > timedelta(seconds=30)
    assert letter(runtime, alert_id).status is Status.SENT
    assert smtp.by_letter_id() == {alert_id: 1}


def test_worker_killed_mid_send_is_uncertain_and_its_status_makes_one_letter(
    runtime: Runtime, gateway: FakeGateway, smtp: SmtpServer, ca_file: Path,
    settings_real: Settings, tmp_path: Path
) -> None:
    """Given a `notifier worker` process SIGKILLed while the platform is still answering
    (the request had left), when the lease runs out and a new worker takes the letter, it
    is not sent again but turns uncertain; its PKO_PostStatus then makes it sent: the
    platform got exactly one request, and no 409 rule is needed.

    The case opens at the real now: the worker's lease comes from the real clock, and the
    simulated clock must pass it without making the form's reminder due."""
    gateway.script(["slow"])
    clock = runtime.clock
    assert isinstance(clock, SimulatedClock)
    clock.set(clock_at_real_now(settings_real).now())
    form = open_case(runtime, **opened_at(clock, settings_real))
    runtime.dispatcher.tick()
    env = notifier_env(str(settings_real.redis_url), settings_real.outbox_dir,
                       NOTIFIER_LEASE_SECONDS="5", **channel_env(gateway, smtp, ca_file))
    first = start_notifier(["worker", "--threads", "1"], env, tmp_path / "worker1.log")
    try:
        wait_for(lambda: gateway.received[form.letter_id] == 1)
        first.kill()
        first.wait(10)
    finally:
        first.kill()
    assert letter(runtime, form.letter_id).status is Status.SENDING
    wait_for(lambda: gateway.accepted[form.letter_id] == 1, timeout=15)  # the slow answer
    clock.set(max(SystemClock().now(), clock.now()) + timedelta(seconds=6))  # lease over
    tick = runtime.dispatcher.tick()
    assert (tick.requeued, tick.claimed) == (1, 0)
    second = start_notifier(["worker", "--threads", "1"], env, tmp_path / "worker2.log")
    try:
        wait_for(lambda: letter(runtime, form.letter_id).status is Status.UNCERTAIN)
    finally:
        second.kill()
        second.wait(10)
    accept_post_status(runtime.store, runtime.renderer.catalog,
                       modtag_besked_input(form.letter_id), runtime.clock.now())
    sent = letter(runtime, form.letter_id)
    assert (sent.status, sent.receipt_status) == (Status.SENT, "delivered")
    assert gateway.received[form.letter_id] == 1
    assert gateway.accepted == {form.letter_id: 1}


def test_ambiguous_timeout_ends_with_one_letter(runtime: Runtime, worker: dramatiq.Worker,
                                               gateway: FakeGateway) -> None:
    """Given the platform takes longer than our timeout but then accepts the letter, the
    letter is uncertain (not sent, not resent, not cancellable) until its PKO_PostStatus
    arrives; then it is sent: one letter on the platform, not zero and not two."""
    gateway.script(["slow"])
    form = open_case(runtime)
    pump(runtime)
    assert letter(runtime, form.letter_id).status is Status.UNCERTAIN
    wait_for(lambda: gateway.accepted[form.letter_id] == 1, timeout=15)  # the late accept
    waiting = letter(runtime, form.letter_id)
    assert waiting.status is Status.UNCERTAIN and waiting.attempts == 1
    assert waiting.handed_over is not None and waiting.last_error is not None
    accept_post_status(runtime.store, runtime.renderer.catalog,
                       modtag_besked_input(form.letter_id), runtime.clock.now())
    sent = letter(runtime, form.letter_id)
    assert (sent.status, sent.receipt_status) == (Status.SENT, "delivered")
    assert gateway.received[form.letter_id] == 1 and gateway.accepted == {form.letter_id: 1}


def test_a_worker_told_to_stop_with_redis_gone_exits_within_its_stop_seconds(
    own_redis: RedisServer, gateway: FakeGateway, smtp: SmtpServer, ca_file: Path,
    tmp_path: Path, clean_env: None
) -> None:
    """Given a `notifier worker` in the middle of a send when its Redis is SIGKILLed (so it
    can neither record the letter nor acknowledge its message, which Dramatiq retries for
    ever), when it gets SIGTERM, then it exits 0 within NOTIFIER_STOP_SECONDS and logs
    that it left letters in hand, instead of running on for Dramatiq's ten minutes (a
    supervisor would SIGKILL it; a test runner's worker lived on, orphaned)."""
    gateway.script(["slow"])  # answers after 8 s; the worker gives up after 3 (timeout)
    env = channel_env(gateway, smtp, ca_file)
    settings = load_settings(
        redis_url=own_redis.url, outbox_dir=tmp_path / "outbox", lease_seconds=5,
        **{k.removeprefix("NOTIFIER_").lower(): v for k, v in env.items()})
    runtime = build_runtime(settings, clock=clock_at_real_now(settings))
    log = tmp_path / "worker.log"
    try:
        form = open_case(runtime, **opened_at(runtime.clock, settings))  # type: ignore[arg-type]
        runtime.dispatcher.tick()
        worker = start_notifier(["worker", "--threads", "1"], notifier_env(
            own_redis.url, settings.outbox_dir, NOTIFIER_STOP_SECONDS="4", **env), log)
        wait_for(lambda: gateway.received[form.letter_id] == 1)
        own_redis.kill()
        worker.send_signal(signal.SIGTERM)
        asked = time.monotonic()
        code = worker.wait(60)
        took = time.monotonic() - asked
    finally:
        runtime.close()
    assert code == 0
    assert 3.5 < took < 4 + 10, f"stopped after {took:.1f} s"  # it waited, then left
    text = log.read_text()
    assert "worker.stop_timed_out" in text and '"letters_left_in_hand": true' in text
