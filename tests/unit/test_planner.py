"""The planner driven through the dry-run Simulation with the shipped rules (RULES.md defaults).

Every expected date below is hand-computed from a printed calendar, never by calling the
calendar under test. Reference facts used throughout:

- 1 Jan 2026 is a Thursday; 5 Jan 2026 a Monday; 23 Dec 2026 a Wednesday.
- Danish holidays 2026: 1 Jan, Skærtorsdag 2 Apr, Langfredag 3 Apr, Påskedag 5 Apr,
  2. påskedag 6 Apr, Kristi himmelfartsdag Thu 14 May, Pinsedag 24 May, 2. pinsedag Mon 25 May,
  Grundlovsdag Fri 5 Jun (closed day), 24, 25, 26, 31 Dec. 2027: Fri 1 Jan, Easter 25-29 Mar.
- The Friday after Ascension (15 May 2026) is a working day but not a bank day.
- DST 2026 starts Sunday 29 March (+01:00 -> +02:00) in Europe/Copenhagen.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from notifier.calendar import DanishCalendar
from notifier.errors import ConflictError
from notifier.intake.events import Event, parse_event
from notifier.models import ChannelName, Letter, Recipient, Status
from notifier.planning.planner import Planner
from notifier.planning.rules import load_rules
from notifier.planning.simulation import NumberedEvent, Simulation
from notifier.settings import PACKAGE_DIR

CPH = ZoneInfo("Europe/Copenhagen")
PLANNER = Planner(load_rules(PACKAGE_DIR / "schedules"), DanishCalendar(CPH))
CASE = "SDP-T-0001"


# --- helpers -----------------------------------------------------------------------------


def at(text: str) -> datetime:
    """A Copenhagen wall-clock instant, e.g. at('2026-12-23 10:00')."""
    return datetime.fromisoformat(text).replace(tzinfo=CPH)


def ev(event_id: str, type_: str, when: str, data: dict[str, Any], case_id: str = CASE) -> Event:
    """An event at local time ``when`` ('YYYY-MM-DD HH:MM'), validated by parse_event."""
    return parse_event({
        "event_id": event_id,
        "type": type_,
        "case_id": case_id,
        "occurred_at": at(when).isoformat(),
        "data": data,
    })


def opened(when: str, first_absence_day: str, *, event_id: str = "open", case_id: str = CASE,
           digital_post: bool = True, employer: bool = True) -> Event:
    data: dict[str, Any] = {
        "first_absence_day": first_absence_day,
        "citizen": {
            "cpr": "0706851234",
            "name": "Mette Hansen",
            "address": {"street": "Vestergade 12", "postcode": "2630", "city": "Taastrup"},
            "digital_post": digital_post,
        },
        "caseworker": {"id": "cw-1", "name": "Lise Jensen", "email": "lise@eksempel.dk"},
    }
    if employer:
        data["employer"] = {"cvr": "12345674", "name": "Bageriet Korn ApS"}
    return ev(event_id, "sick_leave_reported", when, data, case_id)


def booked(event_id: str, when: str, meeting_id: str, starts: str, *,
           with_employer: bool = False) -> Event:
    return ev(event_id, "meeting_booked", when, {
        "meeting_id": meeting_id, "starts_at": at(starts).isoformat(), "form": "in_person",
        "location": "Jobcentret", "with_employer": with_employer,
    })


def decided(event_id: str, when: str, decision_id: str = "d-1") -> Event:
    return ev(event_id, "decision_made", when, {
        "decision_id": decision_id, "title": "Afgørelse om sygedagpenge", "outcome": "granted",
        "decision_text": "Du får sygedagpenge.", "reasoning": "Du opfylder betingelserne.",
        "legal_basis": ["sygedagpengeloven § 7"],
    })


def simulate(*events: Event) -> list[Letter]:
    """Run the events (in any order; the simulation sorts them) to completion."""
    numbered = [NumberedEvent(i, e) for i, e in enumerate(events, start=1)]
    return Simulation(PLANNER).run(numbered)


def of_kind(letters: list[Letter], kind: str) -> list[Letter]:
    return sorted((x for x in letters if x.kind == kind), key=lambda x: x.send_at)


def one(letters: list[Letter], kind: str) -> Letter:
    found = of_kind(letters, kind)
    assert len(found) == 1, f"expected exactly one {kind}, got {len(found)}: {found}"
    return found[0]


def local_iso(letter: Letter) -> str:
    return letter.send_at.astimezone(CPH).isoformat()


# --- sick_leave_reported: the opening letters ----------------------------------------------


def test_year_end_information_form_reminder_and_overdue() -> None:
    """Form sent Wed 23 Dec 2026: deadline rolls over 31 Dec and New Year to Mon 4 Jan 2027.

    23 Dec + 8 days = Thu 31 Dec (nytårsaftensdag, closed) -> Fri 1 Jan (Nytårsdag)
    -> Sat, Sun -> Mon 4 Jan 2027. Reminder: 3 working days before Mon 4 Jan counting back
    (Fri 1 Jan and Thu 31 Dec closed): Wed 30 (1), Tue 29 (2), Mon 28 Dec (3) -> 09:00.
    Overdue: first working day after Mon 4 Jan = Tue 5 Jan 2027, 09:00.
    """
    letters = simulate(opened("2026-12-23 10:00", "2026-12-21"))
    form = one(letters, "information_form")
    assert form.send_at == at("2026-12-23 10:00")
    assert form.deadline == date(2027, 1, 4)
    assert form.status is Status.SENT
    assert form.recipient is Recipient.CITIZEN
    assert form.channel is ChannelName.DIGITAL_POST

    reminder = one(letters, "information_form_reminder")
    assert reminder.send_at == at("2026-12-28 09:00")
    assert reminder.deadline == date(2027, 1, 4)
    assert reminder.status is Status.SENT

    overdue = one(letters, "information_form_overdue")
    assert overdue.send_at == at("2027-01-05 09:00")
    assert overdue.recipient is Recipient.CASEWORKER
    assert overdue.channel is ChannelName.MAIL
    assert overdue.deadline == date(2027, 1, 4)


def test_year_end_case_timers_from_first_absence_day() -> None:
    """First absence Mon 21 Dec 2026: meeting alert, broad assessment and reassessment dates.

    +42 days = Mon 1 Feb 2027 (working) -> 09:00; meeting deadline +55 days = Sun 14 Feb
    -> back -> Fri 12 Feb 2027. +3 months = Sun 21 Mar 2027 -> forward -> Mon 22 Mar 09:00
    (+01:00, DST 2027 starts 28 Mar). +18 weeks (126 days) = Mon 26 Apr 2027 (no holiday;
    Store bededag is abolished) -> 09:00 +02:00.
    """
    letters = simulate(opened("2026-12-23 10:00", "2026-12-21"))
    due = one(letters, "first_meeting_due")
    assert due.send_at == at("2027-02-01 09:00")
    assert due.deadline == date(2027, 2, 12)
    broad = one(letters, "broad_assessment_notice")
    assert local_iso(broad) == "2027-03-22T09:00:00+01:00"
    assert broad.recipient is Recipient.CITIZEN
    reassess = one(letters, "reassessment_due")
    assert local_iso(reassess) == "2027-04-26T09:00:00+02:00"
    assert reassess.channel is ChannelName.MAIL


def test_rules_md_worked_example_first_meeting_due() -> None:
    """RULES.md: first absence Mon 5 Jan 2026 -> meeting deadline Fri 27 Feb 2026.

    Alert: 5 Jan + 42 days = Mon 16 Feb 2026 (working) at 09:00. Deadline: 5 Jan + 55 days
    = Sun 1 Mar -> back -> Fri 27 Feb 2026.
    """
    letters = simulate(opened("2026-01-07 10:00", "2026-01-05"))
    due = one(letters, "first_meeting_due")
    assert due.send_at == at("2026-02-16 09:00")
    assert due.deadline == date(2026, 2, 27)
    assert due.recipient is Recipient.CASEWORKER
    assert due.status is Status.SENT


def test_broad_assessment_over_easter_and_reassessment() -> None:
    """First absence 5 Jan 2026: +3 months = Easter Sunday 5 Apr -> Mon 6 Apr (2. påskedag)
    -> Tue 7 Apr 2026 09:00 (+02:00). +18 weeks = 126 days = Mon 11 May 2026 09:00 (+02:00).
    The form sent Wed 7 Jan: deadline Thu 15 Jan; reminder Mon 12 Jan (Wed 14, Tue 13, Mon 12);
    overdue Fri 16 Jan.
    """
    letters = simulate(opened("2026-01-07 10:00", "2026-01-05"))
    assert local_iso(one(letters, "broad_assessment_notice")) == "2026-04-07T09:00:00+02:00"
    assert local_iso(one(letters, "reassessment_due")) == "2026-05-11T09:00:00+02:00"
    assert one(letters, "information_form").deadline == date(2026, 1, 15)
    assert one(letters, "information_form_reminder").send_at == at("2026-01-12 09:00")
    assert one(letters, "information_form_overdue").send_at == at("2026-01-16 09:00")
    assert all(x.cause == "open" for x in letters)
    assert all(x.cancelled_by is None for x in letters)


# --- the send window ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "expected", "deadline"),
    [
        # Fri 9 Jan 2026 18:30 is after 17:00 -> Mon 12 Jan 08:00; 12 Jan + 8 = Tue 20 Jan.
        ("2026-01-09 18:30", "2026-01-12T08:00:00+01:00", date(2026, 1, 20)),
        # Exactly 17:00 is outside the half-open window -> Monday 08:00 too.
        ("2026-01-09 17:00", "2026-01-12T08:00:00+01:00", date(2026, 1, 20)),
        # Sat 10 Jan 2026 -> Mon 12 Jan 08:00.
        ("2026-01-10 11:00", "2026-01-12T08:00:00+01:00", date(2026, 1, 20)),
        # Tue 13 Jan 06:30 -> same day 08:00; 13 Jan + 8 = Wed 21 Jan.
        ("2026-01-13 06:30", "2026-01-13T08:00:00+01:00", date(2026, 1, 21)),
    ],
)
def test_information_form_waits_for_send_window(when: str, expected: str, deadline: date) -> None:
    """An event outside 08:00-17:00 on a working day releases the form at the next 08:00,
    and the deadline counts from that send date."""
    form = one(simulate(opened(when, "2026-01-08")), "information_form")
    assert local_iso(form) == expected
    assert form.deadline == deadline


# --- information_form_returned -------------------------------------------------------------


def test_form_returned_cancels_reminder_and_overdue() -> None:
    """Returned Fri 9 Jan 2026 (before the Mon 12 Jan reminder): reminder and overdue are
    cancelled by that event; the already-sent form stays sent."""
    letters = simulate(
        opened("2026-01-07 10:00", "2026-01-05"),
        ev("ret", "information_form_returned", "2026-01-09 10:00", {"returned_on": "2026-01-09"}),
    )
    assert one(letters, "information_form").status is Status.SENT
    for kind in ("information_form_reminder", "information_form_overdue"):
        letter = one(letters, kind)
        assert letter.status is Status.CANCELLED, kind
        assert letter.cancelled_by == "ret", kind
    # Nothing else is touched.
    for kind in ("first_meeting_due", "broad_assessment_notice", "reassessment_due"):
        assert one(letters, kind).status is Status.SENT, kind


def test_form_returned_after_reminder_keeps_sent_reminder() -> None:
    """Returned Tue 13 Jan 2026: the reminder sent Mon 12 Jan 09:00 stays sent; only the
    overdue alert (Fri 16 Jan) is cancelled."""
    letters = simulate(
        opened("2026-01-07 10:00", "2026-01-05"),
        ev("ret", "information_form_returned", "2026-01-13 10:00", {"returned_on": "2026-01-13"}),
    )
    reminder = one(letters, "information_form_reminder")
    assert reminder.status is Status.SENT
    assert reminder.cancelled_by is None
    overdue = one(letters, "information_form_overdue")
    assert overdue.status is Status.CANCELLED
    assert overdue.cancelled_by == "ret"


@pytest.mark.parametrize("when", ["2026-04-01 16:00", "2026-04-01 09:00"])
def test_reminder_omitted_when_not_after_form_send_time(when: str) -> None:
    """Form sent Wed 1 Apr 2026 -> + 8 = Thu 9 Apr (working) deadline. 3 working days back:
    Wed 8 (1), Tue 7 (2), [Mon 6, Sun 5, Sat 4, Fri 3, Thu 2 closed], Wed 1 Apr (3): the
    reminder would be Wed 1 Apr 09:00, which is not after a form sent at 16:00 (or exactly
    09:00), so there is none. Overdue: Fri 10 Apr 09:00 (+02:00)."""
    letters = simulate(opened(when, "2026-03-30"))
    assert one(letters, "information_form").deadline == date(2026, 4, 9)
    assert of_kind(letters, "information_form_reminder") == []
    assert local_iso(one(letters, "information_form_overdue")) == "2026-04-10T09:00:00+02:00"


def test_reminder_kept_when_just_after_form_send_time() -> None:
    """Same Easter week, form sent Wed 1 Apr 2026 08:30: the 09:00 reminder is after it."""
    letters = simulate(opened("2026-04-01 08:30", "2026-03-30"))
    assert local_iso(one(letters, "information_form_reminder")) == "2026-04-01T09:00:00+02:00"


# --- early follow-up -----------------------------------------------------------------------


def _early_case(*more: Event, employer: bool = True) -> list[Letter]:
    return simulate(opened("2026-05-11 10:00", "2026-05-08", employer=employer), *more)


def test_early_followup_notice_bank_days_across_ascension() -> None:
    """Employer request Wed 13 May 2026: notice sent now; 2 bank days after: Thu 14 May is
    Ascension, Fri 15 May is not a bank day, Sat/Sun -> Mon 18 (1), Tue 19 May (2).
    Unanswered alert: first working day after = Wed 20 May 2026, 09:00."""
    letters = _early_case(ev("req", "early_followup_requested", "2026-05-13 10:00",
                             {"requested_by": "employer", "requested_on": "2026-05-13"}))
    notice = one(letters, "early_followup_notice")
    assert notice.send_at == at("2026-05-13 10:00")
    assert notice.deadline == date(2026, 5, 19)
    assert notice.recipient is Recipient.CITIZEN
    assert notice.cause == "req"
    unanswered = one(letters, "early_followup_unanswered")
    assert unanswered.send_at == at("2026-05-20 09:00")
    assert unanswered.deadline == date(2026, 5, 19)
    assert unanswered.status is Status.SENT
    assert of_kind(letters, "early_followup_book_meeting") == []


def test_early_followup_accepted_cancels_unanswered_and_books() -> None:
    """Accepted Fri 15 May 2026 10:00 (a working day): the unanswered alert is cancelled and
    book_meeting goes now; its deadline is requested_on Wed 13 May + 14 days = Wed 27 May
    2026 (a working day, so no roll)."""
    letters = _early_case(
        ev("req", "early_followup_requested", "2026-05-13 10:00",
           {"requested_by": "employer", "requested_on": "2026-05-13"}),
        ev("ans", "early_followup_answered", "2026-05-15 10:00", {"accepted": True}),
    )
    unanswered = one(letters, "early_followup_unanswered")
    assert unanswered.status is Status.CANCELLED
    assert unanswered.cancelled_by == "ans"
    book = one(letters, "early_followup_book_meeting")
    assert book.send_at == at("2026-05-15 10:00")
    assert book.deadline == date(2026, 5, 27)
    assert book.cause == "ans"
    assert book.recipient is Recipient.CASEWORKER
    assert one(letters, "early_followup_notice").status is Status.SENT


def test_early_followup_book_meeting_deadline_rolls_back_over_whitsun() -> None:
    """requested_on Mon 11 May 2026 + 14 days = Mon 25 May (2. pinsedag) -> back (Sun 24
    Pinsedag, Sat 23) -> Fri 22 May 2026."""
    letters = _early_case(
        ev("req", "early_followup_requested", "2026-05-11 11:00",
           {"requested_by": "employer", "requested_on": "2026-05-11"}),
        ev("ans", "early_followup_answered", "2026-05-12 10:00", {"accepted": True}),
    )
    assert one(letters, "early_followup_book_meeting").deadline == date(2026, 5, 22)


def test_early_followup_refused_cancels_unanswered_without_booking() -> None:
    """accepted=false still answers the request: no alert, and no book_meeting."""
    letters = _early_case(
        ev("req", "early_followup_requested", "2026-05-13 10:00",
           {"requested_by": "employer", "requested_on": "2026-05-13"}),
        ev("ans", "early_followup_answered", "2026-05-15 10:00", {"accepted": False}),
    )
    assert one(letters, "early_followup_unanswered").cancelled_by == "ans"
    assert of_kind(letters, "early_followup_book_meeting") == []


def test_early_followup_citizen_request_books_meeting_now() -> None:
    """A citizen request plans book_meeting now (Wed 13 May 10:00) and no notice; deadline
    13 May + 14 = Wed 27 May 2026."""
    letters = _early_case(ev("req", "early_followup_requested", "2026-05-13 10:00",
                             {"requested_by": "citizen", "requested_on": "2026-05-13"}),
                          employer=False)
    book = one(letters, "early_followup_book_meeting")
    assert book.send_at == at("2026-05-13 10:00")
    assert book.deadline == date(2026, 5, 27)
    assert of_kind(letters, "early_followup_notice") == []
    assert of_kind(letters, "early_followup_unanswered") == []


def test_employer_request_without_employer_is_refused() -> None:
    """A case without an employer (sick from unemployment) cannot get an employer request."""
    with pytest.raises(ConflictError) as info:
        _early_case(ev("req", "early_followup_requested", "2026-05-13 10:00",
                       {"requested_by": "employer", "requested_on": "2026-05-13"}),
                    employer=False)
    assert [e.field for e in info.value.errors] == ["data.requested_by"]


# --- meetings ------------------------------------------------------------------------------


def test_meeting_booked_summons_reminder_and_cancels_first_meeting_due() -> None:
    """Booked Wed 14 Jan 2026 10:00 for Mon 19 Jan with the employer: both summonses now;
    reminder on the working day before a Monday = Fri 16 Jan 09:00; first_meeting_due
    (Mon 16 Feb) is cancelled by the booking."""
    letters = simulate(
        opened("2026-01-07 10:00", "2026-01-05"),
        booked("bk", "2026-01-14 10:00", "m1", "2026-01-19 10:00", with_employer=True),
    )
    summons = one(letters, "meeting_summons")
    assert summons.send_at == at("2026-01-14 10:00")
    assert summons.status is Status.SENT
    assert summons.scope == "m1"
    employer = one(letters, "meeting_summons_employer")
    assert employer.send_at == at("2026-01-14 10:00")
    assert employer.recipient is Recipient.EMPLOYER
    assert employer.channel is ChannelName.DIGITAL_POST
    reminder = one(letters, "meeting_reminder")
    assert reminder.send_at == at("2026-01-16 09:00")
    assert reminder.status is Status.SENT
    due = one(letters, "first_meeting_due")
    assert due.status is Status.CANCELLED
    assert due.cancelled_by == "bk"


def test_meeting_without_employer_has_no_employer_summons() -> None:
    """with_employer=false: only the citizen is summoned."""
    letters = simulate(
        opened("2026-01-07 10:00", "2026-01-05"),
        booked("bk", "2026-01-14 10:00", "m1", "2026-01-20 10:00"),
    )
    assert len(of_kind(letters, "meeting_summons")) == 1
    assert of_kind(letters, "meeting_summons_employer") == []
    # Tue 20 Jan -> reminder Mon 19 Jan 09:00.
    assert one(letters, "meeting_reminder").send_at == at("2026-01-19 09:00")


def test_meeting_reminder_skipped_if_not_after_summons() -> None:
    """Booked Fri 16 Jan 2026 18:00 for Mon 19 Jan 10:00: the summons waits for Mon 08:00;
    the reminder (Fri 16 Jan 09:00) would come before it, so there is none."""
    letters = simulate(
        opened("2026-01-07 10:00", "2026-01-05"),
        booked("bk", "2026-01-16 18:00", "m1", "2026-01-19 10:00"),
    )
    assert one(letters, "meeting_summons").send_at == at("2026-01-19 08:00")
    assert of_kind(letters, "meeting_reminder") == []


def test_rescheduling_twice() -> None:
    """Booked Wed 14 Jan for Mon 26 Jan (reminder Fri 23 Jan). Moved on Sat 17 Jan to Tue 27
    Jan: cancels reminder 1, plans the rescheduled letters for Mon 19 Jan 08:00 (window) and
    reminder 2 Mon 26 Jan 09:00. Moved again on Sun 18 Jan to Thu 29 Jan: the still-pending
    rescheduled letters and reminder 2 are cancelled; new letters Mon 19 Jan 08:00 and
    reminder 3 Wed 28 Jan 09:00. The sent summons is untouched."""
    letters = simulate(
        opened("2026-01-07 10:00", "2026-01-05"),
        booked("bk", "2026-01-14 10:00", "m1", "2026-01-26 10:00", with_employer=True),
        ev("mv1", "meeting_rescheduled", "2026-01-17 12:00",
           {"meeting_id": "m1", "starts_at": at("2026-01-27 10:00").isoformat()}),
        ev("mv2", "meeting_rescheduled", "2026-01-18 12:00",
           {"meeting_id": "m1", "starts_at": at("2026-01-29 10:00").isoformat()}),
    )
    assert one(letters, "meeting_summons").status is Status.SENT
    assert one(letters, "meeting_summons_employer").status is Status.SENT

    r1, r2, r3 = of_kind(letters, "meeting_reminder")
    assert (r1.send_at, r1.status, r1.cause, r1.cancelled_by) == (
        at("2026-01-23 09:00"), Status.CANCELLED, "bk", "mv1")
    assert (r2.send_at, r2.status, r2.cause, r2.cancelled_by) == (
        at("2026-01-26 09:00"), Status.CANCELLED, "mv1", "mv2")
    assert (r3.send_at, r3.status, r3.cause, r3.cancelled_by) == (
        at("2026-01-28 09:00"), Status.SENT, "mv2", None)

    for kind in ("meeting_rescheduled", "meeting_rescheduled_employer"):
        moved = {x.cause: x for x in of_kind(letters, kind)}
        assert set(moved) == {"mv1", "mv2"}, kind
        assert moved["mv1"].send_at == at("2026-01-19 08:00")
        assert moved["mv1"].status is Status.CANCELLED
        assert moved["mv1"].cancelled_by == "mv2"
        assert moved["mv2"].send_at == at("2026-01-19 08:00")
        assert moved["mv2"].status is Status.SENT


def test_meeting_cancelled_cancels_pending_summons_and_reminder() -> None:
    """Booked Sat 17 Jan 2026 (summons pending for Mon 19 Jan 08:00) for Thu 22 Jan with the
    employer; cancelled Sun 18 Jan: summons, employer summons and reminder (Wed 21 Jan) are
    cancelled; meeting_cancelled and its employer copy go Mon 19 Jan 08:00."""
    letters = simulate(
        opened("2026-01-07 10:00", "2026-01-05"),
        booked("bk", "2026-01-17 10:00", "m1", "2026-01-22 10:00", with_employer=True),
        ev("cx", "meeting_cancelled", "2026-01-18 10:00", {"meeting_id": "m1"}),
    )
    for kind in ("meeting_summons", "meeting_summons_employer", "meeting_reminder"):
        letter = one(letters, kind)
        assert letter.status is Status.CANCELLED, kind
        assert letter.cancelled_by == "cx", kind
    assert one(letters, "meeting_reminder").send_at == at("2026-01-21 09:00")
    for kind, recipient in (("meeting_cancelled", Recipient.CITIZEN),
                            ("meeting_cancelled_employer", Recipient.EMPLOYER)):
        letter = one(letters, kind)
        assert letter.send_at == at("2026-01-19 08:00")
        assert letter.status is Status.SENT
        assert letter.recipient is recipient
        assert letter.cause == "cx"


def test_meeting_cancelled_only_touches_its_own_meeting() -> None:
    """Two meetings; cancelling m1 (summons already sent) cancels m1's reminder only."""
    letters = simulate(
        opened("2026-01-07 10:00", "2026-01-05"),
        booked("bk1", "2026-01-14 10:00", "m1", "2026-01-20 10:00"),
        booked("bk2", "2026-01-14 11:00", "m2", "2026-01-27 10:00"),
        ev("cx", "meeting_cancelled", "2026-01-15 10:00", {"meeting_id": "m1"}),
    )
    reminders = {x.scope: x for x in of_kind(letters, "meeting_reminder")}
    assert reminders["m1"].status is Status.CANCELLED
    assert reminders["m1"].cancelled_by == "cx"
    assert reminders["m2"].status is Status.SENT
    assert reminders["m2"].send_at == at("2026-01-26 09:00")  # Tue 27 -> Mon 26 Jan
    summons = {x.scope: x for x in of_kind(letters, "meeting_summons")}
    assert summons["m1"].status is Status.SENT  # already sent: not withdrawn
    assert one(letters, "meeting_cancelled").scope == "m1"
    assert of_kind(letters, "meeting_cancelled_employer") == []  # m1 without employer


