"""The access log (issue 14): every read of a case's personal data through the API, /ui
and the CLI leaves exactly one entry (who, role, when, case, what, purpose, via), in the
Redis lists the archive reads, never with a CPR number; the operator exports it."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute

from notifier.api.auth import hash_token
from notifier.api.reads import LOGGED
from notifier.cli import main
from notifier.clock import SimulatedClock
from notifier.identifiers import looks_like_cpr
from notifier.records.access_log import CASE_KEY, USER_KEY, AccessLog, Via
from notifier.store.replication import Durability, NotReplicated
from tests.unit.test_api_helpers import (
    BASE,
    CASE,
    CASEWORKER,
    CASEWORKER_TOKEN,
    TOKENS,
    Api,
)

OPERATOR_TOKEN = "unit-operator-token-abcdefghijklmnopqrstuvwx"
OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
SAME_ORIGIN = {"Origin": BASE}
# Routes that take a case or letter id but show no case data: each says why.
NOT_READS = {
    ("POST", "/ui/cases"): "the lookup only redirects to the case page (which is logged)",
    ("POST", "/cases/{case_id}/letters"): "creates a letter; the audit trail names who",
    ("POST", "/letters/{letter_id}/cancel"): "an action, in the audit trail",
    ("POST", "/letters/{letter_id}/release"): "an action, in the audit trail",
    ("POST", "/ui/letters/{letter_id}/cancel"): "an action, in the audit trail",
    ("POST", "/ui/letters/{letter_id}/release"): "an action, in the audit trail",
    ("POST", "/cases/{case_id}/hold"): "an action, in the audit trail",
    ("POST", "/cases/{case_id}/hold/release"): "an action, in the audit trail",
    ("GET", "/cases/{case_id}/hold"): "the hold's own record (who, why, when), no case data",
    ("POST", "/operations/letters/{letter_id}/retry"): "an action, in the audit trail",
    ("POST", "/ui/drift/letters/{letter_id}/retry"): "an action, in the audit trail",
}


class NoReplica(Durability):
    """No replica confirms anything (issue 15): every confirmation fails."""

    def confirm(self, client: Any, keys: Any, field: Any = None, value: Any = None) -> None:
        raise NotReplicated("0 of 1 replicas confirmed the write within 1 s")


@pytest.fixture
def api(tmp_path: Path, clean_env: None, clock: SimulatedClock) -> Api:
    import fakeredis
    from fastapi.testclient import TestClient

    from notifier.api.app import create_app
    from notifier.runtime import build_runtime
    from notifier.settings import load_settings

    tokens = TOKENS + f",operator:olga:{hash_token(OPERATOR_TOKEN)}"
    settings = load_settings(outbox_dir=tmp_path / "outbox", api_tokens=tokens)
    runtime = build_runtime(settings, clock=clock, client=fakeredis.FakeRedis())
    api = Api(runtime, TestClient(create_app(runtime), base_url=BASE), clock)
    api.open_case()
    return api


def entries(api: Api, case_id: str = CASE) -> list[dict[str, Any]]:
    return [json.loads(x) for x in api.runtime.client.lrange(CASE_KEY + case_id, 0, -1)]


def a_letter(api: Api, kind: str = "information_form") -> str:
    letters = api.runtime.store.case_letters(CASE).values()
    return next(x.letter_id for x in letters if x.kind == kind)


def test_case_read_through_the_api_is_logged_with_who_when_and_purpose(api: Api) -> None:
    """GET /cases/{id} appends one entry to the case's and the user's list: the caller's
    name and role, the Clock's time in UTC, what was read, the purpose and the channel."""
    response = api.client.get(f"/cases/{CASE}?purpose=klage fra borgeren", headers=CASEWORKER)
    assert response.status_code == 200
    expected = {"at": api.clock.now().isoformat(timespec="seconds"), "principal": "anna",
                "role": "caseworker", "case_id": CASE, "what": "case_timeline",
                "via": "api", "purpose": "klage fra borgeren"}
    assert entries(api) == [expected]
    user = [json.loads(x) for x in api.runtime.client.lrange(USER_KEY + "anna", 0, -1)]
    assert user == [expected]


def test_a_read_whose_entry_no_replica_confirms_shows_nothing(api: Api) -> None:
    """Given a replica to confirm and none answering, GET /cases/{id} answers 503 and
    shows no case data: a read is never shown without a durable record of it."""
    api.runtime.store.durability = NoReplica(1)
    response = api.client.get(f"/cases/{CASE}", headers=CASEWORKER)
    assert response.status_code == 503
    assert "letters" not in response.json() and "Mette Hansen" not in response.text


