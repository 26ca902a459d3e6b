"""Clocks: the system clock is aware UTC; the simulated clock is settable and never naive."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from notifier.clock import SimulatedClock, SystemClock

START = datetime(2026, 11, 23, 9, 15, tzinfo=UTC)


def test_simulated_clock_rejects_naive_start() -> None:
    """A naive start instant is refused."""
    with pytest.raises(ValueError, match="timezone-aware"):
        SimulatedClock(datetime(2026, 11, 23, 10, 15))


def test_simulated_clock_rejects_naive_set() -> None:
    """set() with a naive instant is refused and the clock keeps its time."""
    clock = SimulatedClock(START)
    with pytest.raises(ValueError, match="timezone-aware"):
        clock.set(datetime(2026, 12, 1, 8, 0))
    assert clock.now() == START


def test_simulated_clock_does_not_move_by_itself() -> None:
    """now() returns the start instant until told otherwise."""
    clock = SimulatedClock(START)
    assert clock.now() == START
    assert clock.now() == START


def test_simulated_clock_normalises_to_utc() -> None:
    """An aware non-UTC instant is stored as the same instant in UTC."""
    clock = SimulatedClock(datetime(2026, 11, 23, 10, 15, tzinfo=timezone(timedelta(hours=1))))
    now = clock.now()
    assert now == START
    assert now.tzinfo is UTC
    assert (now.hour, now.minute) == (9, 15)


def test_simulated_clock_set() -> None:
    """set() moves the clock to the given instant (forwards or backwards), in UTC."""
    clock = SimulatedClock(START)
    clock.set(datetime(2026, 12, 4, 9, 0, tzinfo=timezone(timedelta(hours=1))))
    assert clock.now() == datetime(2026, 12, 4, 8, 0, tzinfo=UTC)
    assert clock.now().tzinfo is UTC
    clock.set(datetime(2026, 1, 1, tzinfo=UTC))
    assert clock.now() == datetime(2026, 1, 1, tzinfo=UTC)


def test_simulated_clock_advance() -> None:
    """advance() adds the delta; successive advances accumulate."""
    clock = SimulatedClock(START)
    clock.advance(timedelta(days=8))
    assert clock.now() == datetime(2026, 12, 1, 9, 15, tzinfo=UTC)
    clock.advance(timedelta(hours=1, minutes=30))
    assert clock.now() == datetime(2026, 12, 1, 10, 45, tzinfo=UTC)
    assert clock.now().tzinfo is UTC


def test_system_clock_is_aware_utc() -> None:
    """SystemClock.now() is timezone-aware UTC and close to the real time."""
    before = datetime.now(UTC)
    now = SystemClock().now()
    after = datetime.now(UTC)
    assert now.tzinfo is not None
    assert now.utcoffset() == timedelta(0)
    assert before <= now <= after
