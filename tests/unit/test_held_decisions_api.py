"""Held stop decisions over HTTP and on the caseworker pages (issue 11): release sends the
decision in the next send window, cancel never sends it, and the audit names who did it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from notifier.clock import SimulatedClock
from tests.conftest import local
from tests.unit.test_api_helpers import BASE, CASE, CASEWORKER, CASEWORKER_TOKEN, Api, make_api

SAME_ORIGIN = {"origin": BASE}


def by_kind(api: Api, kind: str) -> list[dict[str, Any]]:
    return [x for x in api.letters() if x["kind"] == kind]


@pytest.fixture
def held(tmp_path: Path, clean_env: None, clock: SimulatedClock) -> tuple[Api, str]:
    """A case (opened Mon 23 Nov 2026) put on standby, a meeting booked during it (its
    summons suppressed), and a non-cooperation stop naming that meeting: held."""
    api = make_api(tmp_path, clock)
    api.open_case()
    steps = [
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
    for event_id, type_, when, data in steps:
        clock.set(local(when[:16].replace("T", " ")))
        response = api.event(event_id, type_, when, data)
        assert response.status_code == 202, response.text
    [decision] = by_kind(api, "decision")
    assert decision["status"] == "held" and decision["releasable"] is True
    return api, decision["letter_id"]


def test_held_decision_is_not_sent_and_the_caseworker_is_alerted(
        held: tuple[Api, str]) -> None:
    """Given a held stop decision,
    When the dispatcher delivers what is due,
    Then the decision stays held and only the decision_held alert goes out."""
    api, letter_id = held
    sent = api.deliver_due()
    assert letter_id not in sent
    assert by_kind(api, "decision")[0]["status"] == "held"
    assert [x["status"] for x in by_kind(api, "decision_held")] == ["sent"]


def test_release_sends_it_and_the_audit_names_who(held: tuple[Api, str]) -> None:
    """Given a held decision,
    When a caseworker releases it (with a reason),
    Then it is scheduled for now (inside the send window) and sent on the next delivery; a
    second release is 'already_released'; the audit entry names the caseworker."""
    api, letter_id = held
    response = api.client.post(f"/letters/{letter_id}/release", headers=CASEWORKER,
                               json={"reason": "borgeren fik besked i telefonen"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["outcome"] == "released"
    assert body["letter"]["status"] == "scheduled"
    assert body["letter"]["released_by"] == "caseworker:anna"
    assert letter_id in api.deliver_due()
    assert by_kind(api, "decision")[0]["status"] == "sent"
    again = api.client.post(f"/letters/{letter_id}/release", headers=CASEWORKER)
    assert again.json()["outcome"] == "already_released"
    audit = [e for e in api.runtime.store.audit(CASE) if e.get("action") == "released"]
    assert [(e["by"], e["reason"]) for e in audit] == [
        ("caseworker:anna", "borgeren fik besked i telefonen")]


def test_cancel_a_held_decision_and_release_is_then_refused(held: tuple[Api, str]) -> None:
    """Given a held decision,
    When a caseworker cancels it,
    Then it is never sent, and releasing it afterwards is refused (409, naming status)."""
    api, letter_id = held
    response = api.client.post(f"/letters/{letter_id}/cancel", headers=CASEWORKER)
    assert response.status_code == 200 and response.json()["outcome"] == "cancelled"
    assert letter_id not in api.deliver_due()
    refused = api.client.post(f"/letters/{letter_id}/release", headers=CASEWORKER)
    assert refused.status_code == 409
    assert refused.json()["errors"][0]["field"] == "status"


def test_release_through_the_pages(held: tuple[Api, str]) -> None:
    """Given a logged-in caseworker and a held decision,
    When they open the case page, follow "Frigiv" and confirm,
    Then the case page says it is released, and the timeline shows who released it."""
    api, letter_id = held
    login = api.client.post("/ui/login", data={"token": CASEWORKER_TOKEN, "next": "/ui"},
                            headers=SAME_ORIGIN, follow_redirects=False)
    assert login.status_code == 303
    case_page = api.client.get(f"/ui/cases/{CASE}")
    assert "Holdt tilbage" in case_page.text
    assert f"/ui/letters/{letter_id}/release" in case_page.text
    confirm = api.client.get(f"/ui/letters/{letter_id}/release")
    assert "Frigiv afgørelsen?" in confirm.text
    done = api.client.post(f"/ui/letters/{letter_id}/release", headers=SAME_ORIGIN,
                           data={"reason": "ringet op"})
    assert done.status_code == 200
    assert "er frigivet og sendes" in done.text
    assert "Frigivet af caseworker:anna" in done.text
