"""Builds the Dramatiq broker, once, and hands it around explicitly.

Nothing here calls ``dramatiq.set_broker``: actors are declared against the broker they
are given (see actors.py), so importing a module can never bind them to a default broker.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import uuid4

import redis
from dramatiq import Broker
from dramatiq.brokers.redis import RedisBroker
from dramatiq.message import Message
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


def enqueue_all(broker: Broker, messages: Sequence[Message]) -> None:  # type: ignore[type-arg]
    """Enqueue ``messages`` in one round trip (one MULTI/EXEC: a connection lost before
    EXEC stores none of them; the lease reaper then re-queues the claimed letters).

    ``RedisBroker.enqueue`` costs a round trip per message: 500 of them were 95% of a
    dispatcher tick. This writes exactly what its enqueue script writes (the message under
    a fresh redis_message_id in ``<ns>:<queue>.msgs``, its id pushed on ``<ns>:<queue>``)
    in one MULTI/EXEC, so workers read them unchanged; it only skips the script's heartbeat
    entry, which matters for consumers (acks), not for a producer. Middleware still sees
    every message before and after.
    """
    if not isinstance(broker, RedisBroker):
        for message in messages:
            broker.enqueue(message)
        return
    ready = [m.copy(options={"redis_message_id": str(uuid4())}) for m in messages]
    for message in ready:
        broker.emit_before("enqueue", message, None)
    # Per queue one HSET of every message and one RPUSH of every id, in order: two
    # commands instead of two per message (redis-py packs each command in Python).
    by_queue: dict[str, dict[str, bytes]] = {}
    for message in ready:
        queue = f"{broker.namespace}:{message.queue_name}"
        by_queue.setdefault(queue, {})[message.options["redis_message_id"]] = message.encode()
    with broker.client.pipeline(transaction=True) as pipe:
        for queue, encoded in by_queue.items():
            pipe.hset(f"{queue}.msgs", mapping=encoded)  # type: ignore[arg-type]  # invariant dict
            pipe.rpush(queue, *encoded)
        pipe.execute()
    for message in ready:
        broker.emit_after("enqueue", message, None)
