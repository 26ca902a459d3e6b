"""Loading schedules/*.toml: the shipped rules load; broken files give a ConfigError that
names the file, the rule and the field; a municipality's override changes the plan.

Dates are hand-computed: 7 Jan 2026 is a Wednesday; no holidays in January after the 1st.
"""

from __future__ import annotations

import shutil
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from notifier.calendar import DanishCalendar, Offset, Roll, Unit
from notifier.errors import ConfigError
from notifier.intake.events import parse_event
from notifier.models import Recipient, Status
from notifier.planning.planner import Planner
from notifier.planning.rules import RuleSet, load_rules
from notifier.planning.simulation import NumberedEvent, Simulation
from notifier.settings import PACKAGE_DIR

CPH = ZoneInfo("Europe/Copenhagen")
SHIPPED = PACKAGE_DIR / "schedules"
FILE = "sygedagpenge.toml"

ALL_KINDS = {
    "information_form", "information_form_reminder", "information_form_overdue",
    "first_meeting_due", "broad_assessment_notice", "reassessment_due",
    "early_followup_notice", "early_followup_unanswered", "early_followup_book_meeting",
    "meeting_summons", "meeting_summons_employer", "meeting_reminder", "meeting_rescheduled",
    "meeting_rescheduled_employer", "meeting_cancelled", "meeting_cancelled_employer",
    "decision",
    # issue 11 (schedules/retssikkerhed.toml)
    "meeting_phone_contact", "early_followup_phone_contact", "decision_held", "hearing",
    "hearing_unanswered", "complaint_received", "complaint_reconsideration_due",
    "complaint_forwarded", "standby_started", "standby_ended", "case_closed",
    "reassessment_notice",
}


def rules_dir(tmp_path: Path, old: str | None = None, new: str = "") -> Path:
    """A copy of the shipped rules in tmp_path, with ``old`` (which must occur exactly once in
    sygedagpenge.toml) replaced by ``new``."""
    target = tmp_path / "schedules"
    shutil.copytree(SHIPPED, target)
    if old is not None:
        path = target / FILE
        text = path.read_text(encoding="utf-8")
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
        path.write_text(text.replace(old, new), encoding="utf-8")
    return target


