"""PKO_PostStatus receipts through the Beskedfordeler's ModtagBeskedInput, and the
uncertain state they settle: letters sent over mutual TLS to the fake Serviceplatformen."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import fakeredis
import pytest

from notifier.api.letters import cancel_letter
from notifier.clock import SimulatedClock
from notifier.delivery.deliverer import UNTAKE_DELAY
from notifier.errors import ConflictError, InputError
from notifier.models import Status
from notifier.records.beskedfordeler import (
    accept_post_status,
    modtag_besked_output,
    parse_modtag_besked,
)
from notifier.runtime import Runtime, build_runtime
from notifier.settings import load_settings
from notifier.store.replication import Durability, NotReplicated
from tests.conftest import event, opening_event
from tests.support.gateway import SHARED, FakeGateway, modtag_besked_input
from tests.unit.test_pipeline import deliver_due

SAMPLES = SHARED / "beskedfordeler-samples"


@pytest.fixture
def gateway(clock: SimulatedClock) -> Iterator[FakeGateway]:
    fake = FakeGateway(slow_seconds=2, now=lambda: clock.now().timestamp()).start()
    yield fake
    fake.stop()


@pytest.fixture
def runtime(gateway: FakeGateway, clock: SimulatedClock, tmp_path: object,
            clean_env: None) -> Iterator[Runtime]:
    settings = load_settings(outbox_dir=f"{tmp_path}/outbox", digital_post_transport="http",
                             digital_post_pdf=False, gateway_timeout=5.0,
                             **gateway.settings())
    built = build_runtime(settings, clock=clock, client=fakeredis.FakeRedis())
    yield built
    built.close()


def sent_form(runtime: Runtime) -> str:
    runtime.store.apply_event(opening_event(), runtime.planner, runtime.clock.now())
    (form_id,) = deliver_due(runtime)
    return form_id


def letter(runtime: Runtime, letter_id: str):  # type: ignore[no-untyped-def]
    found = runtime.store.letter(letter_id)
    assert found is not None
    return found


@pytest.mark.parametrize(("sample", "status", "code"), [
    ("PostStatusBeskedModtag.success.xml", "Afleveret Digital Post", None),
    ("PostStatusBeskedModtag.error.xml", "Fejlet", "memo.invalid"),
])
def test_real_samples_parse(sample: str, status: str, code: str | None) -> None:
    """The Beskedfordeler's real messages yield their MessageUUID, status and FejlKode."""
    path = SAMPLES / sample
    if not path.is_file():
        pytest.skip("../shared/beskedfordeler-samples not found beside the checkout")
    parsed = parse_modtag_besked(path.read_bytes())
    assert (parsed.status, parsed.error_code, parsed.channel) == (status, code, "Digital Post")
    assert parsed.receipt()["status"] == ("failed" if code else "delivered")


@pytest.mark.parametrize("body", [b"not xml", b"<a/>",
                                  b'<ModtagBeskedInput xmlns="urn:oio:sts:1.0.0"/>'])
def test_malformed_input_is_refused_naming_the_part(body: bytes) -> None:
    """Something that is not a ModtagBeskedInput with a PKO_PostStatus is an input error."""
    with pytest.raises(InputError):
        parse_modtag_besked(body)


def test_answer_is_statuskode_20() -> None:
    """The answer is a ModtagBeskedOutput whose StandardRetur/StatusKode is 20."""
    root = ET.fromstring(modtag_besked_output(20))
    assert root.tag == "{urn:oio:sts:1.0.0}ModtagBeskedOutput"
    assert root.findtext("{urn:oio:sagdok:3.0.0}StandardRetur/"
                         "{urn:oio:sagdok:3.0.0}StatusKode") == "20"


def test_delivered_status_is_recorded_once(runtime: Runtime, gateway: FakeGateway) -> None:
    """A letter accepted by the platform gets its 'Afleveret Digital Post' once, with an
    audit entry; the same message pushed again is a duplicate."""
    form_id = sent_form(runtime)
    assert letter(runtime, form_id).receipt.startswith("sf1601:")
    body = modtag_besked_input(form_id)
    now = runtime.clock.now()
    store, catalog = runtime.store, runtime.renderer.catalog
    assert accept_post_status(store, catalog, body, now)["outcome"] == "recorded"
    assert accept_post_status(store, catalog, body, now)["outcome"] == "duplicate"
    assert letter(runtime, form_id).receipt_status == "delivered"
    received = modtag_besked_input(form_id, "Modtaget Digital Post")
    assert accept_post_status(store, catalog, received, now)["outcome"] == "superseded"