@pytest.mark.parametrize("type_", ["meeting_cancelled", "meeting_rescheduled"])
def test_unknown_meeting_id_is_refused(type_: str) -> None:
    """An event about a meeting the case does not know names data.meeting_id."""
    data: dict[str, Any] = {"meeting_id": "nope"}
    if type_ == "meeting_rescheduled":
        data["starts_at"] = at("2026-01-29 10:00").isoformat()
    with pytest.raises(ConflictError) as info:
        simulate(opened("2026-01-07 10:00", "2026-01-05"),
                 ev("x", type_, "2026-01-14 10:00", data))
    assert [e.field for e in info.value.errors] == ["data.meeting_id"]


# --- decisions -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "send_at", "deadline"),
    [
        # RULES.md: Fri 4 Dec 2026 + 4 weeks = Fri 1 Jan 2027 (Nytårsdag) -> Mon 4 Jan 2027.
        ("2026-12-04 11:00", "2026-12-04T11:00:00+01:00", date(2027, 1, 4)),
        # Fri 6 Mar 2026 + 28 = Fri 3 Apr (Langfredag) -> Mon 6 Apr (2. påskedag) -> Tue 7 Apr.
        ("2026-03-06 10:00", "2026-03-06T10:00:00+01:00", date(2026, 4, 7)),
        # Fri 8 May 2026 + 28 = Fri 5 Jun (Grundlovsdag) -> Mon 8 Jun 2026.
        ("2026-05-08 10:00", "2026-05-08T10:00:00+02:00", date(2026, 6, 8)),
        # Fri 22 May 2026 17:30, after the window; Mon 25 May is 2. pinsedag -> sent Tue
        # 26 May 08:00; + 28 = Tue 23 Jun 2026 (working).
        ("2026-05-22 17:30", "2026-05-26T08:00:00+02:00", date(2026, 6, 23)),
    ],
)
def test_decision_complaint_deadline(when: str, send_at: str, deadline: date) -> None:
    """The complaint deadline is the send date + 4 weeks, rolled forward to a working day."""
    letters = simulate(opened("2026-01-07 10:00", "2026-01-05"), decided("dec", when))
    decision = one(letters, "decision")
    assert local_iso(decision) == send_at
    assert decision.deadline == deadline
    assert decision.status is Status.SENT
    assert decision.scope == "d-1"
    assert decision.cause == "dec"


