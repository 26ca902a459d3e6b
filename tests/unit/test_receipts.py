"""Digital Post business receipts and the delivery_failed alert's guard."""

from __future__ import annotations

import email
import email.policy
import json
from pathlib import Path

import fakeredis
import pytest

from notifier.cli import main
from notifier.clock import SimulatedClock
from notifier.errors import ConflictError, InputError
from notifier.models import Status
from notifier.records.receipts import accept_receipt
from notifier.runtime import Runtime, build_runtime
from notifier.settings import Settings
from tests.conftest import CITIZEN_CPR, opening_event
from tests.unit.test_pipeline import deliver_due


@pytest.fixture
def runtime(settings: Settings, clock: SimulatedClock) -> Runtime:
    return build_runtime(settings, clock=clock, client=fakeredis.FakeRedis())


def sent_form(runtime: Runtime) -> str:
    runtime.store.apply_event(opening_event(), runtime.planner, runtime.clock.now())
    (form_id,) = deliver_due(runtime)
    return form_id


def receipt(letter_id: str, status: str = "delivered", **extra: str) -> dict[str, str]:
    return {"message_uuid": letter_id, "status": status,
            "received_at": "2026-11-23T10:20:00+01:00", **extra}


def test_receipt_is_recorded_once(runtime: Runtime) -> None:
    """A receipt lands on the letter with an audit entry; the same one again is a no-op."""
    form_id = sent_form(runtime)
    catalog, now = runtime.renderer.catalog, runtime.clock.now()
    assert accept_receipt(runtime.store, catalog, receipt(form_id), now)["outcome"] == "recorded"
    assert accept_receipt(runtime.store, catalog, receipt(form_id), now)["outcome"] == "duplicate"
    letter = runtime.store.letter(form_id)
    assert letter is not None and letter.receipt_status == "delivered"
    assert [e["what"] for e in runtime.store.audit(letter.case_id)].count("receipt") == 1


def test_failed_receipt_alerts_the_caseworker(runtime: Runtime) -> None:
    """Given Digital Post reports the form undeliverable, the caseworker alert is planned and
    sent, with the reason but never the CPR number that the reason quoted."""
    form_id = sent_form(runtime)
    data = receipt(form_id, "failed", reason=f"modtager {CITIZEN_CPR} har ingen postkasse")
    accept_receipt(runtime.store, runtime.renderer.catalog, data, runtime.clock.now(),
                   paper_resend=False)
    (alert_id,) = deliver_due(runtime)
    alert = runtime.store.letter(alert_id)
    assert alert is not None and (alert.kind, alert.status) == ("delivery_failed", Status.SENT)
    raw = (runtime.settings.outbox_dir / "mail" / f"{alert_id}.eml").read_bytes()
    text = email.message_from_bytes(raw, policy=email.policy.default).get_body(("plain",))
    assert text is not None
    content = text.get_content()
    assert "ingen postkasse" in content and "[CPR]" in content
    assert CITIZEN_CPR not in content and CITIZEN_CPR.encode() not in raw


@pytest.mark.parametrize(("data", "field"), [
    ({"message_uuid": "nope", "status": "delivered",
      "received_at": "2026-11-23T10:20:00+01:00"}, "message_uuid"),
    ({"message_uuid": "5f0c7a52-8a38-4c1e-9d2b-0a6a3c1f2e11", "status": "lost",
      "received_at": "2026-11-23T10:20:00+01:00"}, "status"),
    ({"message_uuid": "5f0c7a52-8a38-4c1e-9d2b-0a6a3c1f2e11", "status": "read",
      "received_at": "2026-11-23T10:20:00"}, "received_at"),
    ({"message_uuid": "5f0c7a52-8a38-4c1e-9d2b-0a6a3c1f2e11", "status": "read",
      "received_at": "2026-11-23T10:20:00+01:00", "extra": 1}, "extra"),
])
def test_malformed_receipt_names_the_field(runtime: Runtime, data: dict[str, object],
                                           field: str) -> None:
    """Each malformed receipt is refused with an error naming the offending field."""
    with pytest.raises(InputError) as caught:
        accept_receipt(runtime.store, runtime.renderer.catalog, data, runtime.clock.now())
    assert [e.field for e in caught.value.errors] == [field]


def test_receipt_for_unknown_or_unsent_letter_is_refused(runtime: Runtime) -> None:
    """An unknown messageUUID is an input error; a letter not yet handed over a conflict."""
    runtime.store.apply_event(opening_event(), runtime.planner, runtime.clock.now())
    pending = next(x for x in runtime.store.case_letters("SDP-2026-0042").values()
               if x.status is Status.SCHEDULED)
    catalog, now = runtime.renderer.catalog, runtime.clock.now()
    with pytest.raises(InputError, match="no letter"):
        accept_receipt(runtime.store, catalog,
                       receipt("5f0c7a52-8a38-4c1e-9d2b-0a6a3c1f2e11"), now)
    with pytest.raises(ConflictError, match="never handed over"):
        accept_receipt(runtime.store, catalog, receipt(pending.letter_id), now)


