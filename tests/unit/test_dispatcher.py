"""Dispatcher back-pressure, and the dispatcher and worker while Redis is unreachable."""

from __future__ import annotations

import json
from datetime import timedelta

import dramatiq
import fakeredis
import redis

from notifier import names
from notifier.clock import SimulatedClock
from notifier.dispatch.broker import build_broker, enqueue_all
from notifier.dispatch.dispatcher import letter_message
from notifier.models import Status
from notifier.runtime import build_runtime
from notifier.settings import Settings, load_settings
from tests.conftest import opening_event
from tests.unit.test_pipeline import deliver_due


def test_claims_stop_at_the_queue_limit(settings: Settings, clock: SimulatedClock) -> None:
    """Given 5 forms due and room for 3 in the work queue, a tick claims 3; once the
    workers have taken those, the next tick claims the other 2."""
    limited = load_settings(outbox_dir=settings.outbox_dir, max_queue_depth=3)
    runtime = build_runtime(limited, clock=clock, client=fakeredis.FakeRedis())
    for n in range(5):
        runtime.store.apply_event(opening_event(event_id=f"e{n}", case_id=f"SDP-{n}"),
                                  runtime.planner, clock.now())
    assert runtime.dispatcher.tick().claimed == 3
    assert runtime.store.queue_depth() == 3
    assert runtime.dispatcher.tick().claimed == 0
    runtime.client.delete(*runtime.client.keys("notifier:dramatiq*"))  # the workers took them
    assert runtime.dispatcher.tick().claimed == 2


def test_safe_tick_survives_redis_being_down(settings: Settings, clock: SimulatedClock) -> None:
    """The scheduler's job reports an unreachable Redis as None (one warning), not a crash."""
    server = fakeredis.FakeServer()
    runtime = build_runtime(settings, clock=clock, client=fakeredis.FakeRedis(server=server))
    server.connected = False
    assert runtime.dispatcher.safe_tick() is None
    server.connected = True
    assert runtime.dispatcher.safe_tick() is not None


class FlakyStore:
    """The real store, except that recording a send fails ``failures`` times first."""

    def __init__(self, real: object, failures: int) -> None:
        self.real = real
        self.failures = failures

    def __getattr__(self, name: str) -> object:
        return getattr(self.real, name)

    def transition(self, letter: object, expected: object, new: Status, *args: object,
                   **kwargs: object) -> object:
        if new is Status.SENT and self.failures:
            self.failures -= 1
            raise redis.ConnectionError("Redis went away for a moment")
        return self.real.transition(letter, expected, new, *args, **kwargs)  # type: ignore[attr-defined]


def test_recording_a_send_rides_out_a_redis_blip(settings: Settings,
                                                 clock: SimulatedClock) -> None:
    """Given Redis drops once just after the letter went out, the worker records the send
    on its next try instead of leaving the letter to be retaken and sent twice."""
    runtime = build_runtime(settings, clock=clock, client=fakeredis.FakeRedis())
    runtime.store.apply_event(opening_event(), runtime.planner, clock.now())
    runtime.deliverer.store = FlakyStore(runtime.store, failures=1)  # type: ignore[assignment]
    (form_id,) = deliver_due(runtime)
    assert runtime.store.letter(form_id).status is Status.SENT  # type: ignore[union-attr]
    assert len(list((settings.outbox_dir / "digital_post").glob("*.xml"))) == 1


def test_duplicate_message_while_another_worker_sends_is_skipped(
    settings: Settings, clock: SimulatedClock
) -> None:
    """Given worker A has taken a letter (sending), when a duplicate message for it reaches
    worker B, then B does not send it: only the worker that took the letter sends."""
    runtime = build_runtime(settings, clock=clock, client=fakeredis.FakeRedis())
    runtime.store.apply_event(opening_event(), runtime.planner, clock.now())
    now = clock.now()
    (form_id,) = runtime.store.claim_due(now, now + timedelta(minutes=5), 100)
    assert runtime.store.begin_send(form_id, now + timedelta(minutes=5), 12) == (
        Status.SENDING, 1)  # worker A
    assert runtime.deliverer.deliver(form_id) is Status.SENDING  # worker B, the duplicate
    assert not (settings.outbox_dir / "digital_post").exists()
    assert runtime.store.letter(form_id).attempts == 1  # type: ignore[union-attr]


def test_batched_enqueue_stores_what_dramatiq_stores_and_workers_run_it() -> None:
    """Given messages enqueued by ``enqueue_all`` and one by Dramatiq's own ``enqueue``, the
    stored records have the same shape (same keys, same JSON fields), and a real Dramatiq
    worker on that broker runs every one of them, in order, exactly once."""
    client = fakeredis.FakeRedis()
    broker = build_broker(client)
    done: list[str] = []

    @dramatiq.actor(broker=broker, actor_name=names.ACTOR_DELIVER_LETTER,
                    queue_name=names.QUEUE_LETTERS)
    def deliver(letter_id: str) -> None:
        done.append(letter_id)

    enqueue_all(broker, [letter_message(f"ltr-{n}") for n in range(5)])
    broker.enqueue(letter_message("ltr-own"))
    queue = f"{names.DRAMATIQ_NAMESPACE}:{names.QUEUE_LETTERS}"
    ids = [i.decode() for i in client.lrange(queue, 0, -1)]
    stored = [json.loads(client.hget(f"{queue}.msgs", i)) for i in ids]
    assert len(set(ids)) == 6
    assert {frozenset(m) for m in stored} == {frozenset(stored[-1])}
    assert [m["args"] for m in stored] == [[f"ltr-{n}"] for n in range(5)] + [["ltr-own"]]
    assert [m["options"]["redis_message_id"] for m in stored] == ids
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=50)
    worker.start()
    try:
        broker.join(names.QUEUE_LETTERS, timeout=10_000)
    finally:
        worker.stop()
    assert done == [f"ltr-{n}" for n in range(5)] + ["ltr-own"]

