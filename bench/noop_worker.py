"""The baseline: a Dramatiq worker whose actor does nothing, on notifier's own broker
setup (same Redis, namespace, middleware, queue and actor name, so the dispatcher's
messages fit it) with the same worker settings as `notifier worker`.
Usage: noop_worker.py REDIS_URL THREADS; stops on SIGTERM."""

from __future__ import annotations

import signal
import sys
import threading

import dramatiq
import redis

from notifier import names
from notifier.dispatch.broker import build_broker


def noop(letter_id: str) -> None:
    """Nothing: what is left is Dramatiq's own cost per message."""


def declare(broker: dramatiq.Broker) -> dramatiq.Actor:  # type: ignore[type-arg]
    return dramatiq.Actor(noop, broker=broker, actor_name=names.ACTOR_DELIVER_LETTER,
                          queue_name=names.QUEUE_LETTERS, priority=0, options={})


def main(redis_url: str, threads: int) -> int:
    broker = build_broker(redis.Redis.from_url(redis_url))
    declare(broker)
    worker = dramatiq.Worker(broker, worker_threads=threads, worker_timeout=1000)
    worker.start()
    print("noop.started", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()
    worker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2])))