# --- standby -------------------------------------------------------------------------------


def test_standby_mid_reminder_chain() -> None:
    """Form sent Wed 7 Jan 2026 (reminder Mon 12 Jan, overdue Fri 16 Jan). Standby Fri 9 Jan:
    the pending form reminder is cancelled; the caseworker's overdue alert and the broad
    assessment notice still go. A meeting booked Wed 14 Jan for Tue 20 Jan while on standby
    gets a suppressed summons and reminder (Mon 19 Jan 09:00), and the employer's invitation
    follows the citizen's (suppressed). A decision still goes. When standby ends (Mon 19 Jan
    12:00) the meeting is still ahead, so its summons and the employer's invitation are
    revived as new letters sent then; the reminder's usual time (Mon 19 Jan 09:00) is not
    after the revived summons, so there is none. A new meeting booked Tue 20 Jan 12:00 for
    Mon 26 Jan is scheduled normally (reminder Fri 23 Jan 09:00)."""
    letters = simulate(
        opened("2026-01-07 10:00", "2026-01-05"),
        ev("sb", "standby_granted", "2026-01-09 10:00", {"decided_on": "2026-01-09"}),
        booked("bk1", "2026-01-14 10:00", "m1", "2026-01-20 10:00", with_employer=True),
        decided("dec", "2026-01-15 10:00"),
        ev("sbe", "standby_ended", "2026-01-19 12:00", {"decided_on": "2026-01-19"}),
        booked("bk2", "2026-01-20 12:00", "m2", "2026-01-26 10:00"),
    )
    reminder = one(letters, "information_form_reminder")
    assert reminder.status is Status.CANCELLED
    assert reminder.cancelled_by == "sb"
    overdue = one(letters, "information_form_overdue")
    assert (overdue.status, overdue.send_at) == (Status.SENT, at("2026-01-16 09:00"))
    assert one(letters, "broad_assessment_notice").status is Status.SENT
    assert one(letters, "reassessment_due").status is Status.SENT
    assert one(letters, "decision").status is Status.SENT
    assert one(letters, "decision").deadline == date(2026, 2, 12)  # Thu 15 Jan + 28 days

    summons = {(x.scope, x.cause): x for x in of_kind(letters, "meeting_summons")}
    reminders = {x.scope: x for x in of_kind(letters, "meeting_reminder")}
    assert summons["m1", "bk1"].status is Status.SUPPRESSED
    assert (summons["m1", "sbe"].status, summons["m1", "sbe"].send_at) == (
        Status.SENT, at("2026-01-19 12:00"))
    assert (reminders["m1"].status, reminders["m1"].send_at) == (
        Status.SUPPRESSED, at("2026-01-19 09:00"))
    employer = {x.cause: x.status for x in of_kind(letters, "meeting_summons_employer")}
    assert employer == {"bk1": Status.SUPPRESSED, "sbe": Status.SENT}
    assert summons["m2", "bk2"].status is Status.SENT
    assert (reminders["m2"].status, reminders["m2"].send_at) == (
        Status.SENT, at("2026-01-23 09:00"))


