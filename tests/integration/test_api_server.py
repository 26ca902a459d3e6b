"""The API as a real process beside real workers: `notifier api`, `notifier scheduler` and
`notifier worker` as separate processes on a real redis-server, and `notifier serve`."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import start_notifier
from tests.integration.test_api_helpers import (
    CASEWORKER,
    CASEWORKER_TOKEN,
    SYSTEM,
    SYSTEM_TOKEN,
    ApiProcess,
    base_env,
    opening,
    wait_for,
)

pytestmark = pytest.mark.integration


def metric(text: str, name: str, labels: str = "") -> float:
    match = re.search(rf"^{re.escape(name + labels)} (\S+)$", text, re.MULTILINE)
    return float(match[1]) if match else 0.0


def test_api_process_sees_what_other_processes_did(redis_url: str, tmp_path: Path) -> None:
    """Given the API, a scheduler and a worker as three processes on one Redis, when an
    ad-hoc letter is posted to the API for immediate sending, then the worker sends it,
    and the API's /metrics and /healthz report the send and the dispatcher's heartbeat,
    which happened in the other processes."""
    env = base_env(tmp_path / "outbox", NOTIFIER_REDIS_URL=redis_url)
    api = ApiProcess(["api"], env, tmp_path / "api.log")
    others = [start_notifier([part], env, tmp_path / f"{part}.log")
              for part in ("scheduler", "worker")]
    try:
        case = "SDP-IT-API-1"
        opened = httpx.post(api.url + "/events", json=opening(case), headers=SYSTEM, timeout=30)
        assert opened.status_code == 202, opened.text
        letter = httpx.post(f"{api.url}/cases/{case}/letters", headers=CASEWORKER, timeout=30,
                            json={"kind": "adhoc", "paragraphs": ["Hej"], "immediate": True})
        assert letter.status_code == 201, letter.text
        letter_id = letter.json()["letter"]["letter_id"]

        def status() -> str:
            view = httpx.get(f"{api.url}/letters/{letter_id}", headers=CASEWORKER, timeout=30)
            return str(view.json()["status"])

        wait_for(lambda: status() == "sent")
        text = httpx.get(api.url + "/metrics", headers=CASEWORKER, timeout=30).text
        assert metric(text, "notifier_letters_sent_total",
                      '{channel="digital_post",kind="adhoc"}') == 1
        assert metric(text, "notifier_letter_due_lag_seconds_count") >= 1
        assert metric(text, "notifier_dispatcher_tick_seconds") > 0
        health = httpx.get(api.url + "/healthz", timeout=30).json()
        assert health["status"] == "ok" and health["redis"] is True
        document = httpx.get(f"{api.url}/letters/{letter_id}/document", headers=CASEWORKER,
                             timeout=30)
        assert document.status_code == 200 and "Hej" in document.text
    finally:
        codes = [api.stop()]
        for process in others:
            process.terminate()
            codes.append(process.wait(30))
    assert codes == [0, 0, 0]
    logs = "".join(p.read_text() for p in tmp_path.glob("*.log"))
    for secret in ("0706851234", SYSTEM_TOKEN, CASEWORKER_TOKEN):
        assert secret not in logs


def test_serve_runs_the_api_with_the_same_flags(redis_url: str, tmp_path: Path) -> None:
    """`notifier serve --host --port` serves the API beside its dispatcher and worker:
    the health check sees the in-process dispatcher's heartbeat, and SIGTERM stops all."""
    env = base_env(tmp_path / "outbox", NOTIFIER_REDIS_URL=redis_url)
    serve = ApiProcess(["serve"], env, tmp_path / "serve.log")
    try:
        wait_for(lambda: httpx.get(serve.url + "/healthz", timeout=30).json()["status"] == "ok")
        assert httpx.get(serve.url + "/docs", timeout=30).status_code == 307  # to /ui/docs
        assert httpx.get(serve.url + "/openapi.json", timeout=30).status_code == 401
        assert httpx.get(serve.url + "/openapi.json", headers=SYSTEM, timeout=30
                         ).json()["info"]["title"] == "notifier"
    finally:
        assert serve.stop() == 0
    assert "api.listening" in serve.log.read_text()
