"""Issue 13 on real parts: a `notifier scheduler` process (dispatcher tick + sweeper) and a
`notifier worker` on a real redis-server bring back what a crash could strand, once each:
a scheduled letter whose due entry is gone, a queued letter whose lease is gone and a
callback item whose outbox entry is gone. Every letter is then sent exactly once, and its
file-drop pair written exactly once."""

from __future__ import annotations

from pathlib import Path

import pytest

from notifier.clock import SimulatedClock, SystemClock
from notifier.models import Recipient, Status, epoch_text
from notifier.records.callbacks import CallbackOutbox
from notifier.runtime import build_runtime
from notifier.settings import load_settings
from notifier.store import CALLBACKS_DUE, DUE, INFLIGHT, LETTER
from tests.conftest import opening_event
from tests.integration.conftest import notifier_env, opened_at, start_notifier
from tests.integration.test_real_pipeline import stop, wait_for, wait_started

pytestmark = pytest.mark.integration
LEASE = 20  # seconds: above a letter's render and send time on a busy machine


def test_scheduler_sweeper_repairs_each_stranded_state_once(redis_url: str, clean_env: None,
                                                             tmp_path: Path) -> None:
    """Strand three states by hand with no process running, then start a scheduler and a
    worker: the sweeper repairs each once (the counters say 1 after many sweeps), both
    stranded letters are sent once (one MeMo file, one drop pair each) and the stranded
    callback item is handled."""
    outbox, drop = tmp_path / "outbox", tmp_path / "esdh"
    settings = load_settings(redis_url=redis_url, outbox_dir=outbox, file_drop_dir=drop,
                             lease_seconds=LEASE)
    runtime = build_runtime(settings)  # the real clock, as the processes have
    now = SystemClock().now()
    # Opened now, first absence three days before: a fixed first absence day would leave
    # fewer letters ahead as the years pass (the suite runs under faketime too).
    runtime.store.apply_event(opening_event(**opened_at(SimulatedClock(now), settings)),
                              runtime.planner, now)
    letters = [x for x in runtime.store.case_letters("SDP-2026-0042").values()
               if x.status is Status.SCHEDULED and x.recipient is not Recipient.CASEWORKER]
    assert len(letters) >= 3
    first, second, third = letters[:3]
    client = runtime.client
    # Only these go out during the test: the others wait far ahead.
    for letter in letters[3:]:
        client.zadd(DUE, {letter.letter_id: now.timestamp() + 86400 * 365})
    for letter in (first, second):
        client.hset(LETTER + letter.letter_id, "send_at", epoch_text(now))
    client.zrem(DUE, first.letter_id)  # scheduled, in no set
    client.zrem(DUE, second.letter_id)  # claimed, and its lease lost
    client.hset(LETTER + second.letter_id, "status", "queued")
    client.zrem(DUE, third.letter_id)  # dead, and its letter.dead callback item stranded
    assert runtime.store.transition(third, (Status.SCHEDULED,), Status.DEAD, now,
                                    fields={"reason": "test"})
    [item] = [i.decode() for i in client.zrange(CALLBACKS_DUE, 0, -1)]
    client.zrem(CALLBACKS_DUE, item)
    assert client.zscore(INFLIGHT, second.letter_id) is None

    env = notifier_env(redis_url, outbox, NOTIFIER_FILE_DROP_DIR=str(drop),
                       NOTIFIER_LEASE_SECONDS=str(LEASE), NOTIFIER_SWEEP_INTERVAL="1",
                       NOTIFIER_DISPATCH_INTERVAL="0.2")
    scheduler = start_notifier(["scheduler"], env, tmp_path / "scheduler.log")
    worker = start_notifier(["worker", "--threads", "2"], env, tmp_path / "worker.log")
    try:
        wait_started(tmp_path / "scheduler.log")
        wait_started(tmp_path / "worker.log")

        def done() -> bool:
            sent = [runtime.store.letter(x.letter_id) for x in (first, second)]
            item_done = (CallbackOutbox(runtime.store).item(item) or {}).get("delivered_at")
            return all(x and x.status is Status.SENT for x in sent) and bool(item_done)

        wait_for(done, timeout=LEASE + 60)
        wait_for(lambda: len(list(drop.glob("*.json"))) == 2, timeout=30)
    finally:
        assert stop(scheduler) == 0
        assert stop(worker) == 0
    stats = runtime.store.stats()
    assert (stats.get("swept|due"), stats.get("swept|lease"), stats.get("swept|callback")) \
        == (1.0, 1.0, 1.0)
    for letter in (first, second):
        memo = [p for p in outbox.rglob("*.xml") if letter.letter_id in p.name]
        assert len(memo) == 1, memo
        assert sorted(p.name for p in drop.iterdir() if letter.letter_id in p.name) == [
            f"{letter.letter_id}.json", f"{letter.letter_id}.pdf"]
    assert "sweeper.repaired" in (tmp_path / "scheduler.log").read_text()
    runtime.close()
