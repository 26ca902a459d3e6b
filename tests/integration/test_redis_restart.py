"""Redis SIGKILLed mid-run and restarted from its AOF: no accepted event and no scheduled
letter is lost, and the worker and scheduler processes carry on by themselves.

What "accepted" means: ``Store.apply_event`` returned. Its MULTI/EXEC is acknowledged only
after Redis has appended it to the AOF:

- ``appendfsync always`` (docker-compose.yml's single Redis): written and fsynced before
  the reply, so nothing acknowledged is lost, even if the machine (not just the process)
  dies. This test holds it to that.
- ``appendfsync everysec`` is not: while a background fsync is still running, Redis 7.0
  postpones the write of new commands for up to two seconds (``flushAppendOnlyFile``) and
  answers them meanwhile, so even a killed *process* can lose up to two seconds of
  acknowledged writes when the disk is slow. It is used only beside replicas with
  ``NOTIFIER_REDIS_WAIT_REPLICAS`` (the ``ha`` profile), where a write is acknowledged once
  a replica has it; test_failover.py holds that to the same standard.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from notifier.clock import SystemClock
from notifier.intake.events import Event
from tests.integration.conftest import RedisServer, require_redis_server
from tests.support.chaos import PAST, Ledger, Rig, cpr_lines, opening, wait_for

pytestmark = pytest.mark.integration

REDIS_DOWN_SECONDS = 3.0


@dataclass
class Feeder:
    """A case system posting a new case every few milliseconds; on a connection error it
    retries the same event (same id) until Redis acknowledges it, as a client would."""

    rig: Rig
    acked: dict[str, float] = field(default_factory=dict)  # event id -> when acknowledged
    failures: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        n = 0
        while not self.stop.is_set():
            self._post(opening(n, "FEED"))
            n += 1
            time.sleep(0.1)

    def _post(self, event: Event) -> None:
        while True:
            try:
                self.rig.runtime.store.apply_event(event, self.rig.runtime.planner, PAST)
            except (redis.ConnectionError, redis.TimeoutError):
                self.failures += 1
                time.sleep(0.1)
                continue
            self.acked[event.event_id] = time.monotonic()
            return


def test_redis_killed_mid_run_loses_nothing_and_processes_resume(tmp_path: Path) -> None:
    """Given two workers and two schedulers delivering while a case system keeps posting
    events, when redis-server is SIGKILLed and restarted from its AOF on the same port,
    then: no process died; every acknowledged event and every letter that existed before
    the kill is still there; every letter is delivered exactly once at its transport; and
    letters of events acknowledged after the restart were delivered too (nobody had to
    restart anything)."""
    require_redis_server()
    server = RedisServer(tmp_path / "redis", appendfsync="always")
    server.directory.mkdir()
    server.start()
    rig = Rig(tmp_path, server)
    feeder = Feeder(rig)
    thread = threading.Thread(target=feeder.run, daemon=True)
    try:
        rig.start("worker", 2)
        rig.start("scheduler", 2)
        thread.start()
        wait_for(lambda: rig.gateway.accepted.total() >= 20, 60, rig.progress)
        before = set(rig.letters())
        server.kill()
        killed_at = time.monotonic()
        time.sleep(REDIS_DOWN_SECONDS)
        server.start()
        time.sleep(3.0)  # events keep coming after the restart
        feeder.stop.set()
        thread.join(30)
        wait_for(rig.settled, 120, rig.progress)
        assert rig.crashed() == []
        _assert_nothing_lost(rig, feeder, before, restarted_at=killed_at + REDIS_DOWN_SECONDS)
    finally:
        feeder.stop.set()
        rig.close()
        server.kill()


def _assert_nothing_lost(rig: Rig, feeder: Feeder, before: set[str],
                         restarted_at: float) -> None:
    assert feeder.failures > 0, "the outage never reached the case system"
    store = rig.runtime.store
    letters = rig.letters()
    assert before <= set(letters), "letters that existed before the kill are gone"
    for event_id in feeder.acked:
        assert store.redis.exists(f"notifier:event:{event_id}"), f"lost event {event_id}"
    cases = {f"SDP-FEED-{int(e.rsplit('-', 1)[1]):05d}" for e in feeder.acked}
    planned = {i for case in cases for i in store.case_letters(case)}
    assert len(planned) == rig.planned_by_opening() * len(cases)
    assert [e for e, at in feeder.acked.items() if at > restarted_at], (
        "no event was acknowledged after the restart")
    ledger = Ledger.of(rig)
    assert ledger.problems() == []
    assert ledger.summary()["sent"] == len(letters)
    assert cpr_lines(rig.logs()) == []


def test_restarted_server_keeps_what_it_acknowledged(own_redis: RedisServer) -> None:
    """The fixture the test above relies on: a write acknowledged just before SIGKILL is
    there after the restart on the same port (the AOF is replayed)."""
    client = redis.Redis.from_url(own_redis.url)
    client.set("notifier:probe", SystemClock().now().isoformat())
    own_redis.kill()
    with pytest.raises(redis.ConnectionError):
        client.ping()
    own_redis.start()
    assert client.get("notifier:probe")