def test_standby_cancels_pending_summons_and_early_notice() -> None:
    """Standby on Sunday cancels a summons and an early follow-up notice still waiting for
    Monday 08:00 (both booked/requested on Sat 17 Jan 2026), and the employer's invitation
    with the citizen's summons.
    The caseworker's "unanswered" alert is timed from the notice's deadline (planned: Mon 19
    Jan + 2 bank days = Wed 21 Jan -> alert Thu 22 Jan 09:00); a notice that never goes out
    cannot go unanswered, so that alert is cancelled with it (by the same event).

    (Before the planner cascaded cancellations, sending this alert crashed: its deadline was
    re-resolved from the cancelled notice.)"""
    letters = simulate(
        opened("2026-01-07 10:00", "2026-01-05"),
        booked("bk", "2026-01-17 10:00", "m1", "2026-01-22 10:00", with_employer=True),
        ev("req", "early_followup_requested", "2026-01-17 11:00",
           {"requested_by": "employer", "requested_on": "2026-01-17"}),
        ev("sb", "standby_granted", "2026-01-18 10:00", {"decided_on": "2026-01-18"}),
    )
    for kind in ("meeting_summons", "meeting_reminder", "early_followup_notice",
                 "meeting_summons_employer"):
        assert one(letters, kind).cancelled_by == "sb", kind
    notice = one(letters, "early_followup_notice")
    assert (notice.send_at, notice.deadline) == (at("2026-01-19 08:00"), date(2026, 1, 21))
    unanswered = one(letters, "early_followup_unanswered")
    assert unanswered.send_at == at("2026-01-22 09:00")
    assert (unanswered.status, unanswered.cancelled_by) == (Status.CANCELLED, "sb")


