"""POST /events: one or many, accepted or duplicate; 422 and 409 store nothing."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from notifier.clock import SimulatedClock
from tests.conftest import BASE_OPEN
from tests.unit.test_api_helpers import CASE, SYSTEM, Api, make_api


@pytest.fixture
def api(tmp_path: Path, clean_env: None, clock: SimulatedClock) -> Api:
    return make_api(tmp_path, clock)


def snapshot(api: Api) -> dict[bytes, Any]:
    client = api.runtime.client
    return {key: client.dump(key) for key in client.keys("*")}


def form_returned(event_id: str = "evt-2", occurred_at: str = "2026-11-24T09:00:00+01:00",
                  case_id: str = CASE) -> dict[str, Any]:
    return {"event_id": event_id, "type": "information_form_returned", "case_id": case_id,
            "occurred_at": occurred_at, "data": {"returned_on": "2026-11-24"}}


def test_single_event_is_accepted_then_duplicate(api: Api) -> None:
    """One event: 202 with its outcome and the letters it planned; the same event again
    is a duplicate that plans nothing and changes nothing."""
    first = api.client.post("/events", json=BASE_OPEN, headers=SYSTEM)
    assert first.status_code == 202
    [result] = first.json()["results"]
    assert result["outcome"] == "accepted" and result["event_id"] == "evt-1"
    stored = {x["letter_id"] for x in api.letters()}
    assert set(result["planned"]) == stored and len(stored) >= 4
    before = snapshot(api)
    again = api.client.post("/events", json=BASE_OPEN, headers=SYSTEM)
    assert again.status_code == 202
    assert again.json()["results"] == [{"event_id": "evt-1", "case_id": CASE,
                                        "outcome": "duplicate", "planned": [], "cancelled": []}]
    assert snapshot(api) == before


def test_list_is_applied_in_occurred_at_order_and_answered_in_sent_order(api: Api) -> None:
    """A list whose events are out of order is applied by occurred_at (the form return
    after the opening) and its outcomes come back in the order sent."""
    response = api.client.post("/events", json=[form_returned(), BASE_OPEN], headers=SYSTEM)
    assert response.status_code == 202, response.text
    results = response.json()["results"]
    assert [r["event_id"] for r in results] == ["evt-2", "evt-1"]
    assert [r["outcome"] for r in results] == ["accepted", "accepted"]
    kinds = {x["letter_id"]: x for x in api.letters()}
    cancelled = {kinds[i]["kind"] for i in results[0]["cancelled"]}
    assert "information_form_reminder" in cancelled


def test_malformed_event_in_a_list_stores_nothing(api: Api) -> None:
    """One bad event in a list: 422 naming its index and field; nothing from the list
    (not even the good events) is stored."""
    bad = copy.deepcopy(BASE_OPEN)
    bad.update(event_id="evt-9", case_id="SDP-OTHER")
    bad["data"]["citizen"]["cpr"] = "3213991234"
    before = snapshot(api)
    response = api.client.post("/events", json=[BASE_OPEN, bad], headers=SYSTEM)
    assert response.status_code == 422
    body = response.json()
    assert body["errors"] == [{"field": "[1].data.citizen.cpr", "message":
                               "the first six digits are not a valid date of birth"}]
    assert "3213991234" not in json.dumps(body)
    assert snapshot(api) == before


@pytest.mark.parametrize(("body", "field", "words"), [
    ({**BASE_OPEN, "type": "nonsense"}, "type", "unknown event type"),
    ({**BASE_OPEN, "case_id": "0706851234"}, "case_id", "must not contain a CPR number"),
    ({**BASE_OPEN, "occurred_at": "2026-11-23"}, "occurred_at", "ISO 8601"),
    ({**BASE_OPEN, "extra": 1}, "extra", "unknown field"),
    ([], "(body)", "no events"),
    ([1], "[0].(event)", "must be a JSON object"),
    ("text", "(event)", "must be a JSON object"),
])
def test_malformed_input_is_422_naming_the_field(api: Api, body: Any, field: str,
                                                 words: str) -> None:
    """Malformed events are refused with the field that is wrong and why."""
    response = api.client.post("/events", json=body, headers=SYSTEM)
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert any(e["field"] == field and words in e["message"] for e in errors), errors


def test_invalid_json_is_422(api: Api) -> None:
    """A body that is not JSON at all is a 422 in the same shape, not a 500."""
    response = api.client.post("/events", content=b"{not json",
                               headers={**SYSTEM, "Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["message"]


def test_closed_case_refuses_events_with_409(api: Api) -> None:
    """After case_closed, a further event is 409 naming case_id; nothing is stored."""
    api.open_case()
    closed = api.event("evt-c", "case_closed", "2026-11-24T09:00:00+01:00",
                       {"closed_on": "2026-11-24", "reason": "recovered"})
    assert closed.status_code == 202
    before = snapshot(api)
    response = api.client.post("/events", json=form_returned(occurred_at="2026-11-25T09:00+01:00"),
                               headers=SYSTEM)
    assert response.status_code == 409
    assert response.json()["errors"] == [{"field": "case_id", "message":
                                          "the case is closed; it accepts no more events"}]
    assert snapshot(api) == before


def test_unknown_meeting_and_standby_conflicts_are_409(api: Api) -> None:
    """Cancelling a meeting never booked, and granting standby twice, are 409s."""
    api.open_case()
    unknown = api.event("evt-m", "meeting_cancelled", "2026-11-24T09:00:00+01:00",
                        {"meeting_id": "nope"})
    assert unknown.status_code == 409
    assert unknown.json()["errors"][0]["field"] == "data.meeting_id"
    standby = {"decided_on": "2026-11-24"}
    assert api.event("evt-s1", "standby_granted", "2026-11-24T09:00:00+01:00",
                     standby).status_code == 202
    again = api.event("evt-s2", "standby_granted", "2026-11-24T10:00:00+01:00", standby)
    assert again.status_code == 409 and again.json()["errors"][0]["field"] == "type"


def test_conflict_anywhere_in_a_list_stores_nothing(api: Api) -> None:
    """A list whose third event the case refuses (the case is closed by the second):
    409 naming that event's index, and the first two are not applied either."""
    closing = {"event_id": "evt-c", "type": "case_closed", "case_id": CASE,
               "occurred_at": "2026-11-24T09:00:00+01:00",
               "data": {"closed_on": "2026-11-24", "reason": "other"}}
    before = snapshot(api)
    response = api.client.post("/events", headers=SYSTEM, json=[
        BASE_OPEN, closing, form_returned(occurred_at="2026-11-25T09:00:00+01:00")])
    assert response.status_code == 409
    assert response.json()["errors"][0]["field"] == "[2].case_id"
    assert snapshot(api) == before


