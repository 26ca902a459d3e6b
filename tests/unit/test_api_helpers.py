"""Shared set-up for the API unit tests (no tests in here): an app on fakeredis with a
simulated clock, the two tokens it accepts, and a way to deliver due letters in-thread."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import fakeredis
from fastapi.testclient import TestClient

from notifier.api.app import create_app
from notifier.api.auth import hash_token
from notifier.clock import SimulatedClock
from notifier.runtime import Runtime, build_runtime
from notifier.settings import load_settings
from tests.conftest import BASE_OPEN

SYSTEM_TOKEN = "unit-system-token-abcdefghijklmnopqrstuvwxyz"
CASEWORKER_TOKEN = "unit-caseworker-token-abcdefghijklmnopqrstu"
TOKENS = (f"system:case-system:{hash_token(SYSTEM_TOKEN)},"
          f"caseworker:anna:{hash_token(CASEWORKER_TOKEN)}")
SYSTEM = {"Authorization": f"Bearer {SYSTEM_TOKEN}"}
CASEWORKER = {"Authorization": f"Bearer {CASEWORKER_TOKEN}"}
CASE = BASE_OPEN["case_id"]
BASE = "https://testserver"  # the session cookie is Secure (issue 17)


@dataclass
class Api:
    runtime: Runtime
    client: TestClient
    clock: SimulatedClock

    def open_case(self, **changes: Any) -> dict[str, Any]:
        raw = copy.deepcopy(BASE_OPEN)
        raw["data"].update(changes.pop("data", {}))
        raw.update(changes)
        response = self.client.post("/events", json=raw, headers=SYSTEM)
        assert response.status_code == 202, response.text
        return raw

    def event(self, event_id: str, type_: str, occurred_at: str, data: dict[str, Any],
              case_id: str = CASE) -> Any:
        return self.client.post("/events", headers=SYSTEM, json={
            "event_id": event_id, "type": type_, "case_id": case_id,
            "occurred_at": occurred_at, "data": data})

    def deliver_due(self) -> list[str]:
        """What a dispatcher tick would claim, delivered here in this thread."""
        now = self.clock.now()
        ids = self.runtime.store.claim_due(now, now + timedelta(minutes=5), 1000)
        for letter_id in ids:
            self.runtime.deliverer.deliver(letter_id)
        return ids

    def letters(self) -> list[dict[str, Any]]:
        response = self.client.get(f"/cases/{CASE}", headers=CASEWORKER)
        assert response.status_code == 200, response.text
        letters: list[dict[str, Any]] = response.json()["letters"]
        return letters


def make_api(tmp_path: Path, clock: SimulatedClock, server: fakeredis.FakeServer | None = None,
             **overrides: Any) -> Api:
    settings = load_settings(outbox_dir=tmp_path / "outbox", api_tokens=TOKENS, **overrides)
    client = fakeredis.FakeRedis(server=server or fakeredis.FakeServer())
    runtime = build_runtime(settings, clock=clock, client=client)
    return Api(runtime, TestClient(create_app(runtime), base_url=BASE), clock)
