"""Builds the Dramatiq broker, once, and hands it around explicitly.

Nothing here calls ``dramatiq.set_broker``: actors are declared against the broker they
are given (see actors.py), so importing a module can never bind them to a default broker.
"""

from __future__ import annotations

import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import AgeLimit, Callbacks, Pipelines, ShutdownNotifications, TimeLimit

from notifier import names


def build_broker(client: redis.Redis) -> RedisBroker:
    # Retries are ours (the due set with backoff), not Dramatiq's: its Retries middleware
    # would hold delayed messages in worker memory. So it is left out deliberately.
    middleware = [AgeLimit(), TimeLimit(), ShutdownNotifications(), Callbacks(), Pipelines()]
    broker = RedisBroker(  # type: ignore[no-untyped-call]
        client=client, namespace=names.DRAMATIQ_NAMESPACE, middleware=middleware
    )
    broker.declare_queue(names.QUEUE_LETTERS)
    return broker
