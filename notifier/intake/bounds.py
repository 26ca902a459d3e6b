"""Plausible dates: every date and date-time that comes in is checked here first (issue 17).

A date far outside the years this service works in (9999-12-31, 0001-01-01, an offset that
pushes an instant past ``datetime.max``) would otherwise reach the calendar's arithmetic and
overflow, or be stored and make every later event of its case a conflict. So input dates
lie in ``MIN_YEAR``..``MAX_YEAR``, and dates that look forward (a send time, a deadline, an
event, a receipt) at most ``YEARS_AHEAD`` calendar years after the Clock's now. Comparing
years is enough for a bound this coarse, and keeps date arithmetic in ``calendar.py``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from typing import Any, TypeVar

from notifier.errors import FieldError

MIN_YEAR = 2000
MAX_YEAR = 2100
YEARS_AHEAD = 5
D = TypeVar("D", bound=date)
RANGE = f"must lie in the years {MIN_YEAR}-{MAX_YEAR}"


def date_problem(value: date) -> str | None:
    """Why ``value`` (a date or an aware date-time) is out of range, or None."""
    if isinstance(value, datetime):
        try:
            value = value.astimezone(UTC)  # an offset can push it past datetime.max
        except (OverflowError, ValueError):
            return RANGE
    return None if MIN_YEAR <= value.year <= MAX_YEAR else RANGE


def check_date(value: D) -> D:
    """A pydantic after-validator: the value, or ValueError saying the range."""
    problem = date_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def horizon_errors(values: Mapping[str, Any], now: datetime, prefix: str = "",
                   years: int = YEARS_AHEAD) -> list[FieldError]:
    """Dates anywhere in ``values`` (nested dicts and lists, e.g. a model_dump) that lie
    more than ``years`` calendar years after ``now``, each naming its field."""
    limit = now.astimezone(UTC).year + years
    return [FieldError(prefix + path, f"must not be more than {years} years ahead "
                       f"(after {limit})")
            for path, value in _dates(values, "") if _year(value) > limit]


def _year(value: date) -> int:
    return value.astimezone(UTC).year if isinstance(value, datetime) else value.year


def _dates(value: Any, path: str) -> Iterator[tuple[str, date]]:
    if isinstance(value, date):
        yield path, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _dates(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _dates(item, f"{path}.{index}" if path else str(index))