def test_purpose_header_and_no_purpose(api: Api) -> None:
    """The purpose may come as the X-Purpose header; without one the field is absent."""
    api.client.get(f"/cases/{CASE}", headers={**CASEWORKER, "X-Purpose": "aktindsigt"})
    api.clock.advance(timedelta(minutes=5))
    api.client.get(f"/cases/{CASE}", headers=CASEWORKER)
    assert [e.get("purpose") for e in entries(api)] == ["aktindsigt", None]


def test_unknown_case_and_failed_auth_log_nothing(api: Api) -> None:
    """A 404 (no such case), a 401 (no token) or a 403 (wrong role) showed no data."""
    assert api.client.get("/cases/SDP-NOPE", headers=CASEWORKER).status_code == 404
    assert api.client.get(f"/cases/{CASE}").status_code == 401
    assert api.client.get(f"/cases/{CASE}", headers=OPERATOR).status_code == 403
    assert entries(api) == [] and entries(api, "SDP-NOPE") == []


def test_letter_document_and_preview_reads(api: Api) -> None:
    """A letter, its sent document (any format) and a preview with the case's data are each
    logged; a document not yet sent (404) and a preview from sample data are not."""
    letter_id = a_letter(api)
    assert api.client.get(f"/letters/{letter_id}/document", headers=CASEWORKER
                          ).status_code == 404
    assert api.client.get(f"/letters/{letter_id}", headers=CASEWORKER).status_code == 200
    api.deliver_due()
    assert api.client.get(f"/letters/{letter_id}/document?format=json", headers=CASEWORKER
                          ).status_code == 200
    body = {"kind": "adhoc", "paragraphs": ["Hej"]}
    assert api.client.post("/letters/preview", json=body, headers=CASEWORKER
                           ).status_code == 200
    assert api.client.post("/letters/preview", json={**body, "case_id": CASE},
                           headers=CASEWORKER).status_code == 200
    assert [(e["what"], e.get("letter_id")) for e in entries(api)] == [
        ("letter", letter_id), ("document", letter_id), ("preview", None)]


def test_repeated_read_within_the_window_is_one_entry(api: Api) -> None:
    """Reloading a page within NOTIFIER_ACCESS_LOG_COALESCE_SECONDS adds nothing; after
    it, or reading something else in between, does."""
    for _ in range(3):
        api.client.get(f"/cases/{CASE}", headers=CASEWORKER)
    assert len(entries(api)) == 1
    api.client.get(f"/letters/{a_letter(api)}", headers=CASEWORKER)
    api.client.get(f"/cases/{CASE}", headers=CASEWORKER)
    api.clock.advance(timedelta(seconds=61))
    api.client.get(f"/cases/{CASE}", headers=CASEWORKER)
    assert [e["what"] for e in entries(api)] == ["case_timeline", "letter", "case_timeline",
                                                 "case_timeline"]


def test_no_cpr_number_is_ever_stored(api: Api) -> None:
    """A CPR number in the purpose is masked: the read is still logged, the number not."""
    api.client.get(f"/cases/{CASE}", headers={**CASEWORKER, "X-Purpose": "borger 0101901234"})
    raw = api.runtime.client.lrange(CASE_KEY + CASE, 0, -1)
    assert raw and not any(looks_like_cpr(x.decode()) for x in raw)
    assert entries(api)[0]["purpose"] == "borger [CPR]"


def test_a_purpose_with_control_characters_is_refused(api: Api) -> None:
    """422 naming the field, and no data shown."""
    response = api.client.get(f"/cases/{CASE}", headers=CASEWORKER,
                              params={"purpose": "a\x00b"})
    assert response.status_code == 422 and "purpose" in response.text
    assert entries(api) == []


def test_operator_exports_per_case_and_per_user(api: Api) -> None:
    """Only the operator role reads the log; JSON and CSV say the same; the export of a
    case's log is itself logged, after the entries it returns."""
    api.client.get(f"/cases/{CASE}", headers=CASEWORKER)
    assert api.client.get(f"/access-log/cases/{CASE}", headers=CASEWORKER).status_code == 403
    as_json = api.client.get(f"/access-log/cases/{CASE}", headers=OPERATOR)
    assert [e["what"] for e in as_json.json()] == ["case_timeline"]
    as_csv = api.client.get(f"/access-log/cases/{CASE}?format=csv", headers=OPERATOR)
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [(r["principal"], r["what"]) for r in rows] == [("anna", "case_timeline"),
                                                           ("olga", "access_log")]
    by_user = api.client.get("/access-log/users/anna", headers=OPERATOR).json()
    assert [(e["case_id"], e["what"]) for e in by_user] == [(CASE, "case_timeline")]


