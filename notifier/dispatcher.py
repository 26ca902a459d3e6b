"""The dispatcher tick: re-queue expired leases, claim due letters, enqueue their ids.

One APScheduler interval job runs the tick; any number of dispatcher processes may run
at once, because claiming is a single atomic Lua step per batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from time import perf_counter

from dramatiq import Broker
from dramatiq.message import Message

from notifier import names
from notifier.clock import Clock
from notifier.logging import get_logger
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


class Dispatcher:
    def __init__(self, store: Store, broker: Broker, clock: Clock, settings: Settings) -> None:
        self.store = store
        self.broker = broker
        self.clock = clock
        self.batch = settings.claim_batch
        self.lease = timedelta(seconds=settings.lease_seconds)

    def tick(self) -> Tick:
        started = perf_counter()
        now = self.clock.now()
        self.store.heartbeat(now)
        requeued = self.store.reap_expired(now, now + self.lease, self.batch)
        for letter_id in requeued:
            log.warning("letter.requeued", letter_id=letter_id, why="lease expired")
            self.broker.enqueue(letter_message(letter_id))
        claimed = 0
        for _ in range(MAX_BATCHES_PER_TICK):
            ids = self.store.claim_due(now, now + self.lease, self.batch)
            for letter_id in ids:
                self.broker.enqueue(letter_message(letter_id))
            claimed += len(ids)
            if len(ids) < self.batch:
                break
        tick = Tick(claimed, len(requeued), perf_counter() - started)
        if claimed or requeued:
            log.info("dispatcher.tick", claimed=claimed, requeued=len(requeued),
                     seconds=round(tick.seconds, 4))
        return tick