def test_fejlet_alerts_the_caseworker_and_resends_by_paper(runtime: Runtime,
                                                           gateway: FakeGateway) -> None:
    """'Fejlet' (validation failed after the platform accepted the request) is a failed
    receipt with the FejlKode; it plans the caseworker's delivery_failed alert and a paper
    copy of the citizen's letter, linked to the first, sent by print with its own send
    date; the same status pushed again plans nothing more."""
    form_id = sent_form(runtime)
    body = modtag_besked_input(form_id, "Fejlet", ("memo.invalid", "tag name not allowed"))
    catalog = runtime.renderer.catalog
    result = accept_post_status(runtime.store, catalog, body, runtime.clock.now())
    assert letter(runtime, form_id).receipt_status == "failed"
    paper_id = result["resent_by_paper"]
    assert accept_post_status(runtime.store, catalog, body, runtime.clock.now()) == {
        "letter_id": form_id, "outcome": "duplicate"}
    runtime.clock.advance(timedelta(days=1))  # type: ignore[attr-defined]
    sent = {letter(runtime, i).kind: letter(runtime, i) for i in deliver_due(runtime)}
    assert set(sent) == {"delivery_failed", "information_form"}
    paper = sent["information_form"]
    assert paper.letter_id == paper_id and paper.cause == form_id
    assert (paper.channel.value, paper.status) == ("print", Status.SENT)
    assert paper.sent_at == runtime.clock.now() and form_id in gateway.accepted
    assert (runtime.settings.outbox_dir / "print" / f"{paper_id}.pdf").is_file()


@pytest.mark.parametrize(("change", "data"), [
    ("meeting_rescheduled", {"meeting_id": "m-1", "starts_at": "2026-12-03T10:00:00+01:00"}),
    ("meeting_cancelled", {"meeting_id": "m-1"}),
])
def test_no_paper_copy_of_a_summons_whose_meeting_moved_or_was_cancelled(
    runtime: Runtime, change: str, data: dict[str, str]
) -> None:
    """Given a summons that Digital Post accepted, and the meeting then moved or was
    cancelled, when its 'Fejlet' arrives, then the caseworker is alerted but no paper copy
    summons the citizen to a time that no longer holds (review of the merge)."""
    store, catalog, now = runtime.store, runtime.renderer.catalog, runtime.clock.now()
    sent_form(runtime)
    store.apply_event(event("bk", "meeting_booked", now.isoformat(), {
        "meeting_id": "m-1", "starts_at": "2026-12-01T10:00:00+01:00", "form": "phone",
        "with_employer": False}), runtime.planner, now)
    (summons_id,) = [i for i in deliver_due(runtime)
                     if letter(runtime, i).kind == "meeting_summons"]
    store.apply_event(event("mv", change, now.isoformat(), data), runtime.planner, now)
    body = modtag_besked_input(summons_id, "Fejlet", ("memo.invalid", "nej"))
    result = accept_post_status(store, catalog, body, now)
    assert "resent_by_paper" not in result
    kinds = {letter(runtime, i).kind for i in deliver_due(runtime)}
    assert "delivery_failed" in kinds and "meeting_summons" not in kinds


def test_a_failed_cancellation_notice_still_goes_on_paper(runtime: Runtime) -> None:
    """Given a meeting cancelled and its cancellation notice accepted by Digital Post, when
    that notice's 'Fejlet' arrives, then it goes again on paper: the citizen must learn
    the meeting is off (only letters the cancellation made stale are not copied)."""
    store, catalog, now = runtime.store, runtime.renderer.catalog, runtime.clock.now()
    sent_form(runtime)
    store.apply_event(event("bk", "meeting_booked", now.isoformat(), {
        "meeting_id": "m-1", "starts_at": "2026-12-01T10:00:00+01:00", "form": "phone",
        "with_employer": False}), runtime.planner, now)
    deliver_due(runtime)
    store.apply_event(event("mc", "meeting_cancelled", now.isoformat(), {"meeting_id": "m-1"}),
                      runtime.planner, now)
    (notice_id,) = [i for i in deliver_due(runtime)
                    if letter(runtime, i).kind == "meeting_cancelled"]
    body = modtag_besked_input(notice_id, "Fejlet", ("memo.invalid", "nej"))
    assert "resent_by_paper" in accept_post_status(store, catalog, body, now)


