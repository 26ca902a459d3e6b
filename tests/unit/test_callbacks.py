"""Issue 13: signed status callbacks. Each reported status change writes its callback item
in the same atomic step; the sender signs per Standard Webhooks, retries with backoff,
gives up after the configured time and can be replayed."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import fakeredis
import httpx
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from notifier.api.held import release_letter
from notifier.clock import SimulatedClock, SystemClock
from notifier.delivery.pdf import sha256
from notifier.errors import ConfigError
from notifier.models import Recipient, Status
from notifier.records.callbacks import CallbackOutbox, CallbackSender, verify
from notifier.records.receipts import accept_receipt
from notifier.runtime import Runtime, build_runtime
from notifier.settings import load_settings
from notifier.store import CALLBACKS_DUE
from tests.conftest import CITIZEN_CPR, event, local, opening_event
from tests.unit.test_pipeline import deliver_due

SECRET_NEW = "whsec_" + base64.b64encode(b"n" * 32).decode()
SECRET_OLD = "whsec_" + base64.b64encode(b"o" * 32).decode()
URL = "http://127.0.0.1:9/callbacks"


class Receiver:
    """An httpx MockTransport answering each POST with the next scripted status (200 once
    the script runs out), keeping every request."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.statuses.pop(0) if self.statuses else 200)

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests]


@pytest.fixture
def runtime(tmp_path: Path, clean_env: None, clock: SimulatedClock) -> Runtime:
    settings = load_settings(outbox_dir=tmp_path / "outbox", callback_url=URL,
                             callback_secrets=f"{SECRET_NEW},{SECRET_OLD}")
    return build_runtime(settings, clock=clock, client=fakeredis.FakeRedis())


def sender(runtime: Runtime, receiver: Receiver) -> CallbackSender:
    return CallbackSender(runtime.store, runtime.renderer.catalog, runtime.pdf, runtime.clock,
                          runtime.settings, httpx.Client(transport=httpx.MockTransport(receiver)))


def send_due(runtime: Runtime, out: CallbackSender) -> list[str]:
    """What a dispatcher tick claims and its workers send, in this thread."""
    now = runtime.clock.now()
    ids = CallbackOutbox(runtime.store).claim(now, now + timedelta(minutes=5), 1000)
    return [out.send(i).result for i in ids]


def items(runtime: Runtime) -> list[dict[str, str]]:
    outbox = CallbackOutbox(runtime.store)
    ids = sorted(m.decode() for m in runtime.client.zrange(CALLBACKS_DUE, 0, -1))
    return [outbox.item(i) or {} for i in ids]


def test_sent_letters_are_reported_signed_with_the_pdf_as_sent(runtime: Runtime) -> None:
    """Given a case whose first letters are sent, then each citizen or employer letter has
    exactly one letter.sent item (sequence 1), none for caseworker mail; sent, it carries
    the Standard Webhooks headers signed with the first secret, the payload shape, the PDF
    whose SHA-256 is the one stored for aktindsigt, and no CPR number."""
    runtime.store.apply_event(opening_event(), runtime.planner, runtime.clock.now())
    sent = deliver_due(runtime)
    letters = {i: runtime.store.letter(i) for i in sent}
    reported = {i for i, x in letters.items() if x and x.status is Status.SENT
                and x.recipient is not Recipient.CASEWORKER}
    assert reported, "the opening sends at least one letter to a party"
    assert sorted(x["letter_id"] for x in items(runtime)) == sorted(reported)
    receiver = Receiver()
    assert send_due(runtime, sender(runtime, receiver)) == ["delivered"] * len(reported)
    for request, body in zip(receiver.requests, receiver.bodies(), strict=True):
        msg_id = request.headers["webhook-id"]
        stamp = datetime.fromtimestamp(int(request.headers["webhook-timestamp"]), UTC)
        signed = Webhook(SECRET_NEW).sign(msg_id, stamp, request.content.decode())
        assert request.headers["webhook-signature"] == signed
        assert set(body) == {"type", "timestamp", "data"} and body["type"] == "letter.sent"
        data = body["data"]
        assert msg_id == f"msg_{data['letter_id']}.1" and data["sequence"] == 1
        stored = runtime.store.document(data["letter_id"])
        assert stored is not None
        pdf = base64.b64decode(data["document"]["pdf"])
        assert sha256(pdf) == data["document"]["sha256"] == stored["pdf_sha256"]
        assert pdf.startswith(b"%PDF")
        assert data["case_id"] == "SDP-2026-0042" and data["receipt"] and data["sent_at"]
        assert data["recipient"] in ("citizen", "employer")
        assert CITIZEN_CPR not in request.content.decode()
    assert items(runtime) == [], "a 2xx ends every item"
    assert send_due(runtime, sender(runtime, receiver)) == []


