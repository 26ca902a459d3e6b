"""Cases and letters over HTTP: the timeline, ad-hoc letters, previews, the sent
document, and cancelling (race-free against the worker)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from notifier.clock import SimulatedClock
from notifier.models import Status
from tests.conftest import local
from tests.unit.test_api_helpers import CASE, CASEWORKER, SYSTEM, Api, make_api

ADHOC = {"kind": "adhoc", "subject": "Om din samtale",
         "paragraphs": ["Kære Mette", "Husk <b>lønsedler</b> & kontoudtog."]}
MEETING = {"meeting_id": "m-1", "starts_at": "2026-12-08T10:30:00+01:00", "form": "phone",
           "with_employer": False}


@pytest.fixture
def api(tmp_path: Path, clean_env: None, clock: SimulatedClock) -> Api:
    api = make_api(tmp_path, clock)
    api.open_case()
    return api


def post_letter(api: Api, body: dict[str, Any], case_id: str = CASE) -> Any:
    return api.client.post(f"/cases/{case_id}/letters", json=body, headers=CASEWORKER)


def by_kind(api: Api, kind: str) -> dict[str, Any]:
    [letter] = [x for x in api.letters() if x["kind"] == kind]
    return letter


# --- the timeline ---------------------------------------------------------------------
def test_case_timeline_shows_state_and_letters_without_cpr(api: Api) -> None:
    """GET /cases/{id}: open, the parties (no CPR), and each letter with kind, title,
    recipient, channel, status, local send time, deadline and cause, ordered by time."""
    response = api.client.get(f"/cases/{CASE}", headers=CASEWORKER)
    assert response.status_code == 200
    case = response.json()
    assert case["status"] == "open" and case["standby"] is False
    assert case["citizen"] == {"name": "Mette Hansen", "digital_post": True}
    assert "0706851234" not in response.text
    form = by_kind(api, "information_form")
    assert form["title"] == "Oplysningsskema om din sygemelding"
    assert (form["recipient"], form["channel"], form["status"]) == (
        "citizen", "digital_post", "scheduled")
    assert form["send_at"] == "2026-11-23T10:15:00+01:00"
    assert form["deadline"] == "2026-12-01" and form["cause"] == "evt-1"
    assert form["cancellable"] is True and form["has_document"] is False
    times = [x["send_at"] for x in case["letters"]]
    assert times == sorted(times)


@pytest.mark.parametrize(("case_id", "status", "words"), [
    ("SDP-NOPE", 404, "unknown case"),
    ("0706851234", 422, "looks like a CPR number"),
    ("bad id!", 422, "must be 1-64 characters"),
])
def test_case_lookup_errors(api: Api, case_id: str, status: int, words: str) -> None:
    """An unknown case is 404; a CPR-shaped or malformed id is 422, naming case_id."""
    response = api.client.get(f"/cases/{case_id}", headers=CASEWORKER)
    assert response.status_code == status
    assert response.json()["errors"][0]["field"] == "case_id"
    assert words in response.json()["errors"][0]["message"]


# --- ad-hoc letters -------------------------------------------------------------------
def test_adhoc_letter_is_created_once_per_request(api: Api) -> None:
    """Given a free-text letter request, then it is stored (201, Location) as scheduled
    in the send window; the same request again returns the same letter (200)."""
    first = post_letter(api, ADHOC)
    assert first.status_code == 201 and first.json()["outcome"] == "created"
    letter = first.json()["letter"]
    assert first.headers["location"] == f"/letters/{letter['letter_id']}"
    assert (letter["kind"], letter["status"], letter["cause"]) == (
        "adhoc", "scheduled", "caseworker:anna")
    again = post_letter(api, ADHOC)
    assert again.status_code == 200 and again.json()["outcome"] == "duplicate"
    assert again.json()["letter"]["letter_id"] == letter["letter_id"]
    assert sum(1 for x in api.letters() if x["kind"] == "adhoc") == 1


def test_idempotency_key_makes_the_letter_id(api: Api) -> None:
    """Two different texts under one key are one letter; a new key is a new letter; the
    key reused for another kind is a 409."""
    first = post_letter(api, {**ADHOC, "idempotency_key": "k-1"}).json()["letter"]
    changed = post_letter(api, {**ADHOC, "paragraphs": ["Andet"], "idempotency_key": "k-1"})
    assert changed.status_code == 200
    assert changed.json()["letter"]["letter_id"] == first["letter_id"]
    other = post_letter(api, {**ADHOC, "idempotency_key": "k-2"})
    assert other.status_code == 201
    clash = post_letter(api, {"kind": "information_form", "idempotency_key": "k-1"})
    assert clash.status_code == 409 and clash.json()["errors"][0]["field"] == "idempotency_key"


def test_send_window_unless_immediate(api: Api) -> None:
    """A send_at on a Saturday evening waits for Monday 08:00; immediate keeps it, and
    without send_at immediate means now."""
    saturday = "2026-11-28T20:00:00+01:00"
    windowed = post_letter(api, {**ADHOC, "send_at": saturday}).json()["letter"]
    assert windowed["send_at"] == "2026-11-30T08:00:00+01:00"
    exact = post_letter(api, {**ADHOC, "send_at": saturday, "immediate": True}).json()["letter"]
    assert exact["send_at"] == saturday
    now = post_letter(api, {**ADHOC, "subject": "Nu", "immediate": True}).json()["letter"]
    assert now["send_at"] == "2026-11-23T10:15:00+01:00"


def test_adhoc_deadline_moves_forward_to_a_working_day(api: Api) -> None:
    """A deadline on Sunday 6 December is printed as Monday 7 December."""
    letter = post_letter(api, {**ADHOC, "deadline": "2026-12-06"}).json()["letter"]
    assert letter["deadline"] == "2026-12-07"


@pytest.mark.parametrize(("body", "field", "words"), [
    ({"kind": "nonsense"}, "kind", "must be a letter kind for a citizen or employer"),
    ({"kind": "first_meeting_due"}, "kind", "must be a letter kind"),
    ({"kind": "adhoc"}, "paragraphs", "at least one paragraph"),
    ({**ADHOC, "paragraphs": ["Dit CPR er 070685-1234"]}, "paragraphs.0", "CPR"),
    ({"kind": "decision", "paragraphs": ["x"]}, "paragraphs", "only for kind adhoc"),
    ({"kind": "meeting_summons"}, "meeting_id", "required for meeting_summons"),
    ({"kind": "meeting_summons", "meeting_id": "m-9"}, "meeting_id", "unknown for this case"),
    ({"kind": "information_form", "meeting_id": "m-1"}, "meeting_id", "not about a meeting"),
    ({"kind": "meeting_summons_employer", "recipient": "citizen", "meeting_id": "m-1"},
     "recipient", "goes to employer"),
    ({**ADHOC, "send_at": "2026-11-20T10:00:00+01:00"}, "send_at", "in the past"),
    ({**ADHOC, "send_at": "2026-11-30T10:00:00"}, "send_at", "offset"),
    ({**ADHOC, "deadline": "2026-11-23"}, "deadline", "after the day the letter is sent"),
    ({**ADHOC, "colour": "red"}, "colour", "unknown field"),
])
def test_letter_request_errors_name_the_field(api: Api, body: dict[str, Any], field: str,
                                              words: str) -> None:
    """Each invalid request is a 422 naming the field to fix, and stores no letter."""
    api.event("evt-mb", "meeting_booked", "2026-11-23T11:00:00+01:00", MEETING)
    before = len(api.letters())
    response = post_letter(api, body)
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert any(e["field"] == field and words in e["message"] for e in errors), errors
    assert len(api.letters()) == before


def test_catalog_kind_for_a_meeting_and_employer_checks(api: Api, tmp_path: Path,
                                                        clock: SimulatedClock) -> None:
    """A summons re-sent ad hoc for a booked meeting is accepted; a letter to the
    employer of a case without one is refused; a closed case takes no letters (409)."""
    api.event("evt-mb", "meeting_booked", "2026-11-23T11:00:00+01:00", MEETING)
    sent = post_letter(api, {"kind": "meeting_summons", "meeting_id": "m-1"})
    assert sent.status_code == 201, sent.text
    assert sent.json()["letter"]["recipient"] == "citizen"
    alone = make_api(tmp_path / "other", clock)
    alone.open_case(data={"employer": None})
    refused = alone.client.post(f"/cases/{CASE}/letters", headers=CASEWORKER,
                                json={**ADHOC, "recipient": "employer"})
    assert refused.status_code == 422
    assert refused.json()["errors"] == [{"field": "recipient",
                                         "message": "the case has no employer"}]
    api.event("evt-c", "case_closed", "2026-11-24T09:00:00+01:00",
              {"closed_on": "2026-11-24", "reason": "other"})
    closed = post_letter(api, ADHOC)
    assert closed.status_code == 409 and closed.json()["errors"][0]["field"] == "case_id"


def test_unknown_case_is_404_for_letters(api: Api) -> None:
    """An ad-hoc letter for a case that does not exist is 404."""
    assert post_letter(api, ADHOC, case_id="SDP-NOPE").status_code == 404


# --- previews -------------------------------------------------------------------------
def test_preview_renders_with_the_case_and_escapes_free_text(api: Api) -> None:
    """The preview is the letter as it would be sent (the case's citizen, escaped free
    text) and stores nothing."""
    before = api.letters()
    response = api.client.post("/letters/preview", headers=CASEWORKER,
                               json={**ADHOC, "case_id": CASE})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "Mette Hansen" in response.text and "Om din samtale" in response.text
    assert "Husk &lt;b&gt;lønsedler&lt;/b&gt; &amp; kontoudtog." in response.text
    assert "<b>lønsedler" not in response.text
    assert api.letters() == before


def test_preview_without_a_case_uses_sample_data(api: Api) -> None:
    """Without case_id any kind previews from its catalog sample."""
    response = api.client.post("/letters/preview", headers=CASEWORKER,
                               json={"kind": "meeting_summons"})
    assert response.status_code == 200
    assert "<h1>Indkaldelse til samtale om din sygemelding</h1>" in response.text


def test_preview_as_pdf(api: Api) -> None:
    """format=pdf gives a PDF of the same letter."""
    response = api.client.post("/letters/preview", headers=CASEWORKER,
                               json={**ADHOC, "case_id": CASE, "format": "pdf"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF-")


# --- the sent document, and cancelling ------------------------------------------------
def test_sent_letter_document_and_view(api: Api) -> None:
    """Once delivered, GET /letters/{id} says sent with its receipt, and the document
    is the exact HTML that was sent, also as JSON and as PDF."""
    letter = post_letter(api, {**ADHOC, "immediate": True}).json()["letter"]
    assert letter["letter_id"] in api.deliver_due()
    view = api.client.get(f"/letters/{letter['letter_id']}", headers=CASEWORKER).json()
    assert view["status"] == "sent" and view["receipt"] and view["has_document"]
    stored = api.runtime.store.document(letter["letter_id"])
    assert stored is not None
    html = api.client.get(f"/letters/{letter['letter_id']}/document", headers=CASEWORKER)
    assert html.status_code == 200 and html.text == stored["html"]
    as_json = api.client.get(f"/letters/{letter['letter_id']}/document?format=json",
                             headers=CASEWORKER).json()
    assert as_json["text"] == stored["text"] and as_json["channel"] == "digital_post"
    pdf = api.client.get(f"/letters/{letter['letter_id']}/document?format=pdf",
                         headers=CASEWORKER)
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content[:5] == b"%PDF-"


def test_document_of_unsent_or_unknown_letter_is_404(api: Api) -> None:
    """No document before sending (404 saying so); a malformed letter id is 422."""
    form = by_kind(api, "information_form")
    response = api.client.get(f"/letters/{form['letter_id']}/document", headers=CASEWORKER)
    assert response.status_code == 404
    assert "has not been sent" in response.json()["detail"]
    assert api.client.get("/letters/not-an-id", headers=CASEWORKER).status_code == 422
    missing = "00000000-0000-4000-8000-000000000000"
    assert api.client.get(f"/letters/{missing}", headers=CASEWORKER).status_code == 404


def test_cancelled_letter_is_never_sent(api: Api) -> None:
    """Cancelling a scheduled letter takes it out of the due set: when its time comes
    nothing is sent; cancelling again is fine; the audit says who did it and why."""
    form = by_kind(api, "information_form")
    response = api.client.post(f"/letters/{form['letter_id']}/cancel", headers=CASEWORKER,
                               json={"reason": "skrevet forkert"})
    assert response.status_code == 200 and response.json()["outcome"] == "cancelled"
    assert response.json()["letter"]["cancelled_by"] == "caseworker:anna"
    assert form["letter_id"] not in api.deliver_due()
    assert by_kind(api, "information_form")["status"] == "cancelled"
    again = api.client.post(f"/letters/{form['letter_id']}/cancel", headers=CASEWORKER)
    assert again.status_code == 200 and again.json()["outcome"] == "already_cancelled"
    audit = api.runtime.store.audit(CASE)[-1]
    assert (audit["what"], audit["by"], audit["reason"]) == (
        "cancelled", "caseworker:anna", "skrevet forkert")


def test_cancel_of_a_queued_letter_wins_over_the_worker(api: Api) -> None:
    """A letter already claimed (queued, its message on the way) can still be cancelled,
    and the worker that then receives the message skips it."""
    form = by_kind(api, "information_form")
    now = api.clock.now()
    assert api.runtime.store.claim_due(now, now + timedelta(minutes=5), 10) != []
    assert by_kind(api, "information_form")["status"] == "queued"
    response = api.client.post(f"/letters/{form['letter_id']}/cancel", headers=CASEWORKER)
    assert response.status_code == 200
    assert api.runtime.deliverer.deliver(form["letter_id"]) is Status.CANCELLED
    assert not list((Path(api.runtime.settings.outbox_dir)).rglob(f"*{form['letter_id']}*"))


def test_cancel_once_sending_or_sent_is_409(api: Api) -> None:
    """A letter a worker has taken, or that was sent, cannot be cancelled (409)."""
    form = by_kind(api, "information_form")
    now = api.clock.now()
    api.runtime.store.claim_due(now, now + timedelta(minutes=5), 10)
    api.runtime.store.begin_send(form["letter_id"], now + timedelta(minutes=5), 5)
    sending = api.client.post(f"/letters/{form['letter_id']}/cancel", headers=CASEWORKER)
    assert sending.status_code == 409
    assert sending.json()["errors"] == [{"field": "status", "message": "the letter is sending; "
                                         "only a scheduled, queued or held letter "
                                         "can be cancelled"}]
    api.clock.set(local("2026-11-23 10:20"))
    sent = post_letter(api, {**ADHOC, "immediate": True}).json()["letter"]
    api.deliver_due()
    refused = api.client.post(f"/letters/{sent['letter_id']}/cancel", headers=CASEWORKER)
    assert refused.status_code == 409 and "is sent" in refused.json()["detail"]


def test_receipt_is_recorded_on_the_letter(api: Api) -> None:
    """POST /receipts (system) records Digital Post's receipt on a sent letter, shown in
    the timeline; an unknown messageUUID is refused naming the field."""
    letter = post_letter(api, {**ADHOC, "immediate": True}).json()["letter"]
    api.deliver_due()
    receipt = {"message_uuid": letter["letter_id"], "status": "delivered",
               "received_at": "2026-11-23T10:16:00+01:00"}
    response = api.client.post("/receipts", json=receipt, headers=SYSTEM)
    assert response.status_code == 200 and response.json()["outcome"] == "recorded"
    view = api.client.get(f"/letters/{letter['letter_id']}", headers=CASEWORKER).json()
    assert view["receipt_status"] == "delivered"
    unknown = api.client.post("/receipts", headers=SYSTEM, json={
        **receipt, "message_uuid": "00000000-0000-4000-8000-000000000000"})
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "message_uuid"
