"""Shared set-up for the API's integration and browser tests (no tests in here).

A real `notifier serve` / `notifier api` process on a free loopback port, the tokens it
accepts, and events dated relative to the real clock (the process runs on SystemClock).
"""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from tests.conftest import BASE_OPEN
from tests.integration.conftest import free_port, start_notifier
from tests.support import processes
from tests.unit.test_api_helpers import (
    CASEWORKER,
    CASEWORKER_TOKEN,
    SYSTEM,
    SYSTEM_TOKEN,
    TOKENS,
)

CPH = ZoneInfo("Europe/Copenhagen")
__all__ = ["CASEWORKER", "CASEWORKER_TOKEN", "SYSTEM", "SYSTEM_TOKEN", "TOKENS",  # the unit
           "ApiProcess", "base_env", "meeting", "now_local", "opening", "wait_for"]  # tier's


def base_env(outbox: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("NOTIFIER_")}
    env.update(NOTIFIER_OUTBOX_DIR=str(outbox), NOTIFIER_LOG_FORMAT="json",
               NOTIFIER_API_TOKENS=TOKENS, NOTIFIER_DISPATCH_INTERVAL="0.2", **extra)
    return env


class ApiProcess:
    """`notifier ARGS --port P` until stop(); ready once /healthz answers and it logged
    '.started' (the API answers before the rest has started and the SIGTERM handler is in
    place: a stop() in between would be the default SIGTERM's kill)."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.process: subprocess.Popen[bytes] = start_notifier(
            [*args, "--host", "127.0.0.1", "--port", str(self.port)], env, log)
        self._wait_healthy()
        processes.wait_for_line(log, ".started", timeout=60)

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"notifier exited early:\n{self.log.read_text()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"no /healthz within 60 s:\n{self.log.read_text()}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(30)


def now_local() -> datetime:
    return datetime.now(CPH).replace(microsecond=0)


def opening(case_id: str, event_id: str = "evt-open", **data: Any) -> dict[str, Any]:
    """A case opened now, first absence three days ago (dated by the real clock)."""
    raw = copy.deepcopy(BASE_OPEN)
    raw.update(event_id=f"{event_id}-{case_id}", case_id=case_id,
               occurred_at=now_local().isoformat())
    raw["data"]["first_absence_day"] = (now_local() - timedelta(days=3)).date().isoformat()
    raw["data"].update(data)
    return raw


def meeting(case_id: str, meeting_id: str = "mode-1", days_ahead: int = 10) -> dict[str, Any]:
    starts = (now_local() + timedelta(days=days_ahead)).replace(hour=10, minute=30, second=0)
    return {"event_id": f"evt-meeting-{case_id}", "type": "meeting_booked", "case_id": case_id,
            "occurred_at": (now_local() + timedelta(seconds=1)).isoformat(),
            "data": {"meeting_id": meeting_id, "starts_at": starts.isoformat(),
                     "form": "in_person", "location": "Jobcentret, mødelokale 2",
                     "with_employer": True}}


def wait_for(predicate: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.1)
