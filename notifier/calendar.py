"""The Danish calendar: working days, bank days, holidays, send windows and deadline arithmetic.

The only module that does date arithmetic. Conventions (RULES.md, "Calendar"):
- a working day is Monday-Friday except public holidays and the extra closed days
  (5 June, 24 and 31 December by default);
- a bank day is a working day that is not the Friday after Ascension Day;
- counting never includes the start day; "N days after" is N calendar days later;
- citizen deadlines roll forward to a working day, municipal deadlines roll back.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays

HolidayTable = Callable[[int], Mapping[date, str]]

# The public holidays every Danish year has (lov om helligdagsfred, § 1; Store bededag left
# the list from 2024 by lov nr. 140 af 28. februar 2023). A year whose table lacks any of them
# is missing data, and counting working days over it would silently be wrong.
REQUIRED_HOLIDAYS = frozenset({
    "Nytårsdag", "Skærtorsdag", "Langfredag", "Påskedag", "Anden påskedag",
    "Kristi himmelfartsdag", "Pinsedag", "Anden pinsedag", "Juledag", "Anden juledag",
})


class HolidayDataMissing(LookupError):
    """The holiday table has no (or incomplete) data for a year: refuse to count over it."""


class Unit(StrEnum):
    DAYS = "days"
    WEEKS = "weeks"
    MONTHS = "months"
    WORKING_DAYS = "working_days"
    BANK_DAYS = "bank_days"


class Roll(StrEnum):
    """Where a date that is not a working day goes."""

    NONE = "none"
    FORWARD = "forward"
    BACK = "back"


_OFFSET = re.compile(r"^\s*([+-]?\d{1,4})\s+([a-z_]+)\s*$")
_SINGULAR = {"day": "days", "week": "weeks", "month": "months", "working_day": "working_days",
             "bank_day": "bank_days"}


@dataclass(frozen=True)
class Offset:
    """A signed count of calendar units, e.g. ``-3 working_days`` or ``8 days``."""

    n: int
    unit: Unit

    @classmethod
    def parse(cls, text: str) -> Offset:
        match = _OFFSET.match(text)
        if not match:
            raise ValueError(f"{text!r} is not an offset like '8 days' or '-3 working_days'")
        unit = _SINGULAR.get(match[2], match[2])
        if unit not in Unit.__members__.values():
            allowed = ", ".join(u.value for u in Unit)
            raise ValueError(f"{match[2]!r} is not a unit (use one of: {allowed})")
        return cls(int(match[1]), Unit(unit))

    def __str__(self) -> str:
        return f"{self.n} {self.unit.value}"


@dataclass(frozen=True)
class ClosedDays:
    """Closures on top of the public holidays: fixed (month, day) pairs, and bank-only ones."""

    fixed: tuple[tuple[int, int], ...] = ((6, 5), (12, 24), (12, 31))
    friday_after_ascension_closes_banks: bool = True


class DanishCalendar:
    def __init__(
        self,
        zone: ZoneInfo,
        *,
        closed: ClosedDays | None = None,
        window_start: time = time(8, 0),
        window_end: time = time(17, 0),
        holiday_table: HolidayTable | None = None,
        postal_days: int = 5,
    ) -> None:
        if window_start >= window_end:
            raise ValueError("the send window must start before it ends")
        self._table = holiday_table or danish_public_holidays
        self._checked: dict[int, Mapping[date, str]] = {}
        self.zone = zone
        self.closed = closed or ClosedDays()
        self.window_start = window_start
        self.window_end = window_end
        self.postal_days = postal_days  # working days a paper letter takes (RULES.md)

    def receipt_date(self, send_date: date, *, by_post: bool) -> date:
        """When the recipient has the letter: Digital Post on the send date (lov om Digital
        Post § 10), paper post ``postal_days`` working days later (RULES.md "Receipt date")."""
        if not by_post:
            return send_date
        return self._count(send_date, self.postal_days, self.is_working_day)

    def posted_for(self, instant: datetime, *, by_post: bool) -> datetime:
        """When to post a paper letter so that it arrives on the local date of ``instant``
        (same local time): ``postal_days`` working days earlier."""
        if not by_post:
            return instant
        local = self.local(instant)
        day = self._count(local.date(), -self.postal_days, self.is_working_day)
        return self.at_local(day, local.time())

    # --- days -------------------------------------------------------------------------
    def public_holidays(self, year: int) -> Mapping[date, str]:
        """The year's public holidays; raises HolidayDataMissing if the table lacks any."""
        if year not in self._checked:
            table = self._table(year)
            missing = REQUIRED_HOLIDAYS - set(table.values())
            if missing:
                names = ", ".join(sorted(missing))
                raise HolidayDataMissing(f"no holiday data for {year}: missing {names}")
            self._checked[year] = table
        return self._checked[year]

    def holiday_name(self, day: date) -> str | None:
        name = self.public_holidays(day.year).get(day)
        if name:
            return str(name)
        if (day.month, day.day) in self.closed.fixed:
            return _FIXED_NAMES.get((day.month, day.day), "lukkedag")
        return None

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and self.holiday_name(day) is None

    def is_bank_day(self, day: date) -> bool:
        if not self.is_working_day(day):
            return False
        if self.closed.friday_after_ascension_closes_banks:
            return day != self._ascension(day.year) + timedelta(days=1)
        return True

    def _ascension(self, year: int) -> date:
        for day, name in self.public_holidays(year).items():
            if name == "Kristi himmelfartsdag":
                return day
        raise AssertionError(year)  # pragma: no cover - public_holidays checked it

    def roll(self, day: date, direction: Roll) -> date:
        """Move a non-working day to the next (forward) or previous (back) working day."""
        if direction is Roll.NONE:
            return day
        step = timedelta(days=1 if direction is Roll.FORWARD else -1)
        while not self.is_working_day(day):
            day += step
        return day

    def add(self, day: date, offset: Offset) -> date:
        """``day`` moved by ``offset``; the start day itself is never counted."""
        match offset.unit:
            case Unit.DAYS:
                return day + timedelta(days=offset.n)
            case Unit.WEEKS:
                return day + timedelta(weeks=offset.n)
            case Unit.MONTHS:
                return _add_months(day, offset.n)
            case Unit.WORKING_DAYS:
                return self._count(day, offset.n, self.is_working_day)
            case Unit.BANK_DAYS:
                return self._count(day, offset.n, self.is_bank_day)
        raise AssertionError(offset.unit)  # pragma: no cover - exhaustive match

    def _count(self, day: date, n: int, counts: Callable[[date], bool]) -> date:
        step = timedelta(days=1 if n >= 0 else -1)
        remaining = abs(n)
        while remaining:
            day += step
            if counts(day):
                remaining -= 1
        return day

    def working_days(self, start: date, end: date) -> Iterable[date]:
        """Working days in ``[start, end]``."""
        day = start
        while day <= end:
            if self.is_working_day(day):
                yield day
            day += timedelta(days=1)

    # --- instants ---------------------------------------------------------------------
    def local(self, instant: datetime) -> datetime:
        return instant.astimezone(self.zone)

    def local_date(self, instant: datetime) -> date:
        return self.local(instant).date()

    def at_local(self, day: date, clock_time: time) -> datetime:
        """The UTC instant of a local wall-clock time on ``day`` (DST-aware)."""
        return datetime.combine(day, clock_time, tzinfo=self.zone).astimezone(UTC)

    def in_send_window(self, instant: datetime) -> bool:
        local = self.local(instant)
        return (
            self.is_working_day(local.date())
            and self.window_start <= local.time() < self.window_end
        )

    def send_window(self, earliest: datetime) -> datetime:
        """The first instant at or after ``earliest`` inside the send window.

        The window is half-open, [start, end): a letter due at 17:00 waits for the next
        working morning.
        """
        if self.in_send_window(earliest):
            return earliest.astimezone(UTC)
        local = self.local(earliest)
        day = local.date()
        if not (self.is_working_day(day) and local.time() < self.window_start):
            day = self.roll(day + timedelta(days=1), Roll.FORWARD)
        return self.at_local(day, self.window_start)


_FIXED_NAMES = {(6, 5): "Grundlovsdag", (12, 24): "Juleaftensdag", (12, 31): "Nytårsaftensdag"}


@lru_cache(maxsize=256)
def danish_public_holidays(year: int) -> Mapping[date, str]:
    """Denmark's public holidays for ``year`` from the `holidays` package, which computes
    them by rule (Easter and the days that follow it), so every year has data."""
    # Public category only: Store bededag is gone from 2024 (the package knows).
    return dict(holidays.country_holidays("DK", years=year, language="da").items())


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    first_of_next = date(year + (month == 12), month % 12 + 1, 1)
    last = (first_of_next - timedelta(days=1)).day
    return date(year, month, min(day.day, last))