def test_no_unanswered_alert_for_a_notice_suppressed_on_standby() -> None:
    """An employer request while the case is on standby: the citizen's notice is suppressed
    (never sent), so no "unanswered" alert may reach the caseworker either - the same reason
    the planner cancels that alert when standby cancels a pending notice. It is planned as
    suppressed: notice Wed 14 Jan 2026 + 2 bank days = Thu 15 (1), Fri 16 Jan (2) -> alert
    would be Mon 19 Jan 09:00."""
    letters = simulate(
        opened("2026-01-07 10:00", "2026-01-05"),
        ev("sb", "standby_granted", "2026-01-09 10:00", {"decided_on": "2026-01-09"}),
        ev("req", "early_followup_requested", "2026-01-14 10:00",
           {"requested_by": "employer", "requested_on": "2026-01-14"}),
    )
    notice = one(letters, "early_followup_notice")
    assert (notice.status, notice.deadline) == (Status.SUPPRESSED, date(2026, 1, 16))
    unanswered = one(letters, "early_followup_unanswered")
    assert unanswered.send_at == at("2026-01-19 09:00")
    assert unanswered.status is Status.SUPPRESSED
    assert unanswered.deadline == date(2026, 1, 16)


def test_standby_granted_twice_is_refused() -> None:
    """A case already on standby cannot be put on standby again."""
    with pytest.raises(ConflictError) as info:
        simulate(
            opened("2026-01-07 10:00", "2026-01-05"),
            ev("sb1", "standby_granted", "2026-01-09 10:00", {"decided_on": "2026-01-09"}),
            ev("sb2", "standby_granted", "2026-01-12 10:00", {"decided_on": "2026-01-12"}),
        )
    assert [e.field for e in info.value.errors] == ["type"]


