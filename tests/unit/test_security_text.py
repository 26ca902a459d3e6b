"""Issue 17, findings 3 and 6: one CPR recogniser for every spelling, used at every door
(ids, free text, ad-hoc letters, receipt reasons, cancel reasons, audit, e-mail, logs, the
access log path); intake refuses control characters (the MeMo rule) and accepts exactly one
valid e-mail address, optionally only in configured domains."""

from __future__ import annotations

import copy
import email
import email.policy
import json
import logging
import unicodedata
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notifier.clock import SimulatedClock
from notifier.errors import InputError
from notifier.identifiers import looks_like_cpr
from notifier.intake.events import parse_event
from notifier.intake.plaintext import control_problem
from notifier.logging import MASK, redact_text
from tests.conftest import BASE_OPEN
from tests.unit.test_api_events import snapshot
from tests.unit.test_api_helpers import CASEWORKER, SYSTEM, Api, make_api
from tests.unit.test_pipeline import deliver_due

CASE = BASE_OPEN["case_id"]
REPORTED = ["0101 90 1234", "010190 1234", "01.01.90-1234", "010190\u20111234"]
SEPARATORS = [" ", "\u00a0", "\u2009", ".", "-", "/", "\u2010", "\u2011", "\u2012", "\u2013",
              "\u2014", "\u2212", "\uff0d", "\ufe63", " - ", "\u200b"]


@st.composite
def cpr_spellings(draw: st.DrawFn) -> str:
    """A real-looking CPR number (valid date of birth) spelled in one of the ways people
    and systems write them: 2-2-2-4 or 6+4 groups, any separators, fullwidth digits."""
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=date(2036, 12, 31)))
    serial = draw(st.integers(0, 9999))
    # The seventh digit must agree with the century (CPR-kontoret's table).
    serial = serial % 4000 if born.year < 2000 else 4000 + serial % 1000
    groups = [f"{born.day:02d}", f"{born.month:02d}", f"{born.year % 100:02d}", f"{serial:04d}"]
    seps = [draw(st.sampled_from(["", *SEPARATORS])) for _ in range(3)]
    if draw(st.booleans()):  # the 6+4 grouping: separators only before the serial
        seps[0] = seps[1] = ""
    text = "".join(g + s for g, s in zip(groups, [*seps, ""], strict=True))
    if draw(st.booleans()):
        text = text.translate({ord(d): chr(0xFF10 + int(d)) for d in "0123456789"})
    return text


@settings(max_examples=300, deadline=None)
@given(cpr=cpr_spellings(), before=st.sampled_from(["", "cpr ", "Mette (", "nr. "]),
       after=st.sampled_from(["", " er", ")", "."]))
def test_every_spelling_is_recognised_and_masked(cpr: str, before: str, after: str) -> None:
    """Property: any spelling is recognised inside text, and the log redaction leaves no
    recognisable CPR number behind (neither as written nor after NFKC)."""
    text = before + cpr + after
    assert looks_like_cpr(text)
    masked = redact_text(text)
    assert MASK in masked
    assert not looks_like_cpr(masked)
    assert not looks_like_cpr(unicodedata.normalize("NFKC", masked))


@settings(max_examples=200, deadline=None)
@given(cpr=cpr_spellings(), field=st.sampled_from([
    ("event_id",), ("data", "caseworker", "id"), ("data", "citizen", "name"),
    ("data", "citizen", "address", "street"), ("data", "caseworker", "name")]))
def test_intake_refuses_every_spelling_in_ids_and_text(cpr: str, field: tuple[str, ...]
                                                       ) -> None:
    """Property: a CPR number in any spelling in an id or a text field of an event is
    refused, naming the field (ids may only hold ASCII: those fail their pattern first)."""
    raw = copy.deepcopy(BASE_OPEN)
    target = raw
    for key in field[:-1]:
        target = target[key]
    target[field[-1]] = f"x {cpr}" if len(field) > 1 and field[-1] != "id" else cpr
    with pytest.raises(InputError) as caught:
        parse_event(raw)
    assert [e.field for e in caught.value.errors] == [".".join(field)]
    assert cpr not in str(caught.value)


