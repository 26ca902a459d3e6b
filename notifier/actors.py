"""Dramatiq actors, declared against an explicitly given broker (no global broker)."""

from __future__ import annotations

import dramatiq

from notifier import names
from notifier.delivery import Deliverer

TIME_LIMIT_SHARE = 0.8  # of the lease


def declare_actors(broker: dramatiq.Broker, deliverer: Deliverer) -> dramatiq.Actor:  # type: ignore[type-arg]
    def deliver_letter(letter_id: str) -> None:
        deliverer.deliver(letter_id)

    # A send still running when its lease ends would be taken over and sent twice, so
    # Dramatiq stops it first (the letter is then retaken under the same id).
    time_limit_ms = int(deliverer.settings.lease_seconds * 1000 * TIME_LIMIT_SHARE)

    # No max_retries: the Retries middleware is left out of the broker on purpose.
    return dramatiq.Actor(
        deliver_letter,
        broker=broker,
        actor_name=names.ACTOR_DELIVER_LETTER,
        queue_name=names.QUEUE_LETTERS,
        priority=0,
        options={"time_limit": time_limit_ms},
    )