# --- case_closed and refused events ---------------------------------------------------------


def test_case_closed_cancels_every_pending_letter() -> None:
    """Closed Thu 15 Jan 2026: everything still pending is cancelled by the close event;
    letters already sent stay sent; first_meeting_due keeps its earlier cancellation. The
    citizen is told the case is closed (case_closed, planned by the close event)."""
    letters = simulate(
        opened("2026-01-07 10:00", "2026-01-05"),
        booked("bk", "2026-01-14 10:00", "m1", "2026-01-20 10:00"),
        ev("close", "case_closed", "2026-01-15 10:00",
           {"closed_on": "2026-01-15", "reason": "recovered"}),
    )
    status = {x.kind: (x.status, x.cancelled_by) for x in letters}
    assert status == {
        "information_form": (Status.SENT, None),
        "information_form_reminder": (Status.SENT, None),  # Mon 12 Jan, before the close
        "meeting_summons": (Status.SENT, None),
        "information_form_overdue": (Status.CANCELLED, "close"),
        "meeting_reminder": (Status.CANCELLED, "close"),
        "first_meeting_due": (Status.CANCELLED, "bk"),
        "broad_assessment_notice": (Status.CANCELLED, "close"),
        "reassessment_due": (Status.CANCELLED, "close"),
        "reassessment_notice": (Status.CANCELLED, "close"),
        "case_closed": (Status.SENT, None),
    }