def test_every_route_with_a_case_or_letter_logs_or_says_why_not(api: Api) -> None:
    """The logging cannot be forgotten: a new route taking ``case_id`` or ``letter_id``
    fails here until it declares an access-log dependency or is listed as no read."""
    def logs(dependant: Any) -> bool:
        return any(hasattr(d.call, LOGGED) or logs(d) for d in dependant.dependencies)

    missing = []
    routes = list(api_routes(api.client.app.routes))  # type: ignore[attr-defined]
    checked = [r for r in routes if "{case_id}" in r.path or "{letter_id}" in r.path]
    # The walk must see the included routers, or this test would pass on nothing.
    assert {"/cases/{case_id}", "/ui/cases/{case_id}"} <= {r.path for r in checked}
    for route in checked:
        for method in route.methods:
            if (method, route.path) not in NOT_READS and not logs(route.dependant):
                missing.append(f"{method} {route.path}")
    assert missing == []


def api_routes(routes: Any) -> Any:
    """Every APIRoute, also those of included routers (FastAPI keeps an included router
    as one entry that holds the original router)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from api_routes(inner.routes)


def test_ui_pages_log_as_ui(api: Api) -> None:
    """The caseworker pages log their reads with via=ui (the browser walk checks the
    whole sequence; this checks the wiring without a browser)."""
    api.client.post("/ui/login", data={"token": CASEWORKER_TOKEN, "next": "/ui"},
                    headers=SAME_ORIGIN, follow_redirects=False)
    assert api.client.get(f"/ui/cases/{CASE}").status_code == 200
    assert api.client.get(f"/ui/letters/{a_letter(api)}").status_code == 200
    assert [(e["what"], e["via"], e["role"]) for e in entries(api)] == [
        ("case_timeline", "ui", "caseworker"), ("letter", "ui", "caseworker")]


def test_old_entries_are_dropped_and_lists_expire(clock: SimulatedClock) -> None:
    """Entries past NOTIFIER_ACCESS_LOG_RETENTION_DAYS leave the head of the list at the
    next write, and a list expires with its newest entry."""
    import fakeredis

    client = fakeredis.FakeRedis()
    log = AccessLog(client, clock, retention_days=30)
    log.record(principal="anna", role="caseworker", case_id="C1", what="letter", via=Via.API)
    clock.advance(timedelta(days=31))
    log.record(principal="anna", role="caseworker", case_id="C1", what="document",
               via=Via.API)
    assert [e["what"] for e in log.for_case("C1")] == ["document"]
    assert [e["what"] for e in log.for_user("anna")] == ["document"]
    assert 29 * 86400 < client.ttl(CASE_KEY + "C1") <= 30 * 86400


def test_cli_case_and_access_log_export(api: Api, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """``notifier case`` logs a cli read with its --purpose under the login name;
    ``notifier access-log CASE`` exports (CSV, JSON) and is logged; ``--user`` exports a
    user's reads."""
    monkeypatch.setattr("notifier.api.commands.stored_runtime", lambda settings: api.runtime)
    monkeypatch.setattr("notifier.records.access_log.cli_user", lambda: "ole")
    assert main(["case", CASE, "--purpose", "tilsyn"]) == 0
    capsys.readouterr()
    assert main(["access-log", CASE, "--format", "json"]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert [(e["principal"], e["role"], e["via"], e["what"], e.get("purpose"))
            for e in exported] == [("ole", "shell", "cli", "case_timeline", "tilsyn")]
    assert main(["access-log", "--user", "ole"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["what"] for r in rows] == ["case_timeline", "access_log"]
    assert main(["access-log"]) == 2  # neither a case nor --user


def test_cli_read_whose_entry_no_replica_confirms_shows_nothing(
        api: Api, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Given no replica confirming, ``notifier case`` exits 4 with one line naming Redis
    as unavailable (no traceback), and prints no case data."""
    monkeypatch.setattr("notifier.api.commands.stored_runtime", lambda settings: api.runtime)
    api.runtime.store.durability = NoReplica(1)
    assert main(["case", CASE]) == 4
    out, err = capsys.readouterr()
    assert "Mette Hansen" not in out and CASE not in out
    assert err.startswith("notifier: Redis unavailable") and "Traceback" not in err
