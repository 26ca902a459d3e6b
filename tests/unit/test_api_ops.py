"""/healthz and /metrics: read from Redis, so they report every process's work."""

from __future__ import annotations

import logging
import re
import socket
from datetime import timedelta
from pathlib import Path

import fakeredis
import pytest

from notifier.cli import main
from notifier.clock import SimulatedClock
from notifier.errors import PermanentError
from notifier.models import Receipt
from tests.conftest import local
from tests.unit.test_api_helpers import CASE, CASEWORKER, Api, make_api

ADHOC = {"kind": "adhoc", "paragraphs": ["Tekst"], "immediate": True}


class RefusingChannel:
    """A channel fake whose deliveries are refused for good (the letter goes dead)."""

    def __init__(self, real: object) -> None:
        self.name = real.name  # type: ignore[attr-defined]
        self.wants_pdf = False

    def deliver(self, outgoing: object) -> Receipt:
        raise PermanentError("the gateway refused the recipient")


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text format (0 if absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = re.escape(name) + (r"\{" + re.escape(wanted) + r"\}" if labels else "")
    match = re.search(rf"^{pattern} (\S+)$", text, re.MULTILINE)
    return float(match[1]) if match else 0.0


@pytest.fixture
def server() -> fakeredis.FakeServer:
    return fakeredis.FakeServer()


@pytest.fixture
def api(tmp_path: Path, clean_env: None, clock: SimulatedClock,
        server: fakeredis.FakeServer) -> Api:
    api = make_api(tmp_path, clock, server)
    api.open_case()
    return api


def test_health_reports_dispatcher_heartbeat_and_queue(api: Api) -> None:
    """Before any dispatcher tick the API is up but degraded; after one it is ok, with
    the heartbeat age and the depth of the letters queue."""
    before = api.client.get("/healthz").json()
    assert before["status"] == "degraded" and before["redis"] is True
    assert before["dispatcher_heartbeat_age_seconds"] is None
    assert api.runtime.dispatcher.tick().claimed == 1  # the information form, due now
    api.clock.advance(timedelta(seconds=3))
    after = api.client.get("/healthz").json()
    assert after["status"] == "ok" and after["dispatcher_heartbeat_age_seconds"] == 3.0
    assert after["queue_depth"] == 1 and after["inflight"] == 1


def test_health_is_503_when_redis_is_down(api: Api, server: fakeredis.FakeServer,
                                          caplog: pytest.LogCaptureFixture) -> None:
    """With Redis unreachable /healthz is 503, and other endpoints answer 503 too rather
    than crash with a 500."""
    # redis-py's debug log of a failed call trips over fakeredis's connection (a fake's
    # bug, not ours): keep that logger above debug whatever an earlier test configured.
    caplog.set_level(logging.INFO, logger="redis.client")
    server.connected = False
    health = api.client.get("/healthz")
    assert health.status_code == 503 and health.json() == {"status": "down", "redis": False}
    case = api.client.get(f"/cases/{CASE}", headers=CASEWORKER)
    assert case.status_code == 503 and "unavailable" in case.json()["detail"]
    server.connected = True


def test_metrics_count_across_processes(api: Api, tmp_path: Path, clock: SimulatedClock,
                                        server: fakeredis.FakeServer) -> None:
    """Letters sent, cancelled and dead through one runtime (a worker) are counted by
    kind and channel in /metrics of another runtime on the same Redis (the API), with
    the due-lag histogram of the sent letter and the dispatcher's tick duration."""
    worker = api
    reader = make_api(tmp_path / "reader", clock, server)
    worker.clock.set(local("2026-11-23 10:17"))  # the form goes out 2 minutes late
    form = next(x for x in worker.letters() if x["kind"] == "information_form")
    assert worker.runtime.dispatcher.tick().claimed == 1
    worker.runtime.deliverer.deliver(form["letter_id"])
    reassessment = next(x for x in worker.letters() if x["kind"] == "reassessment_due")
    worker.client.post(f"/letters/{reassessment['letter_id']}/cancel", headers=CASEWORKER)
    real = worker.runtime.channels
    worker.runtime.deliverer.channels = {**real, **{k: RefusingChannel(v)
                                                    for k, v in real.items()}}
    worker.client.post(f"/cases/{CASE}/letters", json=ADHOC, headers=CASEWORKER)
    worker.deliver_due()

    text = reader.client.get("/metrics", headers=CASEWORKER).text
    digital = {"channel": "digital_post"}
    assert metric(text, "notifier_letters_planned_total", kind="information_form",
                  **digital) == 1
    assert metric(text, "notifier_letters_sent_total", kind="information_form", **digital) == 1
    assert metric(text, "notifier_letters_cancelled_total", kind="reassessment_due",
                  channel="mail") == 1
    assert metric(text, "notifier_letters_dead_total", kind="adhoc", **digital) == 1
    assert metric(text, "notifier_letter_due_lag_seconds_bucket", le="60.0") == 0
    assert metric(text, "notifier_letter_due_lag_seconds_bucket", le="300.0") == 1
    assert metric(text, "notifier_letter_due_lag_seconds_count") == 1
    assert metric(text, "notifier_letter_due_lag_seconds_sum") == 120.0
    assert metric(text, "notifier_dispatcher_tick_seconds") > 0
    assert metric(text, "notifier_due_letters") == worker.runtime.store.due_count()


def test_dead_from_too_many_attempts_is_counted(api: Api) -> None:
    """A letter that dies because it was taken too often (a crashing worker) is counted
    as dead as well, by the same atomic step that marks it."""
    now = api.clock.now()
    [letter_id] = api.runtime.store.claim_due(now, now + timedelta(minutes=5), 10)
    assert api.runtime.store.begin_send(letter_id, now, max_attempts=0)[0].value == "dead"
    text = api.client.get("/metrics", headers=CASEWORKER).text
    assert metric(text, "notifier_letters_dead_total", kind="information_form",
                  channel="digital_post") == 1



def test_api_command_fails_clearly_when_the_port_is_taken(
        tmp_path: Path, clean_env: None, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """`notifier api` on a port another program holds exits 3 saying it could not listen,
    instead of running without its API."""
    monkeypatch.setenv("NOTIFIER_OUTBOX_DIR", str(tmp_path))
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        code = main(["api", "--port", str(port), "--host", "127.0.0.1"])
    assert code == 3
    assert f"could not listen on 127.0.0.1:{port}" in capsys.readouterr().err
