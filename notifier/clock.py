"""The only place that reads the wall clock. Everything else is handed a Clock."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class SimulatedClock:
    """A settable clock for the demo, the dry-run planner and tests. Never moves by itself."""

    def __init__(self, start: datetime) -> None:
        self._now = _as_utc(start)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, instant: datetime) -> None:
        with self._lock:
            self._now = _as_utc(instant)

    def advance(self, delta: timedelta) -> None:
        with self._lock:
            self._now += delta


def _as_utc(instant: datetime) -> datetime:
    if instant.tzinfo is None:
        raise ValueError("clock instants must be timezone-aware")
    return instant.astimezone(UTC)
