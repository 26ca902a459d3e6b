"""Issue 14a over HTTP: the operator's legal hold, 410 naming the archive for a purged case
or letter, no events for a purged case, and the retention counters in /metrics."""

from __future__ import annotations

from pathlib import Path

import fakeredis
import pytest
from fastapi.testclient import TestClient

from notifier.api.app import create_app
from notifier.api.auth import hash_token
from notifier.clock import SimulatedClock
from notifier.records.retention import build_retention
from notifier.runtime import build_runtime
from notifier.settings import load_settings
from tests.conftest import BASE_OPEN, local
from tests.unit.test_api_helpers import (
    BASE,
    CASE,
    CASEWORKER,
    CASEWORKER_TOKEN,
    SYSTEM,
    TOKENS,
    Api,
)

OPERATOR_TOKEN = "unit-operator-token-abcdefghijklmnopqrstuvw"
OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}


@pytest.fixture
def api(tmp_path: Path, clean_env: None, clock: SimulatedClock) -> Api:
    settings = load_settings(outbox_dir=tmp_path / "outbox", archive_dir=tmp_path / "archive",
                             api_tokens=f"{TOKENS},operator:ole:{hash_token(OPERATOR_TOKEN)}")
    runtime = build_runtime(settings, clock=clock, client=fakeredis.FakeRedis())
    api = Api(runtime, TestClient(create_app(runtime), base_url=BASE), clock)
    api.open_case()
    api.deliver_due()
    clock.set(local("2026-11-24 10:00"))
    closed = api.event("evt-close", "case_closed", "2026-11-24T10:00:00+01:00",
                       {"closed_on": "2026-11-24", "reason": "recovered"})
    assert closed.status_code == 202, closed.text
    api.deliver_due()
    clock.set(local("2027-03-01 03:00"))
    return api


def test_operator_holds_and_releases_a_case_caseworker_may_not(api: Api) -> None:
    """POST /cases/{id}/hold (operator) holds the case, naming the operator in the audit
    trail; a caseworker gets 403; release lifts it (409 when there is none)."""
    body = {"reason": "Klagesag hos Ankestyrelsen"}
    assert api.client.post(f"/cases/{CASE}/hold", json=body,
                           headers=CASEWORKER).status_code == 403
    held = api.client.post(f"/cases/{CASE}/hold", json=body, headers=OPERATOR)
    assert held.status_code == 200, held.text
    assert held.json()["outcome"] == "held" and held.json()["hold"]["by"] == "operator:ole"
    again = api.client.post(f"/cases/{CASE}/hold", json=body, headers=OPERATOR)
    assert again.json()["outcome"] == "already_held"
    assert build_retention(api.runtime).run().purged == []
    released = api.client.post(f"/cases/{CASE}/hold/release", json={"reason": "afgjort"},
                               headers=OPERATOR)
    assert released.status_code == 200 and released.json()["hold"]["held"] is False
    assert api.client.post(f"/cases/{CASE}/hold/release", json={"reason": "x"},
                           headers=OPERATOR).status_code == 409
    trail = [(a["what"], a.get("by")) for a in api.runtime.store.audit(CASE)]
    assert ("legal_hold", "operator:ole") in trail
    assert ("legal_hold_released", "operator:ole") in trail


def test_unknown_case_hold_is_404(api: Api) -> None:
    """A hold on a case that never existed is 404, not a silent new key."""
    response = api.client.post("/cases/NOPE-1/hold", json={"reason": "x"}, headers=OPERATOR)
    assert response.status_code == 404


def test_purged_letter_and_case_answer_410_naming_the_archive(api: Api) -> None:
    """After the purge, GET of a letter, its document and its case answer 410 Gone with
    the archive folder and the command that reads it back; a hold is refused the same way."""
    sent = [x["letter_id"] for x in api.letters() if x["status"] == "sent"]
    assert build_retention(api.runtime).run().purged == [CASE]
    folder = f"{api.runtime.settings.archive_dir}/cases/{CASE}"
    for path in (f"/letters/{sent[0]}", f"/letters/{sent[0]}/document?format=pdf"):
        response = api.client.get(path, headers=CASEWORKER)
        assert response.status_code == 410, response.text
        assert f"{folder}/letters/{sent[0]}" in response.json()["detail"]
        assert f"notifier archive show {CASE}" in response.json()["detail"]
    case = api.client.get(f"/cases/{CASE}", headers=CASEWORKER)
    assert case.status_code == 410 and folder in case.json()["detail"]
    assert api.client.post(f"/cases/{CASE}/hold", json={"reason": "x"},
                           headers=OPERATOR).status_code == 410
    unknown = api.client.get("/letters/00000000-0000-4000-8000-000000000000",
                             headers=CASEWORKER)
    assert unknown.status_code == 404