def test_no_callback_url_writes_no_items(tmp_path: Path, clean_env: None,
                                         clock: SimulatedClock) -> None:
    """Without NOTIFIER_CALLBACK_URL the same case writes no callback keys at all."""
    settings = load_settings(outbox_dir=tmp_path / "outbox")
    plain = build_runtime(settings, clock=clock, client=fakeredis.FakeRedis())
    plain.store.apply_event(opening_event(), plain.planner, clock.now())
    assert deliver_due(plain)
    assert not plain.client.keys("notifier:callback*")


def test_cancelled_by_an_event_and_receipts_continue_the_sequence(
        runtime: Runtime, clock: SimulatedClock) -> None:
    """A sent Digital Post letter that then gets a 'delivered' receipt has items 1 (sent)
    and 2 (delivered); the same receipt again, or the same status at another time, writes
    nothing; letters cancelled by a
    case_closed event get letter.cancelled naming that event."""
    runtime.store.apply_event(opening_event(), runtime.planner, clock.now())
    deliver_due(runtime)
    sent = next(x for x in runtime.store.case_letters("SDP-2026-0042").values()
                if x.status is Status.SENT and x.channel.value == "digital_post")
    receipt = {"message_uuid": sent.letter_id, "status": "delivered",
               "received_at": clock.now().isoformat()}
    for minutes in (0, 0, -5):  # redelivered, then the same status again at another time
        accept_receipt(runtime.store, runtime.renderer.catalog,
                       {**receipt, "received_at": (clock.now() + timedelta(minutes=minutes)
                                                   ).isoformat()}, clock.now())
    clock.advance(timedelta(hours=1))
    runtime.store.apply_event(event("evt-c", "case_closed", "2026-11-23T11:30:00+01:00",
                                    {"closed_on": "2026-11-23", "reason": "recovered"}),
                              runtime.planner, clock.now())
    by_letter: dict[str, list[tuple[int, str]]] = {}
    for item in items(runtime):
        by_letter.setdefault(item["letter_id"], []).append((int(item["seq"]), item["type"]))
    assert sorted(by_letter[sent.letter_id]) == [(1, "letter.sent"), (2, "letter.delivered")]
    cancelled = [x for x in runtime.store.case_letters("SDP-2026-0042").values()
                 if x.status is Status.CANCELLED and x.recipient is not Recipient.CASEWORKER]
    assert cancelled
    for letter in cancelled:
        assert by_letter[letter.letter_id] == [(1, "letter.cancelled")]
    receiver = Receiver()
    send_due(runtime, sender(runtime, receiver))
    kinds = {(b["data"]["letter_id"], b["type"]): b["data"] for b in receiver.bodies()}
    assert kinds[(sent.letter_id, "letter.delivered")]["receipt_status"] == "delivered"
    assert all(kinds[(x.letter_id, "letter.cancelled")]["cancelled_by"] == "evt-c"
               for x in cancelled)


def test_a_refused_transition_writes_no_callback(runtime: Runtime) -> None:
    """No callback without its status change: a transition from a status the letter is
    not in changes nothing and queues nothing."""
    [letter, *_] = runtime.store.apply_event(opening_event(), runtime.planner,
                                             runtime.clock.now()).planned
    assert not runtime.store.transition(letter, (Status.SENDING,), Status.DEAD,
                                        runtime.clock.now(), fields={"reason": "x"})
    assert items(runtime) == []


def test_retries_back_off_then_a_2xx_ends_it(runtime: Runtime, clock: SimulatedClock
                                             ) -> None:
    """A receiver answering 500, then 503, then 200: the item is retried after 10 s, then
    20 s (not before), delivered once under the same webhook-id, and never again."""
    runtime.store.apply_event(opening_event(), runtime.planner, clock.now())
    [letter, *_] = runtime.store.case_letters("SDP-2026-0042").values()
    runtime.store.transition(letter, (Status.SCHEDULED,), Status.CANCELLED, clock.now())
    receiver = Receiver([500, 503])
    out = sender(runtime, receiver)
    assert send_due(runtime, out) == ["retry"]
    clock.advance(timedelta(seconds=9))
    assert send_due(runtime, out) == []
    clock.advance(timedelta(seconds=1))
    assert send_due(runtime, out) == ["retry"]
    clock.advance(timedelta(seconds=19))
    assert send_due(runtime, out) == []
    clock.advance(timedelta(seconds=1))
    assert send_due(runtime, out) == ["delivered"]
    clock.advance(timedelta(hours=2))
    assert send_due(runtime, out) == []
    assert {r.headers["webhook-id"] for r in receiver.requests} == {f"msg_{letter.letter_id}.1"}
    assert len(receiver.requests) == 3