@pytest.mark.parametrize("text", ["SDP-2026-0042", "tlf. 70 10 20 30", "2026-11-23T10:15:00Z",
                                  "1764600000.5", "12345678901", "3213991234",
                                  "010190-12345", "1010190-1234", "kl. 10.15 den 23.11.2026"])
def test_ordinary_numbers_are_not_taken_for_cpr(text: str) -> None:
    """Case ids, phone numbers, timestamps and impossible dates are not CPR numbers."""
    assert not looks_like_cpr(text)
    assert redact_text(text) == text


@pytest.fixture
def api(tmp_path: Path, clean_env: None, clock: SimulatedClock) -> Api:
    return make_api(tmp_path, clock)


@pytest.mark.parametrize("cpr", REPORTED)
def test_reported_spellings_refused_in_adhoc_letters(api: Api, cpr: str) -> None:
    """The review's four spellings in an ad-hoc letter (they passed): 422 on the paragraph."""
    api.open_case()
    response = api.client.post(f"/cases/{CASE}/letters", headers=CASEWORKER,
                               json={"kind": "adhoc", "paragraphs": [f"Dit nummer {cpr}"]})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "paragraphs.0"


@pytest.mark.parametrize(("path", "value"), [
    (("data", "caseworker", "id"), "010190-1234"),
    (("event_id",), "010190-1234"),
])
def test_cpr_shaped_ids_are_refused(api: Api, path: tuple[str, ...], value: str) -> None:
    """CPR-shaped event_id and caseworker.id (accepted before, then Redis keys and /ui)."""
    raw = copy.deepcopy(BASE_OPEN)
    target = raw
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    response = api.client.post("/events", json=raw, headers=SYSTEM)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == ".".join(path)


def test_cpr_shaped_meeting_id_is_refused(api: Api) -> None:
    """A meeting_id spelled like a CPR number is refused (data.meeting_id)."""
    api.open_case()
    response = api.event("evt-m", "meeting_booked", "2026-11-24T09:00:00+01:00", {
        "meeting_id": "0101901234", "starts_at": "2026-12-03T10:00:00+01:00",
        "form": "phone", "with_employer": False})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "data.meeting_id"


def test_failed_receipt_reason_and_cancel_reason_are_masked(api: Api) -> None:
    """A failed receipt's reason with "010190 1234" reaches neither the stored letter, the
    audit trail nor the caseworker's alert e-mail; nor does a cancel reason's "0101 90 1234"."""
    api.open_case()
    (form_id,) = deliver_due(api.runtime)
    response = api.client.post("/receipts", headers=SYSTEM, json={
        "message_uuid": form_id, "status": "failed", "received_at": "2026-11-23T10:20:00+01:00",
        "reason": "modtager 010190 1234 har ingen postkasse"})
    assert response.status_code == 200, response.text
    # The alert by mail; since issue 12 a paper copy of the form goes out too.
    (alert_id,) = [i for i in deliver_due(api.runtime)
                   if api.runtime.store.letter(i).channel == "mail"]  # type: ignore[union-attr]
    raw = (api.runtime.settings.outbox_dir / "mail" / f"{alert_id}.eml").read_bytes()
    body = email.message_from_bytes(raw, policy=email.policy.default).get_body(("plain",))
    assert body is not None and "[CPR]" in body.get_content()
    assert not looks_like_cpr(body.get_content())
    pending = next(x for x in api.letters() if x["cancellable"])
    response = api.client.post(f"/letters/{pending['letter_id']}/cancel", headers=CASEWORKER,
                               json={"reason": "forkert person 0101 90 1234"})
    assert response.status_code == 200
    audit = json.dumps(api.runtime.store.audit(CASE), ensure_ascii=False)
    assert "[CPR]" in audit and not looks_like_cpr(audit)
    assert not looks_like_cpr(json.dumps(api.letters()))


def test_access_log_path_is_masked(api: Api, capsys: pytest.CaptureFixture[str],
                                   caplog: pytest.LogCaptureFixture) -> None:
    """GET /cases/010190 1234: refused, and the access log line shows [CPR] (the review saw
    the number in the path). Whether structlog prints or the stdlib captures depends on
    whether another test configured logging: both are read."""
    capsys.readouterr()
    with caplog.at_level(logging.INFO):
        response = api.client.get("/cases/010190 1234", headers=CASEWORKER)
    assert response.status_code == 422
    lines = capsys.readouterr().out.splitlines() + [str(r.msg) for r in caplog.records
                                                     if r.name == "notifier.api"]
    [line] = [x for x in lines if "http.request" in x]
    assert "/cases/[CPR]" in line and not looks_like_cpr(line)