def test_paper_resend_can_be_turned_off(runtime: Runtime) -> None:
    """With NOTIFIER_PAPER_RESEND_ON_FAILURE=false only the alert is planned."""
    form_id = sent_form(runtime)
    body = modtag_besked_input(form_id, "Fejlet", ("memo.invalid", "nej"))
    result = accept_post_status(runtime.store, runtime.renderer.catalog, body,
                                runtime.clock.now(), paper_resend=False)
    assert "resent_by_paper" not in result
    (alert_id,) = deliver_due(runtime)
    assert letter(runtime, alert_id).kind == "delivery_failed"


def test_lost_answer_makes_the_letter_uncertain_and_its_status_settles_it(
    runtime: Runtime, gateway: FakeGateway
) -> None:
    """Given the platform accepts a letter but the answer is lost, the letter is uncertain
    (not sent, not cancellable); its PKO_PostStatus then makes it sent: one letter."""
    gateway.script(["accept_drop"])
    form_id = sent_form(runtime)
    assert letter(runtime, form_id).status is Status.UNCERTAIN
    with pytest.raises(ConflictError):
        cancel_letter(runtime.store, form_id, runtime.clock.now(), by="anna")
    accept_post_status(runtime.store, runtime.renderer.catalog, modtag_besked_input(form_id),
                       runtime.clock.now())
    settled = letter(runtime, form_id)
    assert (settled.status, settled.receipt_status) == (Status.SENT, "delivered")
    runtime.clock.advance(timedelta(days=2))  # type: ignore[attr-defined]
    assert form_id not in deliver_due(runtime)
    assert gateway.accepted[form_id] == 1 and gateway.received[form_id] == 1


def test_a_status_that_overtakes_the_lost_answer_settles_the_letter_as_sent(
    runtime: Runtime, gateway: FakeGateway
) -> None:
    """Given the platform accepts a letter and its PKO_PostStatus arrives while the sender
    is still waiting for the (then lost) answer, then the letter is sent, not uncertain:
    it is never resent after the wait (review of the merge)."""
    store, catalog = runtime.store, runtime.renderer.catalog
    gateway.on_accept = lambda uuid: accept_post_status(
        store, catalog, modtag_besked_input(uuid), runtime.clock.now()) and None
    gateway.script(["accept_drop"])
    form_id = sent_form(runtime)
    settled = letter(runtime, form_id)
    assert (settled.status, settled.receipt_status) == (Status.SENT, "delivered")
    assert store.document(form_id) is not None  # kept for aktindsigt (issue 13)
    assert not store.redis.exists(f"notifier:doc-pending:{form_id}")  # adopted, not copied
    runtime.clock.advance(timedelta(days=2))  # type: ignore[attr-defined]
    assert form_id not in deliver_due(runtime)
    assert gateway.received[form_id] == 1


def test_a_status_recorded_before_a_resend_is_taken_stops_the_resend(
    runtime: Runtime, gateway: FakeGateway
) -> None:
    """Given an uncertain letter whose status was recorded while it was still 'sending'
    (so nothing settled it), when its resend comes due, then it is settled as sent, and
    the platform gets no second request."""
    gateway.script(["drop"])
    form_id = sent_form(runtime)
    store = runtime.store
    store.record_receipt(letter(runtime, form_id), {"receipt_status": "delivered",
                                                    "receipt_at": runtime.clock.now().isoformat()},
                         runtime.clock.now())
    runtime.clock.advance(timedelta(hours=24, seconds=1))  # type: ignore[attr-defined]
    deliver_due(runtime)
    assert letter(runtime, form_id).status is Status.SENT
    assert gateway.received[form_id] == 1


