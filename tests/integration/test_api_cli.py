"""CLI parity on a real redis-server: `notifier event`, `send`, `cancel` and `case` act on
the shared store through the functions the API calls, so they accept, refuse and word
things as the API does. The API here is the app in-process on the same Redis."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from notifier.api.app import create_app
from notifier.cli import main
from notifier.runtime import build_runtime
from notifier.settings import load_settings
from tests.integration.test_api_helpers import (
    CASEWORKER,
    SYSTEM,
    SYSTEM_TOKEN,
    TOKENS,
    ApiProcess,
    base_env,
    opening,
)

pytestmark = pytest.mark.integration
CASE = "SDP-IT-CLI-1"


@pytest.fixture
def env(redis_url: str, tmp_path: Path, clean_env: None,
        monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {"NOTIFIER_REDIS_URL": redis_url, "NOTIFIER_OUTBOX_DIR": str(tmp_path / "out"),
              "NOTIFIER_API_TOKENS": TOKENS, "NOTIFIER_LOG_LEVEL": "warning"}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


@pytest.fixture
def api(env: dict[str, str]) -> TestClient:
    return TestClient(create_app(build_runtime(load_settings())))


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


def write_events(path: Path, *events: dict[str, Any]) -> str:
    path.write_text("\n".join(json.dumps(e) for e in events) + "\n", encoding="utf-8")
    return str(path)


def test_event_command_applies_and_deduplicates(env: dict[str, str], tmp_path: Path,
                                                api: TestClient,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """`notifier event FILE` applies JSON lines (accepted, then duplicate), and the case
    is then visible through the API."""
    path = write_events(tmp_path / "events.jsonl", opening(CASE))
    code, out, _ = run(capsys, "event", path)
    assert code == 0 and [r["outcome"] for r in lines(out)] == ["accepted"]
    code, out, _ = run(capsys, "event", path)
    assert code == 0 and [r["outcome"] for r in lines(out)] == ["duplicate"]
    assert api.get(f"/cases/{CASE}", headers=CASEWORKER).json()["status"] == "open"


def test_event_errors_match_the_api(env: dict[str, str], tmp_path: Path, api: TestClient,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    """The same malformed event is refused by both with the same field and message (the
    CLI locates it by line, the API by list index), and neither stores anything."""
    bad = copy.deepcopy(opening(CASE))
    bad["data"]["citizen"]["cpr"] = "3213991234"
    path = write_events(tmp_path / "bad.jsonl", opening("SDP-IT-CLI-2"), bad)
    code, _, err = run(capsys, "event", path)
    response = api.post("/events", json=[opening("SDP-IT-CLI-2"), bad], headers=SYSTEM)
    [error] = response.json()["errors"]
    assert code == 2 and response.status_code == 422
    assert error["field"] == "[1].data.citizen.cpr"
    assert f"line 2: data.citizen.cpr: {error['message']}" in err
    assert api.get("/cases/SDP-IT-CLI-2", headers=CASEWORKER).status_code == 404


def test_send_cancel_and_case_match_the_api(env: dict[str, str], tmp_path: Path,
                                            api: TestClient,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """`send` creates the letter once, `cancel` cancels it, and `case --json` prints
    exactly what GET /cases returns; refusals carry the API's messages."""
    api.post("/events", json=opening(CASE), headers=SYSTEM)
    data = json.dumps({"paragraphs": ["Hej fra kommandolinjen"], "subject": "Test"})
    code, out, _ = run(capsys, "send", "adhoc", "--case", CASE, "--data", data)
    [created] = lines(out)
    assert code == 0 and created["outcome"] == "created"
    assert created["letter"]["cause"] == "cli"
    code, out, _ = run(capsys, "send", "adhoc", "--case", CASE, "--data", data)
    assert lines(out)[0]["outcome"] == "duplicate"

    code, _, err = run(capsys, "send", "meeting_summons", "--case", CASE)
    refused = api.post(f"/cases/{CASE}/letters", json={"kind": "meeting_summons"},
                       headers=CASEWORKER)
    assert code == 2 and refused.json()["detail"] in err

    letter_id = created["letter"]["letter_id"]
    code, out, _ = run(capsys, "cancel", letter_id, "--reason", "prøve")
    assert code == 0 and lines(out)[0]["outcome"] == "cancelled"
    code, out, _ = run(capsys, "cancel", letter_id)
    assert lines(out)[0]["outcome"] == "already_cancelled"
    code, _, err = run(capsys, "cancel", "00000000-0000-4000-8000-000000000000")
    assert code == 2 and "letter_id: unknown letter" in err

    code, out, _ = run(capsys, "case", CASE, "--json")
    assert code == 0
    assert json.loads(out) == api.get(f"/cases/{CASE}", headers=CASEWORKER).json()
    code, out, _ = run(capsys, "case", CASE)
    assert letter_id in out and "cancelled" in out and "0706851234" not in out