# --- control characters and e-mail addresses --------------------------------------------
@pytest.mark.parametrize(("field", "value"), [
    (("data", "citizen", "name"), "Mette\r\nHansen"),
    (("data", "citizen", "name"), "Mette\x07Hansen"),
    (("data", "citizen", "name"), "Mette\u202eHansen"),
    (("data", "citizen", "address", "city"), "Taa\nstrup"),
    (("data", "caseworker", "name"), "Lise\x00"),
])
def test_control_characters_are_refused_at_intake(api: Api, field: tuple[str, ...],
                                                  value: str) -> None:
    """A name with CR/LF or a control character was accepted and the letter then went
    dead at the MeMo step; now it is a 422 naming the field, nothing stored."""
    raw = copy.deepcopy(BASE_OPEN)
    target = raw
    for key in field[:-1]:
        target = target[key]
    target[field[-1]] = value
    before = snapshot(api)
    response = api.client.post("/events", json=raw, headers=SYSTEM)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == ".".join(field)
    assert "control character" in response.json()["errors"][0]["message"]
    assert snapshot(api) == before


def test_intake_rule_is_the_memo_rule() -> None:
    """Whatever multi-line intake text passes, the MeMo builder accepts (same function)."""
    from notifier.delivery import memo

    assert memo.control_problem is control_problem
    assert control_problem("a\rb") and control_problem("a\x85b") and not control_problem("a\nb")
    assert control_problem("a\nb", multiline=False)


@pytest.mark.parametrize("address", ["x,evil@attacker.dk", "lise\x00@eksempel.dk",
                                     "a@eksempel.dk b@eksempel.dk", "a@eksempel.dk,b@x.dk",
                                     "Lise <lise@eksempel.dk>", "lise@", "0101901234@eksempel.dk"])
def test_email_fields_take_exactly_one_valid_address(api: Api, address: str) -> None:
    """caseworker.email "x,evil@attacker.dk" (two recipients) and a NUL byte were accepted;
    now anything but one valid address is a 422 naming the field."""
    raw = copy.deepcopy(BASE_OPEN)
    raw["data"]["caseworker"]["email"] = address
    response = api.client.post("/events", json=raw, headers=SYSTEM)
    assert response.status_code == 422, address
    assert response.json()["errors"][0]["field"] == "data.caseworker.email"


def test_email_domains_setting_restricts_addresses(tmp_path: Path, clean_env: None,
                                                   clock: SimulatedClock) -> None:
    """With NOTIFIER_EMAIL_DOMAINS set, an address elsewhere is refused; one inside passes."""
    api = make_api(tmp_path, clock, email_domains="eksempel.dk")
    raw = copy.deepcopy(BASE_OPEN)
    raw["data"]["caseworker"]["email"] = "lise@attacker.dk"
    response = api.client.post("/events", json=raw, headers=SYSTEM)
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "data.caseworker.email",
                                          "message": "must be an address in eksempel.dk"}]
    raw["data"]["caseworker"]["email"] = "lise@jobcenter.eksempel.dk"
    assert api.client.post("/events", json=raw, headers=SYSTEM).status_code == 202


def test_adhoc_text_and_cancel_reason_refuse_control_characters(api: Api) -> None:
    """Ad-hoc subject (one line) and paragraphs, and a cancel reason, refuse controls."""
    api.open_case()
    response = api.client.post(f"/cases/{CASE}/letters", headers=CASEWORKER, json={
        "kind": "adhoc", "subject": "Om\nmødet", "paragraphs": ["Hej\x1b[31m"]})
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"subject", "paragraphs.0"}
    pending = next(x for x in api.letters() if x["cancellable"])
    response = api.client.post(f"/letters/{pending['letter_id']}/cancel", headers=CASEWORKER,
                               json={"reason": "fejl\x00"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "reason"