def test_uncertain_without_a_status_is_resent_with_the_same_ids_after_the_wait(
    runtime: Runtime, gateway: FakeGateway
) -> None:
    """Given no PKO_PostStatus arrives, the uncertain letter stays put until
    NOTIFIER_UNCERTAIN_WAIT_SECONDS, then goes again with the same messageUUID and
    x-TransaktionsId (never a new id)."""
    gateway.script(["drop"])
    form_id = sent_form(runtime)
    assert letter(runtime, form_id).status is Status.UNCERTAIN
    runtime.clock.advance(timedelta(hours=23))  # type: ignore[attr-defined]
    assert form_id not in deliver_due(runtime)
    runtime.clock.advance(timedelta(hours=1, seconds=1))  # type: ignore[attr-defined]
    assert form_id in deliver_due(runtime)
    resent = letter(runtime, form_id)
    assert (resent.status, resent.resends) == (Status.SENT, 1)
    assert gateway.received[form_id] == 2
    assert gateway.messages[form_id].transaction_id == form_id


@dataclass(frozen=True)
class LosesTheMark(Durability):
    """Confirms everything but the first 'handed over' mark (a replica lag or failover)."""

    lost: list[str] = field(default_factory=lambda: ["handed_over"])

    def confirm(self, client: Any, keys: Sequence[str], field: str | None = None,
                value: str | None = None) -> None:
        if field in self.lost:
            self.lost.remove(field)
            raise NotReplicated("handed_over: no replica")


def test_an_unconfirmed_handed_over_mark_keeps_the_request_home(
    runtime: Runtime, gateway: FakeGateway
) -> None:
    """Given the replicas do not confirm the 'handed over' mark, the request does not
    leave (a failover could otherwise lose the mark and let a retake resend at once):
    the letter is given back, not counted as an attempt, and then sent once."""
    runtime.store.durability = LosesTheMark(1)
    runtime.store.apply_event(opening_event(), runtime.planner, runtime.clock.now())
    (form_id,) = deliver_due(runtime)
    assert letter(runtime, form_id).status is Status.SCHEDULED
    assert gateway.received[form_id] == 0
    runtime.clock.advance(timedelta(seconds=UNTAKE_DELAY))  # type: ignore[attr-defined]
    assert deliver_due(runtime) == [form_id]
    sent = letter(runtime, form_id)
    assert (sent.status, sent.attempts, gateway.received[form_id]) == (Status.SENT, 1, 1)


def test_taken_over_letter_resends_at_once_only_if_its_request_never_left(
    runtime: Runtime, gateway: FakeGateway
) -> None:
    """A letter whose worker died before the request left is sent by the next worker at
    once; one whose worker died after marking it handed over turns uncertain instead."""
    runtime.store.apply_event(opening_event(), runtime.planner, runtime.clock.now())
    now = runtime.clock.now()
    lease = now + timedelta(seconds=runtime.settings.lease_seconds)
    (form_id,) = runtime.store.claim_due(now, lease, 100)
    runtime.store.begin_send(form_id, lease, 12)  # the worker that will die
    runtime.clock.advance(timedelta(seconds=runtime.settings.lease_seconds + 1))  # type: ignore[attr-defined]
    later = runtime.clock.now()
    assert runtime.store.reap_expired(later, later + timedelta(minutes=5), 100) == [form_id]
    runtime.store.mark_handed_over(form_id, now)  # as if it had died after the mark
    assert runtime.deliverer.deliver(form_id) is Status.UNCERTAIN
    assert gateway.received[form_id] == 0
    assert any(e["what"] == "uncertain" for e in runtime.store.audit(letter(runtime, form_id)
                                                                     .case_id))


def test_a_resend_that_fails_for_now_stays_uncertain_not_cancellable(
    runtime: Runtime, gateway: FakeGateway
) -> None:
    """Given an uncertain letter whose resend after the wait meets a platform 503 (a
    transient error), then it goes back to uncertain, not scheduled: the first request may
    still be on the platform, so it must not become cancellable (review of the merge)."""
    gateway.script(["drop", "503"])
    form_id = sent_form(runtime)
    assert letter(runtime, form_id).status is Status.UNCERTAIN
    runtime.clock.advance(timedelta(hours=24, seconds=1))  # type: ignore[attr-defined]
    deliver_due(runtime)
    after = letter(runtime, form_id)
    assert (after.status, after.resends) == (Status.UNCERTAIN, 1)
    with pytest.raises(ConflictError):
        cancel_letter(runtime.store, form_id, runtime.clock.now(), by="anna")
    accept_post_status(runtime.store, runtime.renderer.catalog, modtag_besked_input(form_id),
                       runtime.clock.now())
    assert letter(runtime, form_id).status is Status.SENT