def test_duplicate_inside_a_list_is_reported_not_refused(api: Api) -> None:
    """An event already applied, sent again inside a list, is a duplicate there too (the
    dry run does not mistake the repeated opening for a second case)."""
    api.open_case()
    response = api.client.post("/events", json=[BASE_OPEN, form_returned()], headers=SYSTEM)
    assert response.status_code == 202
    assert [r["outcome"] for r in response.json()["results"]] == ["duplicate", "accepted"]


def test_oversized_body_is_413(tmp_path: Path, clean_env: None, clock: SimulatedClock) -> None:
    """A body over NOTIFIER_API_MAX_BODY_BYTES is refused before it is parsed, whether
    its length is declared or it is streamed in chunks."""
    api = make_api(tmp_path, clock, api_max_body_bytes=2048)
    big = [copy.deepcopy(BASE_OPEN) for _ in range(20)]
    response = api.client.post("/events", json=big, headers=SYSTEM)
    assert response.status_code == 413
    assert "larger than 2048 bytes" in response.json()["detail"]

    def chunks() -> Any:
        for _ in range(10):
            yield b" " * 512

    streamed = api.client.post("/events", content=chunks(),
                               headers={**SYSTEM, "Content-Type": "application/json"})
    assert streamed.status_code == 413
    assert api.runtime.client.keys("*") == []