def test_events_after_close_are_refused() -> None:
    """After case_closed any event is a conflict naming case_id."""
    with pytest.raises(ConflictError) as info:
        simulate(
            opened("2026-01-07 10:00", "2026-01-05"),
            ev("close", "case_closed", "2026-01-15 10:00",
               {"closed_on": "2026-01-15", "reason": "other"}),
            ev("ret", "information_form_returned", "2026-01-16 10:00",
               {"returned_on": "2026-01-16"}),
        )
    assert [e.field for e in info.value.errors] == ["case_id"]
    assert "closed" in str(info.value)


def test_event_for_unknown_case_is_refused() -> None:
    """An event for a case that was never opened names case_id."""
    with pytest.raises(ConflictError) as info:
        simulate(ev("ret", "information_form_returned", "2026-01-16 10:00",
                    {"returned_on": "2026-01-16"}, case_id="SDP-UNKNOWN"))
    assert [e.field for e in info.value.errors] == ["case_id"]


def test_sick_leave_reported_twice_is_refused() -> None:
    """A second opening event (new event id) for an open case names case_id."""
    with pytest.raises(ConflictError) as info:
        simulate(opened("2026-01-07 10:00", "2026-01-05"),
                 opened("2026-01-08 10:00", "2026-01-05", event_id="open-again"))
    assert [e.field for e in info.value.errors] == ["case_id"]


def test_out_of_order_event_applied_directly_is_refused() -> None:
    """Planner.apply does not sort: an event older than the last applied one names
    occurred_at (the Simulation sorts, so the same events in a file are fine)."""
    opening = opened("2026-01-07 10:00", "2026-01-05")
    plan = PLANNER.apply(None, {}, opening, opening.occurred_at)
    letters = {x.letter_id: x for x in plan.planned}
    late = ev("ret", "information_form_returned", "2026-01-07 09:59",
              {"returned_on": "2026-01-07"})
    with pytest.raises(ConflictError) as info:
        PLANNER.apply(plan.case, letters, late, late.occurred_at)
    assert [e.field for e in info.value.errors] == ["occurred_at"]