def test_commands_refuse_the_embedded_store(clean_env: None,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """Without NOTIFIER_REDIS_URL these commands would act on an empty, forgotten store:
    they refuse (exit 3) saying so."""
    for args in (["case", CASE], ["cancel", "00000000-0000-4000-8000-000000000000"],
                 ["send", "adhoc", "--case", CASE, "--data", '{"paragraphs": ["x"]}']):
        code, _, err = run(capsys, *args)
        assert code == 3 and "NOTIFIER_REDIS_URL is not set" in err


def test_event_command_posts_to_a_running_api(redis_url: str, tmp_path: Path,
                                              clean_env: None,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """`notifier event FILE --api URL --token-file F` goes through the HTTP API; the
    API's refusal comes back as the same exit code and message."""
    server = ApiProcess(["api"], base_env(tmp_path / "outbox", NOTIFIER_REDIS_URL=redis_url),
                        tmp_path / "api.log")
    try:
        token = tmp_path / "token"
        token.write_text(SYSTEM_TOKEN + "\n", encoding="utf-8")
        path = write_events(tmp_path / "events.jsonl", opening("SDP-IT-CLI-3"))
        code, out, _ = run(capsys, "event", path, "--api", server.url, "--token-file", str(token))
        assert code == 0 and lines(out)[0]["outcome"] == "accepted"
        case = httpx.get(f"{server.url}/cases/SDP-IT-CLI-3", headers=CASEWORKER, timeout=30)
        assert case.status_code == 200
        closed = write_events(tmp_path / "again.jsonl", opening("SDP-IT-CLI-3", event_id="x"))
        code, _, err = run(capsys, "event", closed, "--api", server.url,
                           "--token-file", str(token))
        assert code == 2 and "a case with this id is already open" in err
    finally:
        assert server.stop() == 0


def test_receipt_file_is_all_or_nothing(env: dict[str, str], tmp_path: Path, api: TestClient,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    """Given a receipts file whose first line is good and whose second names a letter
    never handed over, `notifier receipt` on the shared Redis exits 2 naming line 2 and
    records nothing; the good line alone is then recorded (review of the merge)."""
    from notifier.clock import SystemClock
    from notifier.models import Status

    api.post("/events", json=opening(CASE), headers=SYSTEM)
    runtime = build_runtime(load_settings())
    sent, pending, *_ = [x for x in runtime.store.case_letters(CASE).values()
                         if x.channel.value == "digital_post"]
    now = SystemClock().now()
    assert runtime.store.transition(sent, (Status.SCHEDULED,), Status.SENT, now)

    def line(letter_id: str) -> str:
        return json.dumps({"message_uuid": letter_id, "status": "delivered",
                           "received_at": now.isoformat()})

    path = tmp_path / "receipts.jsonl"
    path.write_text(line(sent.letter_id) + "\n" + line(pending.letter_id) + "\n")
    code, _, err = run(capsys, "receipt", str(path))
    assert code == 2 and "line 2" in err and "never handed over" in err
    assert runtime.store.letter(sent.letter_id).receipt_status is None  # type: ignore[union-attr]
    path.write_text(line(sent.letter_id) + "\n")
    code, out, _ = run(capsys, "receipt", str(path))
    assert code == 0 and lines(out)[0]["outcome"] == "recorded"
    assert runtime.store.letter(sent.letter_id).receipt_status == "delivered"  # type: ignore[union-attr]


def test_release_command_sends_a_held_stop(env: dict[str, str], api: TestClient,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """Given a stop decision held because its meeting's summons was suppressed by standby,
    `notifier release` schedules it with an audit entry naming the CLI user; a second
    release reports already_released, and a letter that was never held is refused with
    the API's words (issue 11 left this path without a CLI test)."""
    from tests.integration.test_api_helpers import now_local

    def at(seconds: int) -> str:
        return (now_local() + timedelta(seconds=seconds)).isoformat()

    starts = (now_local() + timedelta(days=3)).replace(hour=10, minute=0, second=0)
    steps = [opening(CASE),
             {"event_id": "evt-sb", "type": "standby_granted", "case_id": CASE,
              "occurred_at": at(1), "data": {"decided_on": now_local().date().isoformat()}},
             {"event_id": "evt-bk", "type": "meeting_booked", "case_id": CASE,
              "occurred_at": at(2), "data": {"meeting_id": "m-1", "form": "phone",
                                             "starts_at": starts.isoformat(),
                                             "with_employer": False}},
             {"event_id": "evt-st", "type": "decision_made", "case_id": CASE,
              "occurred_at": at(3), "data": {
                  "decision_id": "d-1", "title": "Afgørelse om stop", "outcome": "stopped",
                  "decision_text": "Dine sygedagpenge stopper.", "reasoning": "Du kom ikke.",
                  "legal_basis": ["Sygedagpengeloven § 21"],
                  "stop_reason": "non_cooperation", "meeting_id": "m-1"}}]
    assert api.post("/events", json=steps, headers=SYSTEM).status_code == 202
    letters = api.get(f"/cases/{CASE}", headers=CASEWORKER).json()["letters"]
    [held] = [x for x in letters if x["status"] == "held"]
    capsys.readouterr()  # the API's request log, not the command's output
    code, out, _ = run(capsys, "release", held["letter_id"], "--reason", "ringet op")
    assert code == 0 and lines(out)[0]["outcome"] == "released"
    assert lines(out)[0]["letter"]["status"] == "scheduled"
    code, out, _ = run(capsys, "release", held["letter_id"])
    assert code == 0 and lines(out)[0]["outcome"] == "already_released"
    other = next(x for x in letters if x["status"] == "scheduled")
    code, _, err = run(capsys, "release", other["letter_id"])
    assert "only a held letter" in err
    refused = api.post(f"/letters/{other['letter_id']}/release", headers=CASEWORKER)
    assert code == 2 and refused.status_code == 409
    audit = runtime_audit(CASE)
    assert any(e["what"] == "scheduled" and "released" in json.dumps(e) for e in audit)


def runtime_audit(case_id: str) -> list[dict[str, Any]]:
    return build_runtime(load_settings()).store.audit(case_id)
