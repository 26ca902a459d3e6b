"""The Danish calendar: holidays, rolling, offsets and the send window (RULES.md, "Calendar").

Every expected date in the tables below was checked by hand against a printed calendar
(Easter Sunday 2026-04-05, 2027-03-28; Ascension 2026-05-14, 2027-05-06; DST starts
2026-03-29 and ends 2026-10-25 in Europe/Copenhagen).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notifier.calendar import (
    REQUIRED_HOLIDAYS,
    DanishCalendar,
    HolidayDataMissing,
    Offset,
    Roll,
    Unit,
)

CPH = ZoneInfo("Europe/Copenhagen")
CAL = DanishCalendar(CPH)

# Keep generated dates where the holidays package and our hand checks are meaningful.
DATES = st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31))
INSTANTS = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
)
PROPS = settings(deadline=None, max_examples=300)


def local(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    """A Copenhagen wall-clock instant (aware)."""
    return datetime(y, m, d, hh, mm, tzinfo=CPH)


# --- working days and holidays ---------------------------------------------------------

NON_WORKING = [
    # 2026
    (date(2026, 1, 1), "Nytårsdag (Thursday)"),
    (date(2026, 4, 2), "Skærtorsdag"),
    (date(2026, 4, 3), "Langfredag"),
    (date(2026, 4, 6), "2. påskedag"),
    (date(2026, 5, 14), "Kristi himmelfartsdag"),
    (date(2026, 5, 25), "2. pinsedag"),
    (date(2026, 6, 5), "Grundlovsdag (Friday)"),
    (date(2026, 12, 24), "Juleaftensdag (Thursday)"),
    (date(2026, 12, 25), "Juledag (Friday)"),
    (date(2026, 12, 26), "2. juledag (Saturday)"),
    (date(2026, 12, 31), "Nytårsaftensdag (Thursday)"),
    # 2027
    (date(2027, 1, 1), "Nytårsdag (Friday)"),
    (date(2027, 3, 25), "Skærtorsdag"),
    (date(2027, 3, 26), "Langfredag"),
    (date(2027, 3, 29), "2. påskedag"),
    (date(2027, 5, 6), "Kristi himmelfartsdag"),
    (date(2027, 5, 17), "2. pinsedag"),
    (date(2027, 6, 5), "Grundlovsdag (Saturday)"),
    (date(2027, 12, 24), "Juleaftensdag (Friday)"),
    (date(2027, 12, 25), "Juledag (Saturday)"),
    (date(2027, 12, 26), "2. juledag (Sunday)"),
    (date(2027, 12, 31), "Nytårsaftensdag (Friday)"),
    # Store bededag still existed in 2023 (4th Friday after Easter 2023-04-09).
    (date(2023, 5, 5), "Store bededag 2023"),
]


def gregorian_easter(year: int) -> date:
    """Easter Sunday by the anonymous Gregorian algorithm (Meeus/Jones/Butcher): an oracle
    independent of the `holidays` package."""
    a, b, c = year % 19, year // 100, year % 100
    d, e = divmod(b, 4)
    g = (8 * b + 13) // 25
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    el = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * el) // 451
    month, day = divmod(h + el - 7 * m + 114, 31)
    return date(year, month, day + 1)


@pytest.mark.parametrize(("year", "easter", "ascension", "whit_monday"), [
    (2031, date(2031, 4, 13), date(2031, 5, 22), date(2031, 6, 2)),
    (2035, date(2035, 3, 25), date(2035, 5, 3), date(2035, 5, 14)),
])
def test_holidays_years_ahead_match_hand_checked_dates(
        year: int, easter: date, ascension: date, whit_monday: date) -> None:
    """Easter 2031 and 2035 (hand-checked against published Easter tables) and the
    holidays that hang on it are closed days, years past any table loaded today."""
    table = CAL.public_holidays(year)
    assert table[easter] == "Påskedag"
    assert table[ascension] == "Kristi himmelfartsdag"
    assert table[whit_monday] == "Anden pinsedag"
    assert not CAL.is_working_day(easter - timedelta(days=2))  # Langfredag
    assert not CAL.is_bank_day(ascension + timedelta(days=1))  # the Friday after


@pytest.mark.parametrize("year", range(2000, 2101))
def test_every_year_the_service_may_run_in_has_complete_holidays(year: int) -> None:
    """Every year from 2000 to 2100 has all ten public holidays, with Easter
    where an independent algorithm puts it; so no year counts holidays as working days."""
    table = CAL.public_holidays(year)
    assert set(table.values()) >= REQUIRED_HOLIDAYS
    assert table[gregorian_easter(year)] == "Påskedag"


def test_a_year_without_holiday_data_fails_loudly() -> None:
    """Given a holiday table with nothing for 2040 (as a table loaded for fixed years
    would be), the calendar refuses to count working days in 2040 instead of treating
    every weekday as one; years with data still work."""
    def table(year: int) -> dict[date, str]:
        return {} if year == 2040 else dict(CAL.public_holidays(year))

    cal = DanishCalendar(CPH, holiday_table=table)
    assert cal.add(date(2039, 12, 22), Offset(2, Unit.WORKING_DAYS)) == date(2039, 12, 27)
    with pytest.raises(HolidayDataMissing, match=r"2040.*Juledag"):
        cal.is_working_day(date(2040, 3, 14))
    with pytest.raises(HolidayDataMissing):
        cal.add(date(2039, 12, 30), Offset(5, Unit.WORKING_DAYS))


@pytest.mark.parametrize(("day", "name"), NON_WORKING, ids=[n for _, n in NON_WORKING])
def test_danish_holidays_are_not_working_days(day: date, name: str) -> None:
    """Each listed holiday/closed day is named by the calendar and is not a working day."""
    assert CAL.holiday_name(day) is not None, name
    assert not CAL.is_working_day(day), name
    assert not CAL.is_bank_day(day), name


WORKING = [
    (date(2024, 4, 26), "former Store bededag 2024 (Easter 2024-03-31 + 26)"),
    (date(2025, 5, 16), "former Store bededag 2025 (Easter 2025-04-20 + 26)"),
    (date(2026, 5, 1), "former Store bededag 2026 / 1 May (not a public holiday)"),
    (date(2026, 4, 1), "Wednesday before Skærtorsdag"),
    (date(2026, 4, 7), "Tuesday after 2. påskedag"),
    (date(2026, 5, 13), "Wednesday before Ascension"),
    (date(2026, 5, 15), "Friday after Ascension"),
    (date(2026, 6, 4), "Thursday before Grundlovsdag"),
    (date(2026, 12, 23), "Wednesday before Christmas Eve"),
    (date(2026, 12, 28), "Monday after Christmas"),
    (date(2027, 1, 4), "first Monday of 2027"),
]


@pytest.mark.parametrize(("day", "name"), WORKING, ids=[n for _, n in WORKING])
def test_ordinary_weekdays_are_working_days(day: date, name: str) -> None:
    """Weekdays that are not holidays (incl. Store bededag from 2024) are working days."""
    assert CAL.holiday_name(day) is None, name
    assert CAL.is_working_day(day), name


def test_weekend_is_not_working() -> None:
    """An ordinary Saturday and Sunday are not working days."""
    assert not CAL.is_working_day(date(2026, 1, 10))
    assert not CAL.is_working_day(date(2026, 1, 11))
    assert CAL.is_working_day(date(2026, 1, 9))


@pytest.mark.parametrize("day", [date(2026, 5, 15), date(2027, 5, 7)])
def test_friday_after_ascension_is_working_but_not_bank_day(day: date) -> None:
    """The Friday after Ascension Day is a working day but not a bank day."""
    assert CAL.is_working_day(day)
    assert not CAL.is_bank_day(day)


def test_ordinary_working_day_is_bank_day() -> None:
    """A normal working day (Tuesday 2026-05-19) is also a bank day."""
    assert CAL.is_bank_day(date(2026, 5, 19))


# --- RULES.md worked examples ----------------------------------------------------------


def test_worked_example_meeting_deadline_rolls_back() -> None:
    """Given first absence Mon 2026-01-05, when +55 days (Sun 2026-03-01) rolls back,
    then the meeting deadline is Fri 2026-02-27."""
    end_of_week_8 = CAL.add(date(2026, 1, 5), Offset(55, Unit.DAYS))
    assert end_of_week_8 == date(2026, 3, 1)
    assert CAL.roll(end_of_week_8, Roll.BACK) == date(2026, 2, 27)


def test_worked_example_complaint_deadline_rolls_forward() -> None:
    """Given a decision sent Fri 2026-12-04, when +4 weeks (New Year's Day 2027) rolls
    forward, then the complaint deadline is Mon 2027-01-04."""
    raw = CAL.add(date(2026, 12, 4), Offset(4, Unit.WEEKS))
    assert raw == date(2027, 1, 1)
    assert CAL.roll(raw, Roll.FORWARD) == date(2027, 1, 4)


def test_roll_none_and_working_day_are_unchanged() -> None:
    """Roll.NONE never moves a date; a working day never moves in either direction."""
    assert CAL.roll(date(2027, 1, 1), Roll.NONE) == date(2027, 1, 1)
    assert CAL.roll(date(2026, 5, 15), Roll.FORWARD) == date(2026, 5, 15)
    assert CAL.roll(date(2026, 5, 15), Roll.BACK) == date(2026, 5, 15)


def test_roll_across_easter() -> None:
    """Skærtorsdag 2027 rolls forward to Tue 2027-03-30 and back to Wed 2027-03-24."""
    assert CAL.roll(date(2027, 3, 25), Roll.FORWARD) == date(2027, 3, 30)
    assert CAL.roll(date(2027, 3, 29), Roll.BACK) == date(2027, 3, 24)


# --- offsets -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "offset", "expected"),
    [
        # Tue 2027-03-30 back over 2. påskedag, Easter weekend, Langfredag, Skærtorsdag.
        (date(2027, 3, 30), "-3 working_days", date(2027, 3, 22)),
        (date(2027, 3, 24), "1 working_day", date(2027, 3, 30)),
        (date(2026, 12, 23), "1 working_days", date(2026, 12, 28)),
        # Wed 2026-05-13: Thu Ascension, Fri not a bank day, weekend → Mon 18, Tue 19.
        (date(2026, 5, 13), "2 bank_days", date(2026, 5, 19)),
        # …but the Friday still counts as a working day.
        (date(2026, 5, 13), "2 working_days", date(2026, 5, 18)),
        (date(2026, 5, 19), "-2 bank_days", date(2026, 5, 13)),
        (date(2026, 11, 23), "8 days", date(2026, 12, 1)),
        (date(2026, 12, 4), "4 weeks", date(2027, 1, 1)),
        (date(2026, 1, 5), "18 weeks", date(2026, 5, 11)),
        (date(2026, 1, 31), "1 month", date(2026, 2, 28)),
        (date(2028, 1, 31), "1 month", date(2028, 2, 29)),
        (date(2026, 11, 30), "1 month", date(2026, 12, 30)),
        (date(2026, 12, 15), "1 month", date(2027, 1, 15)),
        (date(2026, 1, 15), "-1 month", date(2025, 12, 15)),
        (date(2026, 3, 31), "-1 month", date(2026, 2, 28)),
        (date(2026, 1, 5), "3 months", date(2026, 4, 5)),
        (date(2026, 11, 30), "3 months", date(2027, 2, 28)),
        (date(2026, 1, 5), "0 working_days", date(2026, 1, 5)),
    ],
)
def test_add_offset_table(start: date, offset: str, expected: date) -> None:
    """Hand-checked offset arithmetic across holidays, month ends and leap years."""
    assert CAL.add(start, Offset.parse(offset)) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8 days", Offset(8, Unit.DAYS)),
        ("-3 working_days", Offset(-3, Unit.WORKING_DAYS)),
        ("1 week", Offset(1, Unit.WEEKS)),
        ("+2 bank_days", Offset(2, Unit.BANK_DAYS)),
        (" 3 months ", Offset(3, Unit.MONTHS)),
    ],
)
def test_offset_parse_accepts(text: str, expected: Offset) -> None:
    """Offset.parse reads sign, count and (singular or plural) unit."""
    assert Offset.parse(text) == expected


@pytest.mark.parametrize(
    "text", ["8", "eight days", "3 fortnights", "", "days", "8 Days", "1.5 days", "8days"]
)
def test_offset_parse_rejects(text: str) -> None:
    """Malformed offsets raise ValueError instead of defaulting to something."""
    with pytest.raises(ValueError):
        Offset.parse(text)


def test_offset_str_round_trips() -> None:
    """str(Offset) is parseable back to the same offset."""
    assert str(Offset(-3, Unit.WORKING_DAYS)) == "-3 working_days"
    assert Offset.parse(str(Offset(-3, Unit.WORKING_DAYS))) == Offset(-3, Unit.WORKING_DAYS)


def test_working_days_lists_inclusive_range() -> None:
    """working_days(start, end) yields the working days in [start, end] (Easter 2027)."""
    got = list(CAL.working_days(date(2027, 3, 24), date(2027, 3, 30)))
    assert got == [date(2027, 3, 24), date(2027, 3, 30)]


# --- send window -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("earliest", "expected", "why"),
    [
        (local(2026, 1, 6, 10, 30), local(2026, 1, 6, 10, 30), "inside stays"),
        (local(2026, 1, 6, 8, 0), local(2026, 1, 6, 8, 0), "08:00 is inside"),
        (local(2026, 1, 6, 16, 59), local(2026, 1, 6, 16, 59), "16:59 is inside"),
        (local(2026, 1, 6, 6, 0), local(2026, 1, 6, 8, 0), "early → 08:00 same day"),
        (local(2026, 1, 6, 17, 0), local(2026, 1, 7, 8, 0), "17:00 → next morning"),
        (local(2026, 1, 9, 17, 0), local(2026, 1, 12, 8, 0), "Fri 17:00 → Mon"),
        (local(2026, 1, 10, 10, 0), local(2026, 1, 12, 8, 0), "Saturday → Monday"),
        (local(2026, 1, 11, 6, 0), local(2026, 1, 12, 8, 0), "Sunday early → Monday"),
        (local(2026, 12, 24, 10, 0), local(2026, 12, 28, 8, 0), "24 Dec → 28 Dec"),
        (local(2026, 12, 23, 17, 0), local(2026, 12, 28, 8, 0), "23 Dec eve → 28 Dec"),
        (local(2026, 4, 1, 17, 0), local(2026, 4, 7, 8, 0), "Wed before Easter → Tue"),
        (local(2026, 3, 27, 18, 0), local(2026, 3, 30, 8, 0), "across DST start"),
        (local(2026, 10, 24, 12, 0), local(2026, 10, 26, 8, 0), "across DST end"),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_send_window_table(earliest: datetime, expected: datetime, why: str) -> None:
    """send_window returns the first instant in [08:00, 17:00) local on a working day, in UTC."""
    got = CAL.send_window(earliest)
    assert got == expected, why
    assert got.utcoffset() == timedelta(0), "result must be in UTC"


def test_send_window_across_dst_is_0600_utc() -> None:
    """Given Fri 2026-03-27 18:00 (+01:00), the next window opens Mon 2026-03-30 06:00 UTC."""
    got = CAL.send_window(local(2026, 3, 27, 18, 0))
    assert got == datetime(2026, 3, 30, 6, 0, tzinfo=UTC)
    assert got.tzinfo is UTC


def test_send_window_christmas_is_0700_utc() -> None:
    """24 Dec 2026 → Mon 28 Dec 2026 08:00 local, i.e. 07:00 UTC (winter time)."""
    got = CAL.send_window(datetime(2026, 12, 24, 9, 0, tzinfo=UTC))
    assert got == datetime(2026, 12, 28, 7, 0, tzinfo=UTC)


def test_send_window_uses_local_date_not_utc_date() -> None:
    """23:30 UTC on Sunday 2026-01-11 is already 00:30 Monday local → Monday 08:00 local."""
    got = CAL.send_window(datetime(2026, 1, 11, 23, 30, tzinfo=UTC))
    assert got == datetime(2026, 1, 12, 7, 0, tzinfo=UTC)


def test_in_send_window_is_half_open() -> None:
    """08:00 is inside the window, 17:00 is not, and a holiday never is."""
    assert CAL.in_send_window(local(2026, 1, 6, 8, 0))
    assert not CAL.in_send_window(local(2026, 1, 6, 7, 59))
    assert not CAL.in_send_window(local(2026, 1, 6, 17, 0))
    assert not CAL.in_send_window(local(2026, 12, 24, 10, 0))


def test_custom_window_is_respected() -> None:
    """A calendar built with a 09:00–15:00 window opens at 09:00 and closes at 15:00."""
    cal = DanishCalendar(CPH, window_start=time(9, 0), window_end=time(15, 0))
    assert cal.send_window(local(2026, 1, 6, 8, 30)) == local(2026, 1, 6, 9, 0)
    assert cal.send_window(local(2026, 1, 6, 15, 0)) == local(2026, 1, 7, 9, 0)


def test_window_must_start_before_it_ends() -> None:
    """An empty or inverted window is refused at construction."""
    with pytest.raises(ValueError):
        DanishCalendar(CPH, window_start=time(17, 0), window_end=time(8, 0))
    with pytest.raises(ValueError):
        DanishCalendar(CPH, window_start=time(8, 0), window_end=time(8, 0))


@pytest.mark.parametrize(
    ("day", "utc_hour", "offset_hours"),
    [(date(2026, 1, 15), 8, 1), (date(2026, 7, 15), 7, 2)],
    ids=["winter", "summer"],
)
def test_at_local_0900(day: date, utc_hour: int, offset_hours: int) -> None:
    """at_local(day, 09:00) is 09:00 Copenhagen time in winter (+01:00) and summer (+02:00)."""
    got = CAL.at_local(day, time(9, 0))
    assert got == datetime(day.year, day.month, day.day, utc_hour, 0, tzinfo=UTC)
    assert got.utcoffset() == timedelta(0)
    as_local = got.astimezone(CPH)
    assert (as_local.hour, as_local.minute) == (9, 0)
    assert as_local.utcoffset() == timedelta(hours=offset_hours)


def test_local_date_is_copenhagen_date() -> None:
    """local_date converts to Copenhagen first: 23:30 UTC on 31 Dec is 1 Jan locally."""
    assert CAL.local_date(datetime(2026, 12, 31, 23, 30, tzinfo=UTC)) == date(2027, 1, 1)


# --- properties --------------------------------------------------------------------------


@PROPS
@given(DATES)
def test_roll_forward_property(day: date) -> None:
    """Roll forward gives a working day >= input with no working day strictly in between."""
    rolled = CAL.roll(day, Roll.FORWARD)
    assert CAL.is_working_day(rolled)
    assert rolled >= day
    between = day
    while between < rolled:
        assert not CAL.is_working_day(between)
        between += timedelta(days=1)


@PROPS
@given(DATES)
def test_roll_back_property(day: date) -> None:
    """Roll back gives a working day <= input with no working day strictly in between."""
    rolled = CAL.roll(day, Roll.BACK)
    assert CAL.is_working_day(rolled)
    assert rolled <= day
    between = day
    while between > rolled:
        assert not CAL.is_working_day(between)
        between -= timedelta(days=1)


@PROPS
@given(DATES, st.integers(min_value=0, max_value=60))
def test_add_working_days_counts_exactly_n(start: date, n: int) -> None:
    """Adding n working days: exactly n working days lie in (start, result]."""
    result = CAL.add(start, Offset(n, Unit.WORKING_DAYS))
    assert result >= start
    count, day = 0, start + timedelta(days=1)
    while day <= result:
        count += CAL.is_working_day(day)
        day += timedelta(days=1)
    assert count == n
    if n:
        assert CAL.is_working_day(result)


@PROPS
@given(DATES, st.integers(min_value=1, max_value=60))
def test_subtract_working_days_counts_exactly_n(start: date, n: int) -> None:
    """Subtracting n working days: exactly n working days lie in [result, start)."""
    result = CAL.add(start, Offset(-n, Unit.WORKING_DAYS))
    assert result < start
    assert CAL.is_working_day(result)
    count, day = 0, result
    while day < start:
        count += CAL.is_working_day(day)
        day += timedelta(days=1)
    assert count == n


@PROPS
@given(DATES, st.integers(min_value=1, max_value=30))
def test_add_bank_days_lands_on_bank_day(start: date, n: int) -> None:
    """Adding n bank days lands on a bank day with exactly n bank days in (start, result]."""
    result = CAL.add(start, Offset(n, Unit.BANK_DAYS))
    assert CAL.is_bank_day(result)
    count, day = 0, start + timedelta(days=1)
    while day <= result:
        count += CAL.is_bank_day(day)
        day += timedelta(days=1)
    assert count == n


@PROPS
@given(DATES, st.integers(min_value=-400, max_value=400))
def test_add_days_then_subtract_is_identity(day: date, k: int) -> None:
    """add(+k days) then add(-k days) returns the start date, and moves exactly k days."""
    there = CAL.add(day, Offset(k, Unit.DAYS))
    assert (there - day).days == k
    assert CAL.add(there, Offset(-k, Unit.DAYS)) == day


@PROPS
@given(DATES, st.integers(min_value=-60, max_value=60))
def test_add_weeks_keeps_weekday(day: date, k: int) -> None:
    """add(k weeks) keeps the weekday and moves exactly 7·k days."""
    there = CAL.add(day, Offset(k, Unit.WEEKS))
    assert there.weekday() == day.weekday()
    assert (there - day).days == 7 * k


@PROPS
@given(DATES, st.integers(min_value=-36, max_value=36))
def test_add_months_clamps_to_month_end(day: date, k: int) -> None:
    """add(k months) lands k months away, on the same day or the last day of a shorter month."""
    there = CAL.add(day, Offset(k, Unit.MONTHS))
    assert (there.year * 12 + there.month) - (day.year * 12 + day.month) == k
    if there.day != day.day:
        assert there.day < day.day
        assert (there + timedelta(days=1)).day == 1, "clamped only to the month's last day"


@PROPS
@given(INSTANTS)
def test_send_window_property(instant: datetime) -> None:
    """send_window(x) is >= x, in the window (checked in local time), within 6 days, and
    no working-day window opens strictly between x and the result."""
    result = CAL.send_window(instant)
    assert result >= instant
    assert result.utcoffset() == timedelta(0)
    loc = result.astimezone(CPH)
    assert CAL.is_working_day(loc.date())
    assert time(8, 0) <= loc.time() < time(17, 0)
    # Longest real gap: Wednesday 17:00 before Skærtorsdag → Tuesday 08:00 (5 d 15 h).
    assert result - instant < timedelta(days=6)
    if result != instant:
        assert loc.time() == time(8, 0), "a moved letter goes at the window's opening"
        day = instant.astimezone(CPH).date()
        while day < loc.date():
            if CAL.is_working_day(day):
                # That day's window must already have closed before ``instant``.
                assert datetime.combine(day, time(17, 0), tzinfo=CPH) <= instant
            day += timedelta(days=1)


@PROPS
@given(INSTANTS)
def test_send_window_is_idempotent(instant: datetime) -> None:
    """An instant returned by send_window is itself inside the window and stays put."""
    once = CAL.send_window(instant)
    assert CAL.in_send_window(once)
    assert CAL.send_window(once) == once
