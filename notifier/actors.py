"""Dramatiq actors, declared against an explicitly given broker (no global broker)."""

from __future__ import annotations

import dramatiq

from notifier import names
from notifier.delivery import Deliverer

TIME_LIMIT_MS = 10 * 60 * 1000


def declare_actors(broker: dramatiq.Broker, deliverer: Deliverer) -> dramatiq.Actor:  # type: ignore[type-arg]
    def deliver_letter(letter_id: str) -> None:
        deliverer.deliver(letter_id)

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
