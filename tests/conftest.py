"""Shared fixtures: settings on a temporary outbox, a simulated clock, event builders."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import hypothesis
import pytest

from notifier.clock import SimulatedClock
from notifier.intake.events import Event, parse_event
from notifier.settings import Settings, load_settings
from tests.support.log_leak import pytest_runtest_makereport  # noqa: F401  (fails CPR in logs)

# Property tests judge results, not speed: a loaded CI machine (or a GC pause) must not
# fail one by Hypothesis's 200 ms deadline or its too-slow health check. Examples stay
# random; a failure prints the blob that replays it (@reproduce_failure).
hypothesis.settings.register_profile(
    "notifier", deadline=None, print_blob=True,
    suppress_health_check=[hypothesis.HealthCheck.too_slow])
hypothesis.settings.load_profile("notifier")

CPH = ZoneInfo("Europe/Copenhagen")
XSD_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "memo-1.1-xsd"

CITIZEN_CPR = "0706851234"
BASE_OPEN: dict[str, Any] = {
    "event_id": "evt-1",
    "type": "sick_leave_reported",
    "case_id": "SDP-2026-0042",
    "occurred_at": "2026-11-23T10:15:00+01:00",
    "data": {
        "first_absence_day": "2026-11-20",
        "citizen": {
            "cpr": CITIZEN_CPR,
            "name": "Mette Hansen",
            "address": {"street": "Vestergade 12", "postcode": "2630", "city": "Taastrup"},
            "digital_post": True,
        },
        "employer": {"cvr": "12345674", "name": "Bageriet Korn ApS"},
        "caseworker": {"id": "cw-1", "name": "Lise Jensen", "email": "lise@eksempel.dk"},
    },
}


def local(text: str) -> datetime:
    """A Copenhagen wall-clock time, e.g. local('2026-11-23 10:15')."""
    return datetime.fromisoformat(text).replace(tzinfo=CPH)


def opening_event(**changes: Any) -> Event:
    raw = copy.deepcopy(BASE_OPEN)
    data_changes = changes.pop("data", {})
    raw.update(changes)
    raw["data"].update(data_changes)
    return parse_event(raw)


def event(event_id: str, type_: str, occurred_at: str, data: dict[str, Any],
          case_id: str = "SDP-2026-0042") -> Event:
    return parse_event({"event_id": event_id, "type": type_, "case_id": case_id,
                        "occurred_at": occurred_at, "data": data})


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    import os

    for name in list(os.environ):
        if name.upper().startswith("NOTIFIER_"):
            monkeypatch.delenv(name)
    yield


@pytest.fixture
def settings(tmp_path: Path, clean_env: None) -> Settings:
    return load_settings(outbox_dir=tmp_path / "outbox")


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(local("2026-11-23 10:15"))