def config_error(directory: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_rules(directory)
    return str(info.value)


# --- the shipped rules ---------------------------------------------------------------------


def test_shipped_rules_load() -> None:
    """The shipped rules load and define every letter kind of RULES.md (but adhoc)."""
    rules = load_rules(SHIPPED)
    assert isinstance(rules, RuleSet)
    assert set(rules.letters) == ALL_KINDS


def test_shipped_rules_match_rules_md_defaults() -> None:
    """A few defaults read back as RULES.md states them."""
    rules = load_rules(SHIPPED).letters
    form = rules["information_form"]
    assert form.recipient is Recipient.CITIZEN
    assert form.deadline is not None
    assert (form.deadline.base, form.deadline.offset, form.deadline.roll) == (
        "receipt_date", Offset(8, Unit.DAYS), Roll.FORWARD)
    due = rules["first_meeting_due"]
    assert due.deadline is not None
    assert (due.deadline.offset, due.deadline.roll) == (Offset(55, Unit.DAYS), Roll.BACK)
    assert due.cancel_on == frozenset({"meeting_booked"})
    notice = rules["early_followup_notice"]
    assert notice.deadline is not None
    assert notice.deadline.offset == Offset(2, Unit.BANK_DAYS)
    assert rules["decision"].deadline is not None
    assert rules["decision"].deadline.offset == Offset(4, Unit.WEEKS)
    assert rules["decision"].scope == "decision"
    assert rules["meeting_reminder"].suppress_on_standby
    assert not rules["information_form_overdue"].suppress_on_standby
    assert not rules["broad_assessment_notice"].suppress_on_standby


def test_calendar_toml_is_not_a_rule_file(tmp_path: Path) -> None:
    """calendar.toml lives beside the rules but is not read as one."""
    directory = rules_dir(tmp_path)
    (directory / "calendar.toml").write_text("this is = not [rules", encoding="utf-8")
    assert set(load_rules(directory).letters) == ALL_KINDS


def test_empty_directory_is_an_error(tmp_path: Path) -> None:
    """No rule files at all is a ConfigError naming the directory."""
    assert str(tmp_path) in config_error(tmp_path)


# --- broken files --------------------------------------------------------------------------


BROKEN = [
    pytest.param(
        "[letters.information_form]\n", "[letters.information_form]\ncolour = \"red\"\n",
        "letters.information_form.colour", "unknown key", id="unknown-key"),
    pytest.param(
        'recipient = "citizen"\non = ["sick_leave_reported"]\nsend = "now"',
        'recipient = "minister"\non = ["sick_leave_reported"]\nsend = "now"',
        "letters.information_form.recipient", "citizen, employer or caseworker",
        id="bad-recipient"),
    pytest.param(
        'add = "8 days"', 'add = "8 fortnights"',
        "letters.information_form.deadline.add", "fortnights", id="bad-offset-unit"),
    pytest.param(
        'add = "8 days"', 'add = "eight days"',
        "letters.information_form.deadline.add", "offset", id="bad-offset-shape"),
    pytest.param(
        'add = "8 days", roll = "forward"', 'add = "8 days", roll = "sideways"',
        "letters.information_form.deadline.roll", "forward, back or none", id="bad-roll"),
    pytest.param(
        'add = "-3 working_days", at = "09:00"', 'add = "-3 working_days", at = "9 o\'clock"',
        "letters.information_form_reminder.send.at", "09:00", id="bad-at"),
    pytest.param(
        'add = "-3 working_days", at = "09:00"', 'add = "-3 working_days", at = "25:00"',
        "letters.information_form_reminder.send.at", "09:00", id="bad-at-hour"),
    pytest.param(
        'on = ["meeting_booked", "meeting_rescheduled",\n',
        'on = ["meeting_booked", "meeting_moved",\n',
        "letters.meeting_reminder.on[1].event", "meeting_moved", id="unknown-on-event"),
    pytest.param(
        '{ "event.requested_by" = "citizen" }', '{ "event.requested_from" = "citizen" }',
        "letters.early_followup_book_meeting.on[0].when.event.requested_from", "not a field",
        id="unknown-when-field"),
    pytest.param(
        '{ event = "meeting_booked", when = { "meeting.with_employer" = true } }',
        '{ event = "meeting_booked", when = { "meeting.colour" = true } }',
        "letters.meeting_summons_employer.on[0].when.meeting.colour", "not a field",
        id="unknown-when-meeting-field"),
    pytest.param(
        'send = { from = "fact.first_absence_day", add = "42 days"',
        'send = { from = "fact.last_day", add = "42 days"',
        "letters.first_meeting_due.send.from", "fact.last_day", id="unknown-fact"),
    pytest.param(
        'recipient = "citizen"\non = ["sick_leave_reported"]\nsend = "now"',
        'recipient = "citizen"\non = ["sick_leave_reported"]\nsend = []',
        "letters.information_form.send", "at least one", id="empty-send"),
    pytest.param(
        'recipient = "citizen"\non = ["sick_leave_reported"]\nsend = "now"',
        'on = ["sick_leave_reported"]\nsend = "now"',
        "letters.information_form.recipient", "required", id="missing-recipient"),
]


@pytest.mark.parametrize(("old", "new", "field", "hint"), BROKEN)
def test_broken_rule_names_file_rule_and_field(
    tmp_path: Path, old: str, new: str, field: str, hint: str
) -> None:
    """A broken rule is a ConfigError '<file>: letters.<kind>.<field>: <why>'."""
    message = config_error(rules_dir(tmp_path, old, new))
    assert FILE in message
    assert field in message
    assert hint in message


def test_unknown_event_in_cancel_on_names_file_rule_and_field(tmp_path: Path) -> None:
    """cancel_on naming an unknown event: the message names the file, the rule and cancel_on.

    Exposes a bug: rules._check_references raises without the file name."""
    message = config_error(rules_dir(
        tmp_path, 'cancel_on = ["early_followup_answered"]', 'cancel_on = ["early_reply"]'))
    assert "letters.early_followup_unanswered.cancel_on" in message
    assert "early_reply" in message
    assert FILE in message


@pytest.mark.parametrize(
    ("old", "new", "rule_field"),
    [
        pytest.param('only_after = ["letter.information_form.send_at"]',
                     'only_after = ["letter.information_sheet.send_at"]',
                     "letters.information_form_reminder.only_after", id="only_after"),
        pytest.param('deadline = { from = "letter.early_followup_notice.deadline" }',
                     'deadline = { from = "letter.early_notice.deadline" }',
                     "letters.early_followup_unanswered.deadline", id="deadline"),
    ],
)
def test_reference_to_unknown_letter_names_file_rule_and_field(
    tmp_path: Path, old: str, new: str, rule_field: str
) -> None:
    """A reference to a letter kind no rule defines: file, rule, field and the bad name.

    Exposes a bug: rules._check_references names neither the file nor the field."""
    message = config_error(rules_dir(tmp_path, old, new))
    assert new.split(".")[1] in message  # the unknown kind
    assert rule_field in message
    assert FILE in message


def test_only_after_must_be_a_letter_send_time(tmp_path: Path) -> None:
    """only_after that is not letter.<kind>.send_at (a typo) is refused, not ignored."""
    message = config_error(rules_dir(
        tmp_path, 'only_after = ["letter.information_form.send_at"]',
        'only_after = ["letter.information_form.sent_at"]'))
    assert FILE in message
    assert "letters.information_form_reminder.only_after" in message


def test_deadline_cannot_count_from_the_event(tmp_path: Path) -> None:
    """A deadline is recomputed at send time, so it may not count from event.<field>."""
    message = config_error(rules_dir(
        tmp_path, 'deadline = { from = "receipt_date", add = "8 days", roll = "forward" }',
        'deadline = { from = "event.first_absence_day", add = "8 days", roll = "forward" }'))
    assert FILE in message
    assert "letters.information_form.deadline" in message


@pytest.mark.parametrize(
    ("old", "new", "rule"),
    [
        # meeting_reminder counts from meeting.starts_at but loses scope = "meeting".
        pytest.param('scope = "meeting"\nsend = { from = "meeting.starts_at"',
                     'send = { from = "meeting.starts_at"',
                     "letters.meeting_reminder", id="meeting-ref-without-scope"),
        # early_followup_requested carries no meeting_id: scope = "meeting" is unresolvable.
        pytest.param('send = "now"\ndeadline = { from = "fact.early_followup_requested_on"',
                     'scope = "meeting"\nsend = "now"\n'
                     'deadline = { from = "fact.early_followup_requested_on"',
                     "letters.early_followup_book_meeting", id="scope-field-not-in-event"),
    ],
)
def test_scope_inconsistencies_are_config_errors(
    tmp_path: Path, old: str, new: str, rule: str
) -> None:
    """A rule whose references or triggers cannot be resolved for its scope must be refused
    when the rules load, naming file and rule - not crash the planner on the first event.

    Exposes a bug: both load fine; planning then raises KeyError('') (planner._References
    .value: case.meetings[""]) or AttributeError (planner._Planning._scope: the event data
    has no meeting_id), and `notifier plan` dies with a traceback."""
    message = config_error(rules_dir(tmp_path, old, new))
    assert FILE in message
    assert rule in message
    assert "scope" in message


def test_invalid_toml_names_file_and_line(tmp_path: Path) -> None:
    """Unparseable TOML: the message names the file and where the parser stopped."""
    directory = rules_dir(tmp_path)
    with (directory / FILE).open("a", encoding="utf-8") as fh:
        fh.write("\n[letters.broken\nrecipient = \n")
    message = config_error(directory)
    assert FILE in message
    assert "not valid TOML" in message
    assert "line" in message


def test_unknown_top_level_key(tmp_path: Path) -> None:
    """A stray top-level table is named."""
    message = config_error(rules_dir(tmp_path, "[letters.information_form]\n",
                                         "[extras]\n[letters.information_form]\n"))
    assert FILE in message
    assert "extras" in message


def test_letter_defined_in_two_files(tmp_path: Path) -> None:
    """The same letter kind in two files is an error naming the second file and the kind."""
    directory = rules_dir(tmp_path)
    (directory / "zz_local.toml").write_text(
        'version = 1\n[letters.decision]\nrecipient = "citizen"\n'
        'on = ["decision_made"]\nsend = "now"\n', encoding="utf-8")
    message = config_error(directory)
    assert "zz_local.toml" in message
    assert "letters.decision" in message


# --- a municipality override ---------------------------------------------------------------


def _plan(directory: Path, *events: dict[str, Any]) -> list[Any]:
    planner = Planner(load_rules(directory), DanishCalendar(CPH))
    numbered = [NumberedEvent(i, parse_event(e)) for i, e in enumerate(events, start=1)]
    return Simulation(planner).run(numbered)


OPEN = {
    "event_id": "open", "type": "sick_leave_reported", "case_id": "SDP-T-9",
    "occurred_at": "2026-01-07T10:00:00+01:00",
    "data": {
        "first_absence_day": "2026-01-05",
        "citizen": {"cpr": "0706851234", "name": "Mette Hansen",
                    "address": {"street": "Vestergade 12", "postcode": "2630", "city": "Taastrup"},
                    "digital_post": True},
        "caseworker": {"id": "cw-1", "name": "Lise Jensen", "email": "lise@eksempel.dk"},
    },
}


def _override(tmp_path: Path) -> Path:
    directory = rules_dir(tmp_path, 'add = "8 days"', 'add = "14 days"')
    path = directory / FILE
    text = path.read_text(encoding="utf-8")
    base = 'from = "letter.information_form.deadline"'
    old = f'send = {{ {base}, add = "-3 working_days", at = "09:00" }}'
    new = (f'send = [\n'
           f'  {{ {base}, add = "-3 working_days", at = "09:00" }},\n'
           f'  {{ {base}, add = "-1 working_days", at = "10:30" }},\n'
           f']')
    assert text.count(old) == 1
    path.write_text(text.replace(old, new), encoding="utf-8")
    return directory


def test_municipality_override_14_days_and_two_reminders(tmp_path: Path) -> None:
    """Deadline '14 days' and two reminder entries: form sent Wed 7 Jan 2026 -> deadline
    Wed 21 Jan 2026 (working). Reminder 1: 3 working days back = Tue 20 (1), Mon 19 (2),
    Fri 16 Jan (3) at 09:00; reminder 2: 1 working day back = Tue 20 Jan at 10:30. Overdue:
    Thu 22 Jan 09:00. Both reminders carry the 21 Jan deadline and have distinct ids."""
    letters = _plan(_override(tmp_path), OPEN)
    form = [x for x in letters if x.kind == "information_form"]
    assert [x.deadline for x in form] == [date(2026, 1, 21)]
    reminders = sorted((x for x in letters if x.kind == "information_form_reminder"),
                       key=lambda x: x.send_at)
    assert [x.send_at for x in reminders] == [
        datetime(2026, 1, 16, 9, 0, tzinfo=CPH), datetime(2026, 1, 20, 10, 30, tzinfo=CPH)]
    assert [x.deadline for x in reminders] == [date(2026, 1, 21)] * 2
    assert len({x.letter_id for x in reminders}) == 2
    overdue = [x for x in letters if x.kind == "information_form_overdue"]
    assert [x.send_at for x in overdue] == [datetime(2026, 1, 22, 9, 0, tzinfo=CPH)]


def test_override_reminders_both_cancelled_by_form_returned(tmp_path: Path) -> None:
    """Returned Thu 15 Jan 2026: both pending reminders are cancelled by that event."""
    returned = {"event_id": "ret", "type": "information_form_returned", "case_id": "SDP-T-9",
                "occurred_at": "2026-01-15T10:00:00+01:00",
                "data": {"returned_on": "2026-01-15"}}
    letters = _plan(_override(tmp_path), OPEN, returned)
    reminders = [x for x in letters if x.kind == "information_form_reminder"]
    assert len(reminders) == 2
    assert all(x.status is Status.CANCELLED and x.cancelled_by == "ret" for x in reminders)


def test_shipped_rules_give_8_day_deadline_for_comparison() -> None:
    """The same event with the shipped rules: 7 Jan + 8 = Thu 15 Jan 2026, one reminder."""
    letters = _plan(SHIPPED, OPEN)
    assert [x.deadline for x in letters if x.kind == "information_form"] == [date(2026, 1, 15)]
    assert len([x for x in letters if x.kind == "information_form_reminder"]) == 1