def test_cli_receipt_validates_the_whole_file_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], clean_env: None
) -> None:
    """`notifier receipt` with a bad second line exits 2 naming the line and field."""
    path = tmp_path / "receipts.jsonl"
    path.write_text(json.dumps(receipt("5f0c7a52-8a38-4c1e-9d2b-0a6a3c1f2e11")) + "\n"
                    + json.dumps({"status": "read"}) + "\n")
    assert main(["receipt", str(path)]) == 2
    err = capsys.readouterr().err
    assert "line 2" in err and "message_uuid" in err


def test_alert_is_withdrawn_when_the_letter_went_after_all(runtime: Runtime) -> None:
    """Given an alert stored for a letter that then was sent after all (a crash between
    planning the alert and marking the letter dead), the alert is cancelled, not sent."""
    from notifier.delivery.deliverer import failure_alert

    form_id = sent_form(runtime)
    form = runtime.store.letter(form_id)
    assert form is not None
    alert = failure_alert(runtime.renderer.catalog, form, "timeout", runtime.clock.now())
    assert alert is not None
    runtime.store.add_letter(alert, runtime.clock.now(), why="alert_planned")
    assert deliver_due(runtime) == [alert.letter_id]
    assert runtime.store.letter(alert.letter_id).status is Status.CANCELLED  # type: ignore[union-attr]


def test_alert_waits_while_its_letter_is_still_being_sent(runtime: Runtime) -> None:
    """Given an alert whose letter a worker still holds (it died between storing the alert
    and marking the letter dead), the alert waits a lease without using up an attempt."""
    from datetime import timedelta

    from notifier.delivery.deliverer import failure_alert

    runtime.store.apply_event(opening_event(), runtime.planner, runtime.clock.now())
    now = runtime.clock.now()
    (form_id,) = runtime.store.claim_due(now, now + timedelta(minutes=5), 100)
    runtime.store.begin_send(form_id, now + timedelta(minutes=5), 12)  # the worker that died
    form = runtime.store.letter(form_id)
    assert form is not None and form.status is Status.SENDING
    alert = failure_alert(runtime.renderer.catalog, form, "timeout", now)
    assert alert is not None
    runtime.store.add_letter(alert, now, why="alert_planned")
    assert deliver_due(runtime) == [alert.letter_id]
    held = runtime.store.letter(alert.letter_id)
    assert held is not None and (held.status, held.attempts) == (Status.SCHEDULED, 0)
    assert runtime.store.next_due() == now + timedelta(seconds=runtime.settings.lease_seconds)


def test_failed_status_delivered_again_still_plans_the_alert_and_paper_copy(
        runtime: Runtime) -> None:
    """Given a 'failed' status that was recorded but whose alert and paper copy were never
    planned (the process died, or the replicas did not confirm and the sender retried),
    when the same status comes again, then the alert and the paper copy are planned, once
    each, however often it comes."""
    form_id = sent_form(runtime)
    data = receipt(form_id, "failed", reason="ingen postkasse")
    form = runtime.store.letter(form_id)
    assert form is not None
    runtime.store.record_receipt(form, {"receipt_status": "failed",
                                        "receipt_at": "2026-11-23T09:20:00+00:00"},
                                 runtime.clock.now())  # recorded, then the process died
    for _ in range(2):
        result = accept_receipt(runtime.store, runtime.renderer.catalog, data,
                                runtime.clock.now())
    assert result["outcome"] == "duplicate"
    kinds = sorted((x.kind, x.channel.value) for x in
                   runtime.store.case_letters(form.case_id).values()
                   if x.letter_id != form_id and x.cause.endswith(form_id))
    assert ("delivery_failed", "mail") in kinds
    assert (form.kind, "print") in kinds
    assert len(kinds) == len(set(kinds)) == 2


def test_a_receipt_for_a_letter_purged_meanwhile_is_refused(runtime: Runtime) -> None:
    """Given a letter purged by retention between the receipt's check and its write, the
    write is refused (409) and brings back no part of the letter (merge review)."""
    form_id = sent_form(runtime)
    form = runtime.store.letter(form_id)
    assert form is not None
    runtime.client.delete(f"notifier:letter:{form_id}")  # the purge, after the check
    with pytest.raises(ConflictError, match="purged"):
        runtime.store.record_receipt(form, {"receipt_status": "delivered"},
                                     runtime.clock.now())
    assert not runtime.client.exists(f"notifier:letter:{form_id}")
