"""Dramatiq actors, declared against an explicitly given broker (no global broker)."""

from __future__ import annotations

import dramatiq
import redis

from notifier import names
from notifier.delivery.deliverer import Deliverer
from notifier.logging import get_logger
from notifier.records.callbacks import CallbackSender

log = get_logger(__name__)

TIME_LIMIT_MS = 10 * 60 * 1000


def declare_actors(broker: dramatiq.Broker, deliverer: Deliverer,
                   callbacks: CallbackSender | None = None) -> dramatiq.Actor:  # type: ignore[type-arg]
    if callbacks is not None:
        declare_callback_actor(broker, callbacks)

    def deliver_letter(letter_id: str) -> None:
        try:
            deliverer.deliver(letter_id)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            # Redis down or failing over (issue 15): one line, not a traceback per message.
            # A taken letter is re-queued when its lease expires; an untaken one never left.
            log.warning("letter.redis_unavailable", letter_id=letter_id, error=str(exc)[:200])

    # No max_retries: the Retries middleware is left out of the broker on purpose.
    return dramatiq.Actor(
        deliver_letter,
        broker=broker,
        actor_name=names.ACTOR_DELIVER_LETTER,
        queue_name=names.QUEUE_LETTERS,
        priority=0,
        # Transports time out well inside the lease; this is the last resort, not tied to
        # the lease: Dramatiq stops an actor by throwing an exception into its thread, which
        # mid-way through an HTTP or SMTP exchange leaves the pooled connection in doubt.
        options={"time_limit": TIME_LIMIT_MS},
    )


def declare_callback_actor(broker: dramatiq.Broker,
                           sender: CallbackSender) -> dramatiq.Actor:  # type: ignore[type-arg]
    """Issue 13: ``deliver_callback`` sends one callback item (ids only in messages)."""

    def deliver_callback(item_id: str) -> None:
        try:
            sender.send(item_id)
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            # The item keeps its lease in the outbox: the dispatcher claims it again later.
            log.warning("callback.redis_unavailable", callback=item_id, error=str(exc)[:200])

    return dramatiq.Actor(deliver_callback, broker=broker,
                          actor_name=names.ACTOR_DELIVER_CALLBACK,
                          queue_name=names.QUEUE_CALLBACKS, priority=10,
                          options={"time_limit": TIME_LIMIT_MS})