def test_dead_after_the_configured_time_then_replayed(runtime: Runtime,
                                                      clock: SimulatedClock) -> None:
    """A receiver that always fails: the item is dead once retrying would pass
    NOTIFIER_CALLBACK_DEAD_SECONDS (counted, and listed), and a replay by letter sends it
    again under the same webhook-id."""
    runtime.store.apply_event(opening_event(), runtime.planner, clock.now())
    [letter, *_] = runtime.store.case_letters("SDP-2026-0042").values()
    runtime.store.transition(letter, (Status.SCHEDULED,), Status.CANCELLED, clock.now())
    receiver = Receiver([500] * 1000)
    out = sender(runtime, receiver)
    outcomes: list[str] = []
    for _ in range(200):
        outcomes += send_due(runtime, out)
        if "dead" in outcomes:
            break
        clock.advance(timedelta(hours=1))
    assert outcomes[-1] == "dead" and set(outcomes[:-1]) == {"retry"}
    outbox = CallbackOutbox(runtime.store)
    assert outbox.counts() == {"pending": 0, "dead": 1}
    assert runtime.store.stats()["callbacks_dead"] == 1
    assert 5 < len(receiver.requests) <= 3 * 24 + 1  # hourly at most, for three days
    receiver.statuses = []
    assert outbox.replay(outbox.letter_items(letter.letter_id), clock.now()) == 1
    assert outbox.counts() == {"pending": 1, "dead": 0}
    assert send_due(runtime, out) == ["delivered"]
    assert receiver.requests[-1].headers["webhook-id"] == f"msg_{letter.letter_id}.1"


def test_held_and_released(runtime: Runtime, clock: SimulatedClock) -> None:
    """A stop decision planned held (its meeting's summons was suppressed on standby) gets
    letter.held (1); released by a caseworker, letter.released (2) naming who."""
    runtime.store.apply_event(opening_event(), runtime.planner, clock.now())
    for event_id, type_, when, data in HELD_STEPS:
        clock.set(local(when[:16].replace("T", " ")))
        runtime.store.apply_event(event(event_id, type_, when, data), runtime.planner,
                                  clock.now())
    [letter_id] = [x.letter_id for x in runtime.store.case_letters("SDP-2026-0042").values()
                   if x.status is Status.HELD]
    release_letter(runtime.store, runtime.planner.calendar, letter_id, clock.now(),
                   by="caseworker:anna")
    mine = [x for x in items(runtime) if x["letter_id"] == letter_id]
    assert [(x["seq"], x["type"]) for x in mine] == [("1", "letter.held"),
                                                      ("2", "letter.released")]
    assert json.loads(mine[1]["detail"])["released_by"] == "caseworker:anna"


# As tests/unit/test_held_decisions_api.py's fixture: standby, a meeting booked during it,
# then a non-cooperation stop naming that meeting.
HELD_STEPS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("sb", "standby_granted", "2026-11-24T10:00:00+01:00", {"decided_on": "2026-11-24"}),
    ("bk", "meeting_booked", "2026-11-25T10:00:00+01:00", {
        "meeting_id": "m-1", "starts_at": "2026-11-27T10:00:00+01:00", "form": "phone",
        "with_employer": False}),
    ("st", "decision_made", "2026-11-30T10:00:00+01:00", {
        "decision_id": "d-1", "title": "Afgørelse om stop", "outcome": "stopped",
        "decision_text": "Dine sygedagpenge stopper.", "reasoning": "Du kom ikke.",
        "legal_basis": ["Sygedagpengeloven § 21"], "stop_reason": "non_cooperation",
        "meeting_id": "m-1"}),
]


def test_too_many_attempts_reports_dead(runtime: Runtime) -> None:
    """A letter that the take finds past its attempts (begin_send.lua) is dead, and its
    letter.dead item says why, in the same script."""
    now = runtime.clock.now()
    [letter, *_] = runtime.store.apply_event(opening_event(), runtime.planner, now).planned
    runtime.store.claim_due(letter.send_at, now + timedelta(minutes=5), 100)
    status, _ = runtime.store.begin_send(letter.letter_id, now + timedelta(minutes=5), 0,
                                         now=now)
    assert status is Status.DEAD
    [item] = [x for x in items(runtime) if x["letter_id"] == letter.letter_id]
    assert item["type"] == "letter.dead"
    assert json.loads(item["detail"]) == {"reason": "too many attempts"}