def test_simulation_sorts_events_by_occurred_at() -> None:
    """Events given out of order to the Simulation are applied in occurred_at order."""
    opening = opened("2026-01-07 10:00", "2026-01-05")
    returned = ev("ret", "information_form_returned", "2026-01-09 10:00",
                  {"returned_on": "2026-01-09"})
    assert simulate(returned, opening) == simulate(opening, returned)


def test_planner_apply_returns_plan_without_side_effects() -> None:
    """Planner.apply is pure: the letters mapping passed in is not modified, and the plan
    lists the cancellations with their cancelling event."""
    opening = opened("2026-01-07 10:00", "2026-01-05")
    plan = PLANNER.apply(None, {}, opening, opening.occurred_at)
    letters = {x.letter_id: x for x in plan.planned}
    before = dict(letters)
    ret = ev("ret", "information_form_returned", "2026-01-09 10:00",
             {"returned_on": "2026-01-09"})
    plan2 = PLANNER.apply(plan.case, letters, ret, ret.occurred_at)
    assert letters == before
    assert sorted(x.kind for x in plan2.cancelled) == [
        "information_form_overdue", "information_form_reminder"]
    assert all(x.cancelled_by == "ret" for x in plan2.cancelled)
    assert plan2.planned == []


# --- channels ------------------------------------------------------------------------------


def test_channels_for_exempt_citizen() -> None:
    """digital_post=false: every citizen letter is print; employer letters digital_post;
    caseworker letters mail."""
    letters = simulate(
        opened("2026-01-07 10:00", "2026-01-05", digital_post=False),
        booked("bk", "2026-01-14 10:00", "m1", "2026-01-20 10:00", with_employer=True),
        decided("dec", "2026-01-15 10:00"),
    )
    expected = {Recipient.CITIZEN: ChannelName.PRINT,
                Recipient.EMPLOYER: ChannelName.DIGITAL_POST,
                Recipient.CASEWORKER: ChannelName.MAIL}
    assert {x.recipient for x in letters} == set(expected)
    for letter in letters:
        assert letter.channel is expected[letter.recipient], letter.kind


def test_channels_for_digital_citizen() -> None:
    """digital_post=true: citizen letters go by Digital Post."""
    letters = simulate(opened("2026-01-07 10:00", "2026-01-05"))
    for letter in letters:
        want = ChannelName.MAIL if letter.recipient is Recipient.CASEWORKER else (
            ChannelName.DIGITAL_POST)
        assert letter.channel is want, letter.kind


# --- letter ids ----------------------------------------------------------------------------


def _story() -> list[Event]:
    return [
        opened("2026-01-07 10:00", "2026-01-05"),
        booked("bk", "2026-01-14 10:00", "m1", "2026-01-26 10:00", with_employer=True),
        ev("mv1", "meeting_rescheduled", "2026-01-17 12:00",
           {"meeting_id": "m1", "starts_at": at("2026-01-27 10:00").isoformat()}),
        decided("dec", "2026-01-15 10:00"),
    ]


def test_letter_ids_are_deterministic_and_unique() -> None:
    """The same events give the same letter ids; ids are distinct UUIDs with v4 bits."""
    first = simulate(*_story())
    second = simulate(*_story())
    assert [x.letter_id for x in first] == [x.letter_id for x in second]
    ids = [x.letter_id for x in first]
    assert len(set(ids)) == len(ids)
    uuid4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
    assert all(uuid4.match(i) for i in ids)


def test_resubmitted_event_id_is_a_noop() -> None:
    """Re-submitting an event id (even with other content) changes nothing."""
    story = _story()
    again = ev("bk", "meeting_booked", "2026-01-15 09:00", {
        "meeting_id": "m9", "starts_at": at("2026-01-30 10:00").isoformat(),
        "form": "phone", "with_employer": False,
    })
    assert simulate(*story, story[0], again) == simulate(*story)


# --- DST -----------------------------------------------------------------------------------


def test_meeting_reminder_after_spring_forward_is_0900_local() -> None:
    """DST starts Sun 29 Mar 2026. Booked Thu 26 Mar (+01:00) for Tue 31 Mar 10:00: the
    reminder is Mon 30 Mar 09:00 at +02:00 (07:00 UTC)."""
    letters = simulate(
        opened("2026-03-11 10:00", "2026-03-09"),
        booked("bk", "2026-03-26 10:00", "m1", "2026-03-31 10:00"),
    )
    reminder = one(letters, "meeting_reminder")
    assert local_iso(reminder) == "2026-03-30T09:00:00+02:00"
    assert reminder.send_at.astimezone(ZoneInfo("UTC")).hour == 7
    assert local_iso(one(letters, "meeting_summons")) == "2026-03-26T10:00:00+01:00"


def test_weekend_event_across_spring_forward_sends_monday_0800_summer_time() -> None:
    """Reported Sat 28 Mar 2026 12:00 (+01:00): the form goes Mon 30 Mar 08:00 (+02:00);
    30 Mar + 8 = Tue 7 Apr (after Easter Monday; a working day)."""
    form = one(simulate(opened("2026-03-28 12:00", "2026-03-26")), "information_form")
    assert local_iso(form) == "2026-03-30T08:00:00+02:00"
    assert form.deadline == date(2026, 4, 7)
