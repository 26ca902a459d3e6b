"""Issue 13 on real parts: `notifier worker` processes send signed callbacks to a real
HTTP receiver process that verifies them with the Standard Webhooks reference
implementation, through a receiver outage, errors, a hang and a worker SIGKILL."""

from __future__ import annotations

import base64
import json
import signal
import sys
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import pytest

from notifier.clock import SystemClock
from notifier.dispatch.broker import enqueue_all
from notifier.dispatch.dispatcher import callback_message, letter_message
from notifier.models import Recipient, Status
from notifier.records.callbacks import CallbackOutbox
from notifier.records.receipts import accept_receipt
from notifier.runtime import Runtime, build_runtime
from notifier.settings import load_settings
from tests.conftest import event, opening_event
from tests.integration.conftest import (
    clock_at_real_now,
    free_port,
    notifier_env,
    opened_at,
    start_notifier,
)
from tests.integration.test_real_pipeline import stop, wait_for, wait_started
from tests.support import processes

pytestmark = pytest.mark.integration

SECRET = "whsec_" + base64.b64encode(b"integration-test-secret-32-bytes").decode()
CASES = 4


def pump(runtime: Runtime, ahead: timedelta) -> int:
    """A dispatcher tick's callback part: claim the due items with a lease and enqueue
    them. Items the workers wrote are due by the real clock; those this test wrote (the
    cancellations, the receipt) by its simulated one, which starts at the next send window
    (``ahead`` of the real clock outside working hours): the tick runs that far ahead, on
    the real clock's pace, so it claims both and leases still run out."""
    now = SystemClock().now() + ahead
    items = CallbackOutbox(runtime.store).claim(now, now + timedelta(seconds=10), 100)
    enqueue_all(runtime.broker, [callback_message(i) for i in items])
    return len(items)


def test_every_status_reaches_the_receiver_once(redis_url: str, tmp_path: Path,
                                                clean_env: None) -> None:
    """Given 4 cases whose first letters are sent while the receiver is down, a worker
    SIGKILLed after retrying, one case closed (its pending letters cancelled) and a
    'delivered' receipt, when the receiver comes up answering 3 errors and one hang before
    2xx, then every verified callback's webhook-id maps to one (letter, status), each sent
    letter has exactly one letter.sent id carrying the PDF whose SHA-256 is the stored one,
    each cancelled letter one letter.cancelled, the receipt one letter.delivered, nothing
    fails verification, and the outbox ends empty with nothing dead."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/callbacks"
    outbox_dir = tmp_path / "outbox"
    settings = load_settings(redis_url=redis_url, outbox_dir=outbox_dir, callback_url=url,
                             callback_secrets=SECRET)
    clock = clock_at_real_now(settings)
    ahead = max(clock.now() - SystemClock().now(), timedelta(0))
    runtime = build_runtime(settings, clock=clock)
    for n in range(CASES):
        runtime.store.apply_event(
            opening_event(event_id=f"evt-{n}", case_id=f"SDP-CB-{n}",
                          **opened_at(clock, settings)), runtime.planner, clock.now())
    env = notifier_env(redis_url, outbox_dir, NOTIFIER_CALLBACK_URL=url,
                       NOTIFIER_CALLBACK_SECRETS=SECRET, NOTIFIER_CALLBACK_TIMEOUT="1",
                       NOTIFIER_CALLBACK_RETRY_BASE_SECONDS="1",
                       NOTIFIER_CALLBACK_RETRY_MAX_SECONDS="3")
    first = start_notifier(["worker", "--threads", "2"], env, tmp_path / "w1.log")
    wait_started(tmp_path / "w1.log")
    now = clock.now()
    claimed = runtime.store.claim_due(now, now + timedelta(seconds=300), 100)
    enqueue_all(runtime.broker, [letter_message(i) for i in claimed])
    wait_for(lambda: all(runtime.store.letter(i).status.final  # type: ignore[union-attr]
                         for i in claimed), timeout=120)
    # The receiver is down: the worker retries (connection refused), then is killed.
    wait_for(lambda: pump(runtime, ahead) > 0 and "callback.retry" in
             (tmp_path / "w1.log").read_text(), timeout=60)
    first.send_signal(signal.SIGKILL)
    first.wait(10)

    sent = [i for i in claimed if _sent_to_party(runtime, i)]
    assert len(sent) >= CASES
    accept_receipt(runtime.store, runtime.renderer.catalog,
                   {"message_uuid": sent[0], "status": "delivered",
                    "received_at": clock.now().isoformat()}, clock.now())
    closed = runtime.store.apply_event(
        event("evt-close", "case_closed", clock.now().isoformat(),
              {"closed_on": clock.now().date().isoformat(), "reason": "recovered"},
              case_id="SDP-CB-0"), runtime.planner, clock.now())
    cancelled = [x.letter_id for x in closed.cancelled if x.recipient is not Recipient.CASEWORKER]
    assert cancelled

    record = tmp_path / "received.jsonl"
    with (tmp_path / "receiver.log").open("ab") as log:
        processes.spawn([sys.executable, "-m", "tests.support.webhook_receiver", str(port),
                         SECRET, str(record), "3", "1"], stdout=log, stderr=log,
                        cwd=Path(__file__).resolve().parents[2])
    processes.wait_for_line(tmp_path / "receiver.log", "receiver.started")
    second = start_notifier(["worker", "--threads", "2"], env, tmp_path / "w2.log")
    wait_started(tmp_path / "w2.log")
    outbox = CallbackOutbox(runtime.store)
    try:
        wait_for(lambda: pump(runtime, ahead) >= 0 and outbox.counts()["pending"] == 0, timeout=180)
    finally:
        assert stop(second) == 0
    assert outbox.counts() == {"pending": 0, "dead": 0}

    lines = [json.loads(x) for x in record.read_text().splitlines()]
    assert not [x for x in lines if x["answer"] == 400], "every request verifies"
    assert {x["answer"] for x in lines} >= {500, "hang", 204}
    accepted: dict[tuple[str, str], set[str]] = defaultdict(set)
    owner: dict[str, tuple[str, str, int]] = {}
    for line in lines:
        key = (line["letter_id"], line["type"], line["sequence"])
        assert owner.setdefault(line["webhook_id"], key) == key
        if line["answer"] == 204:
            accepted[(line["letter_id"], line["type"])].add(line["webhook_id"])
    expected = {(i, "letter.sent") for i in sent} | {(sent[0], "letter.delivered")} | {
        (i, "letter.cancelled") for i in cancelled}
    assert set(accepted) == expected
    assert all(len(ids) == 1 for ids in accepted.values()), "one webhook-id per status"
    for line in lines:
        if line["type"] == "letter.sent":
            stored = runtime.store.document(line["letter_id"])
            assert stored is not None
            assert line["pdf_sha256"] == line["sha256"] == stored["pdf_sha256"]
    assert "0706851234" not in record.read_text()


def _sent_to_party(runtime: Runtime, letter_id: str) -> bool:
    letter = runtime.store.letter(letter_id)
    return (letter is not None and letter.status is Status.SENT
            and letter.recipient is not Recipient.CASEWORKER)