def test_rotation_verify_accepts_any_configured_secret() -> None:
    """The reference implementation verifies a body signed with the first secret when the
    receiver holds either list order, and refuses it with only the other secret."""
    now = SystemClock().now()  # the reference implementation checks the wall clock
    body = '{"type":"letter.sent"}'
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(int(now.timestamp())),
               "webhook-signature": Webhook(SECRET_NEW).sign("msg_1", now, body)}
    assert verify((SECRET_OLD, SECRET_NEW), body.encode(), headers) == {"type": "letter.sent"}
    with pytest.raises(WebhookVerificationError):
        verify((SECRET_OLD,), body.encode(), headers)


@pytest.mark.parametrize(("url", "secrets", "problem"), [
    ("http://example.org/cb", SECRET_NEW, "https"),
    (URL, None, "NOTIFIER_CALLBACK_SECRETS is required"),
    (URL, "secret", "secret 1 is not a whsec_"),
    (URL, f"{SECRET_NEW},whsec_!!", "secret 2"),
])
def test_settings_refuse_bad_callback_configuration(clean_env: None, url: str,
                                                    secrets: str | None, problem: str) -> None:
    """Plain http to a non-loopback host, a URL without secrets, and malformed secrets
    stop the program with a message naming the problem."""
    extra: dict[str, Any] = {"callback_secrets": secrets} if secrets else {}
    with pytest.raises(ConfigError, match=problem):
        load_settings(callback_url=url, **extra)



def test_cli_status_replay_and_metrics(runtime: Runtime, clock: SimulatedClock,
                                       monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    """`notifier callbacks status` counts pending and dead items, `replay --case` makes a
    dead one pending again (and `--letter` of an unknown letter replays nothing), and
    /metrics shows both gauges."""
    from notifier.api.metrics import render_metrics
    from notifier.records import callbacks_cli

    runtime.store.apply_event(opening_event(), runtime.planner, clock.now())
    letters = list(runtime.store.case_letters("SDP-2026-0042").values())
    for letter in letters[:2]:
        runtime.store.transition(letter, (Status.SCHEDULED,), Status.CANCELLED, clock.now())
    outbox = CallbackOutbox(runtime.store)
    outbox.dead(f"{letters[0].letter_id}.1", clock.now(), "gave up: HTTP 500")
    monkeypatch.setattr("notifier.api.commands.stored_runtime", lambda settings: runtime)
    status = callbacks_cli.cmd_status(runtime.settings, _args(json=True))
    assert status == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["pending"], shown["dead"]) == (1, 1)
    assert shown["dead_items"][0]["last_error"] == "gave up: HTTP 500"
    metrics = render_metrics(runtime.store, clock).decode()
    assert "notifier_callbacks_pending 1.0" in metrics
    assert "notifier_callbacks_dead 1.0" in metrics
    callbacks_cli.cmd_replay(runtime.settings, _args(letter="0" * 8, case=None, since=None,
                                                     until=None))
    assert capsys.readouterr().out.strip() == "replayed 0 callback(s)"
    callbacks_cli.cmd_replay(runtime.settings, _args(letter=None, case="SDP-2026-0042",
                                                     since=None, until=None))
    assert capsys.readouterr().out.strip() == "replayed 2 callback(s)"
    assert outbox.counts() == {"pending": 2, "dead": 0}


def _args(**values: Any) -> Any:
    import argparse

    return argparse.Namespace(**values)


def test_the_dispatcher_tick_enqueues_due_callbacks_once_per_lease(runtime: Runtime,
                                                                   clock: SimulatedClock
                                                                   ) -> None:
    """A tick claims a due callback item and enqueues its id for the deliver_callback
    actor; the next tick within the lease does not enqueue it again, one after does."""
    [letter, *_] = runtime.store.apply_event(opening_event(), runtime.planner,
                                             clock.now()).planned
    runtime.store.transition(letter, (Status.SCHEDULED,), Status.CANCELLED, clock.now())
    queue = "notifier:dramatiq:callbacks.msgs"

    def enqueued() -> list[str]:
        return [json.loads(m)["args"][0] for m in runtime.client.hvals(queue)]

    runtime.dispatcher.tick()
    assert enqueued() == [f"{letter.letter_id}.1"]
    runtime.dispatcher.tick()
    assert len(enqueued()) == 1
    clock.advance(timedelta(seconds=runtime.settings.lease_seconds + 1))
    runtime.dispatcher.tick()
    assert enqueued() == [f"{letter.letter_id}.1"] * 2