def test_access_log_of_a_purged_or_unknown_case_writes_nothing(api: Api) -> None:
    """After the purge, the operator's access-log export of the case answers 410 naming
    the archive (the log is archived there) and writes no entry, so the purged key does
    not come back; an unknown case is a 404 that writes nothing either (merge review)."""
    assert build_retention(api.runtime).run().purged == [CASE]
    gone = api.client.get(f"/access-log/cases/{CASE}", headers=OPERATOR)
    assert gone.status_code == 410 and "archive" in gone.json()["detail"]
    unknown = api.client.get("/access-log/cases/NOPE-1", headers=OPERATOR)
    assert unknown.status_code == 404
    assert not [k for k in api.runtime.client.scan_iter(match="notifier:access:case:*")]


def test_a_purged_case_takes_no_events(api: Api) -> None:
    """Its opening event sent again is refused (409) instead of opening an empty case
    with the same id and sending its letters a second time."""
    assert build_retention(api.runtime).run().purged == [CASE]
    response = api.client.post("/events", json={**BASE_OPEN, "event_id": "evt-again"},
                               headers=SYSTEM)
    assert response.status_code == 409
    assert "archived and purged" in response.text
    assert api.runtime.store.case(CASE) is None


def test_metrics_count_archived_and_purged_cases(api: Api) -> None:
    """/metrics shows the retention counters, shared through Redis."""
    build_retention(api.runtime).run()
    text = api.client.get("/metrics", headers=CASEWORKER).text
    assert "notifier_retention_cases_archived_total 1.0" in text
    assert "notifier_retention_cases_purged_total 1.0" in text


def test_operator_page_holds_and_releases_a_case(api: Api) -> None:
    """An operator logs in at /ui, lands on the operations page, which links the hold
    page; there they hold the case with a reason
    (the page says so in Danish; the audit names the operator) and lifts it again; a
    caseworker's session gets 403 on that page."""
    origin = {"Origin": BASE}
    login = api.client.post("/ui/login", data={"token": OPERATOR_TOKEN, "next": "/ui"},
                            headers=origin, follow_redirects=False)
    assert login.status_code == 303 and login.headers["location"] == "/ui/drift"
    assert 'href="/ui/hold"' in api.client.get("/ui/drift").text
    assert "Retligt tilbagehold" in api.client.get("/ui/hold").text
    held = api.client.post("/ui/hold", headers=origin, data={
        "case_id": CASE, "reason": "Klagesag", "action": "hold"})
    assert held.status_code == 200 and "er nu i retligt tilbagehold" in held.text
    assert "sat af operator:ole" in held.text
    empty = api.client.post("/ui/hold", headers=origin, data={
        "case_id": CASE, "reason": " ", "action": "release"})
    assert empty.status_code == 422 and "Skriv en begrundelse" in empty.text
    lifted = api.client.post("/ui/hold", headers=origin, data={
        "case_id": CASE, "reason": "Afgjort", "action": "release"})
    assert "Tilbageholdet er ophævet" in lifted.text
    assert [a["by"] for a in api.runtime.store.audit(CASE)
            if a["what"].startswith("legal_hold")] == ["operator:ole", "operator:ole"]
    api.client.post("/ui/logout", headers=origin)
    api.client.post("/ui/login", data={"token": CASEWORKER_TOKEN}, headers=origin)
    assert api.client.get("/ui/hold").status_code == 403


def test_caseworker_page_says_a_purged_case_was_archived(api: Api) -> None:
    """Looking a purged case up at /ui tells the caseworker, in Danish, that it was
    archived and purged, rather than that it never existed."""
    assert build_retention(api.runtime).run().purged == [CASE]
    origin = {"Origin": BASE}
    api.client.post("/ui/login", data={"token": CASEWORKER_TOKEN}, headers=origin)
    response = api.client.post("/ui/cases", data={"case_id": CASE}, headers=origin)
    assert "Sagen er arkiveret og slettet fra brevsystemet" in response.text
    page = api.client.get(f"/ui/cases/{CASE}")
    assert page.status_code == 410 and "<h1>Sagen er arkiveret</h1>" in page.text
