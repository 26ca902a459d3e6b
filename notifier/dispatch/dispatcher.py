"""The dispatcher tick: re-queue expired leases, claim due letters, enqueue their ids.

One APScheduler interval job runs the tick; any number of dispatcher processes may run
at once, because claiming is a single atomic Lua step per batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from time import perf_counter

import redis
from dramatiq import Broker
from dramatiq.message import Message

from notifier import names
from notifier.clock import Clock
from notifier.dispatch.broker import enqueue_all
from notifier.logging import get_logger
from notifier.records.callbacks import CallbackOutbox
from notifier.settings import Settings
from notifier.store import Store

log = get_logger(__name__)
MAX_BATCHES_PER_TICK = 20  # bounds one tick; the next tick continues


@dataclass(frozen=True)
class Tick:
    claimed: int
    requeued: int
    seconds: float


def letter_message(letter_id: str) -> Message:  # type: ignore[type-arg]
    return Message(queue_name=names.QUEUE_LETTERS, actor_name=names.ACTOR_DELIVER_LETTER,
                   args=(letter_id,), kwargs={}, options={})


def callback_message(item_id: str) -> Message:  # type: ignore[type-arg]
    return Message(queue_name=names.QUEUE_CALLBACKS, actor_name=names.ACTOR_DELIVER_CALLBACK,
                   args=(item_id,), kwargs={}, options={})


class Dispatcher:
    def __init__(self, store: Store, broker: Broker, clock: Clock, settings: Settings,
                 callbacks: CallbackOutbox | None = None) -> None:
        self.store = store
        self.callbacks = callbacks  # issue 13: the callback outbox, when callbacks are on
        self.broker = broker
        self.clock = clock
        self.batch = settings.claim_batch
        self.lease = timedelta(seconds=settings.lease_seconds)
        self.max_queue_depth = settings.max_queue_depth

    def safe_tick(self) -> Tick | None:
        """The scheduler's job: a tick, or one warning line while Redis is unreachable (the
        next tick simply tries again; a traceback per second would drown the log)."""
        try:
            return self.tick()
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            log.warning("dispatcher.redis_unavailable", error=str(exc)[:200])
            return None

    def tick(self) -> Tick:
        started = perf_counter()
        now = self.clock.now()
        self.store.heartbeat(now)
        requeued = self.store.reap_expired(now, now + self.lease, self.batch)
        for letter_id in requeued:
            log.warning("letter.requeued", letter_id=letter_id, why="lease expired")
        enqueue_all(self.broker, [letter_message(i) for i in requeued])
        claimed = 0
        # Back-pressure: a claimed letter must reach a worker within its lease, or the
        # reaper sends it again; so claim no more than the workers have room for.
        room = self.max_queue_depth - self.store.queue_depth()
        for _ in range(MAX_BATCHES_PER_TICK):
            limit = min(self.batch, room - claimed)
            if limit <= 0:
                break
            ids = self.store.claim_due(now, now + self.lease, limit)
            enqueue_all(self.broker, [letter_message(i) for i in ids])
            claimed += len(ids)
            if len(ids) < limit:
                break
        if self.callbacks is not None:
            # Issue 13: due callback items, leased like letters; a worker sends each.
            items = self.callbacks.claim(now, now + self.lease, self.batch)
            enqueue_all(self.broker, [callback_message(i) for i in items])
        tick = Tick(claimed, len(requeued), perf_counter() - started)
        self.store.record_tick(tick.seconds)
        if claimed or requeued:
            log.info("dispatcher.tick", claimed=claimed, requeued=len(requeued),
                     seconds=round(tick.seconds, 4))
        return tick
