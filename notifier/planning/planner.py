"""The planner: a pure function of (case state, case letters, event, now) to a Plan.

It never touches Redis or the wall clock; the store and the dry run feed it and persist
what it returns. Deadlines are computed here too, so the worker recomputes them from the
actual send date with exactly the same rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from notifier.calendar import DanishCalendar
from notifier.errors import PermanentError
from notifier.identifiers import letter_id
from notifier.intake.events import Event
from notifier.models import CaseState, ChannelName, Letter, Recipient, Status
from notifier.planning.reach import lost_to_standby, notice_reached, unnotified_by_standby
from notifier.planning.reducer import reduce
from notifier.planning.rules import SCOPES, LetterRule, OnlyIf, RuleSet, Trigger, When


class MissingReference(PermanentError):
    """A rule refers to a date the case does not have (e.g. its letter died)."""


@dataclass(frozen=True)
class Plan:
    case: CaseState
    planned: list[Letter] = field(default_factory=list)
    cancelled: list[Letter] = field(default_factory=list)


class Planner:
    def __init__(self, rules: RuleSet, calendar: DanishCalendar) -> None:
        self.rules = rules
        self.calendar = calendar
        self._dated: dict[str | None, Planner] = {}

    def for_case(self, case: CaseState) -> Planner:
        """The planner with the rules in force for the case's opening date (issue 14:
        rules with an effective date apply to cases opened from that date)."""
        rules = self.rules.for_opening(case.opened_on)
        if rules is self.rules:
            return self
        if rules.version not in self._dated:
            self._dated[rules.version] = Planner(rules, self.calendar)
        return self._dated[rules.version]

    # --- events -----------------------------------------------------------------------
    def apply(
        self, case: CaseState | None, letters: Mapping[str, Letter], event: Event, now: datetime
    ) -> Plan:
        """What ``event`` does to a case. Raises ConflictError if the case's state forbids it."""
        new_case = reduce(case, event)
        if case is None:
            new_case.opened_on = self.calendar.local_date(event.occurred_at)
        return self.for_case(new_case)._apply(new_case, letters, event, now)

    def _apply(self, new_case: CaseState, letters: Mapping[str, Letter], event: Event,
               now: datetime) -> Plan:
        doomed = {
            letter.letter_id
            for letter in letters.values()
            if (letter.status.pending or letter.status is Status.HELD)
            and self._cancels(event, new_case, letter)
        }
        doomed |= self._dependents(letters, doomed)
        cancelled = [
            letters[i].with_status(Status.CANCELLED, cancelled_by=event.event_id)
            for i in sorted(doomed)
        ]
        planned = _Planning(self, new_case, letters, event, now).run()
        if any(t.each == "meeting" for r in self.rules.triggered_by(event.type)
               for t in r.triggers):
            for meeting_id in sorted(new_case.meetings):
                planned += _Planning(self, new_case, letters, event, now, meeting_id).run()
        planned.sort(key=lambda letter: (letter.send_at, letter.kind))
        return Plan(case=new_case, planned=planned, cancelled=cancelled)

    @property
    def notice_kinds(self) -> list[str]:
        """Letter kinds that tell the citizen when a meeting is."""
        return [kind for kind, rule in self.rules.letters.items() if rule.notice]

    def _dependents(self, letters: Mapping[str, Letter], doomed: set[str]) -> set[str]:
        """Pending letters timed from a letter being cancelled (same cause), transitively:
        an alert that the early follow-up notice went unanswered makes no sense if the
        notice itself never went out."""
        found: set[str] = set()
        frontier = set(doomed)
        while frontier:
            gone = {(letters[i].cause, letters[i].kind) for i in frontier}
            frontier = {
                letter.letter_id
                for letter in letters.values()
                if letter.status.pending
                and letter.letter_id not in doomed | found
                and letter.kind in self.rules.letters
                and any((letter.cause, kind) in gone
                        for kind in _letter_dependencies(self.rules.letters[letter.kind]))
            }
            found |= frontier
        return found

    def _cancels(self, event: Event, case: CaseState, letter: Letter) -> bool:
        if event.type == "case_closed":
            return True
        rule = self.rules.letters.get(letter.kind)
        if rule is None:
            return False
        if event.type == "standby_granted":
            return rule.suppress_on_standby
        if event.type not in rule.cancel_on:
            return False
        for key, expected in rule.cancel_when.get(event.type, {}).items():
            if getattr(event.data, key.partition(".")[2], None) != expected:
                return False
        scope_field = SCOPES.get(rule.scope or "")
        event_scope = getattr(event.data, scope_field, None) if scope_field else None
        return event_scope is None or event_scope == letter.scope

    # --- deadlines --------------------------------------------------------------------
    def deadlines(
        self, letter: Letter, case: CaseState, letters: Mapping[str, Letter], send_date: date
    ) -> dict[str, date]:
        """The letter's deadlines (``deadline`` and any extras) for an actual send date."""
        rule = self.for_case(case).rules.letters.get(letter.kind)
        if rule is None:
            return {"deadline": letter.deadline} if letter.deadline else {}
        refs = _References(self.calendar, case, letters, {}, None, letter.scope,
                           by_post=letter.channel is ChannelName.PRINT)
        out = {}
        if rule.deadline:
            out["deadline"] = refs.date_of(rule.deadline, send_date)
        for name, when in rule.extra_deadlines.items():
            out[name] = refs.date_of(when, send_date)
        return out

    def needs_letters(self, letter: Letter, case: CaseState) -> bool:
        """Whether ``deadlines`` for this letter refers to the case's other letters
        (``letter.<kind>...``): only then must a worker read them (issue 16)."""
        rule = self.for_case(case).rules.letters.get(letter.kind)
        if rule is None:
            return False
        whens = [*([rule.deadline] if rule.deadline else []), *rule.extra_deadlines.values()]
        return any(when.base.startswith("letter.") for when in whens)

    def channel_for(self, recipient: Recipient, case: CaseState) -> ChannelName:
        if recipient is Recipient.CASEWORKER:
            return ChannelName.MAIL
        if recipient is Recipient.CITIZEN and not case.parties["citizen"]["digital_post"]:
            return ChannelName.PRINT
        return ChannelName.DIGITAL_POST


class _Planning:
    """Planning the letters one event triggers; letters may refer to each other."""

    def __init__(
        self,
        planner: Planner,
        case: CaseState,
        letters: Mapping[str, Letter],
        event: Event,
        now: datetime,
        each_meeting: str | None = None,
    ) -> None:
        self.planner = planner
        self.case = case
        self.event = event
        self.now = now
        self.each_meeting = each_meeting  # planning the ``each = "meeting"`` triggers for it
        self.fresh: dict[str, Letter] = {}  # kind -> the first letter of it this event plans
        self.refs_base = letters
        self.done: set[str] = set()
        self.planned: list[Letter] = []

    def run(self) -> list[Letter]:
        for rule in self.planner.rules.triggered_by(self.event.type):
            self._plan(rule)
        return sorted(self.planned, key=lambda letter: (letter.send_at, letter.kind))

    def _plan(self, rule: LetterRule) -> None:
        """Plan ``rule``'s letters once, after the letters it refers to."""
        if rule.kind in self.done or not any(self._matches(t, rule) for t in rule.triggers):
            return
        self.done.add(rule.kind)
        for dependency in _letter_dependencies(rule):
            self._plan(self.planner.rules.letters[dependency])
        if rule.only_if and not any(self._holds(cond, rule) for cond in rule.only_if):
            return
        scope = self._scope(rule)
        channel = self.planner.channel_for(rule.recipient, self.case)
        by_post = channel is ChannelName.PRINT
        refs = _References(
            self.planner.calendar, self.case, self.refs_base, self.fresh, self.event, scope,
            by_post=by_post,
        )
        for index, when in enumerate(rule.send):
            raw = refs.instant_of(when, self.now, self.planner.calendar)
            if raw is None or (rule.future_only and raw < self.now):
                continue
            if rule.paper_ahead and not when.is_now:
                # Posted early so it arrives when the Digital Post letter would be read.
                raw = self.planner.calendar.posted_for(raw, by_post=by_post)
            if not refs.after_all(raw, rule.only_after):
                continue
            send_at = self.planner.calendar.send_window(max(raw, self.now))
            send_date = self.planner.calendar.local_date(send_at)
            letter = Letter(
                letter_id=letter_id(self.case.case_id, self.event.event_id, rule.kind, scope,
                                    str(index)),
                case_id=self.case.case_id,
                kind=rule.kind,
                recipient=rule.recipient,
                channel=channel,
                send_at=send_at,
                status=self._initial_status(rule),
                cause=self.event.event_id,
                scope=scope,
                deadline=refs.date_of(rule.deadline, send_date) if rule.deadline else None,
                params=self._params(rule),
                rules_version=self.planner.rules.version,
            )
            self.fresh.setdefault(rule.kind, letter)
            self.planned.append(letter)

    def _initial_status(self, rule: LetterRule) -> Status:
        suppressed = self.case.standby and rule.suppress_on_standby
        # A letter timed from a suppressed one (same event) is pointless too.
        depends_on_suppressed = any(
            self.fresh.get(kind) is not None and self.fresh[kind].status is Status.SUPPRESSED
            for kind in _letter_dependencies(rule)
        )
        if suppressed or depends_on_suppressed:
            return Status.SUPPRESSED
        return Status.HELD if self._held(rule) else Status.SCHEDULED

    def _held(self, rule: LetterRule) -> bool:
        """A stop for a missed meeting whose notice never reached the citizen waits for a
        caseworker: no citizen is stopped for a meeting nobody told them about."""
        hold = rule.hold
        if hold is None or not _event_matches(self.event, hold.when):
            return False
        meeting_id = getattr(self.event.data, hold.meeting.partition(".")[2], None)
        meeting = self.case.meetings.get(str(meeting_id)) if meeting_id else None
        if meeting is None:
            return False
        return not notice_reached(self.planner.calendar, meeting, self.refs_base,
                                  self.planner.notice_kinds)

    def _holds(self, cond: OnlyIf, rule: LetterRule) -> bool:
        """``only_if``: the letter of ``cond.letter`` this event plans is as required."""
        other = self.fresh.get(cond.letter)
        if other is None:
            return False
        if cond.status and other.status.value != cond.status:
            return False
        if cond.channel and other.channel.value != cond.channel:
            return False
        if cond.arrives_after:
            calendar = self.planner.calendar
            arrives = calendar.receipt_date(calendar.local_date(other.send_at),
                                            by_post=other.channel is ChannelName.PRINT)
            starts = self.case.meetings[self._scope(rule)].starts_at
            return arrives >= calendar.local_date(starts)
        return True

    def _scope(self, rule: LetterRule) -> str:
        if self.each_meeting is not None:
            return self.each_meeting
        scope_field = SCOPES.get(rule.scope or "")
        return str(getattr(self.event.data, scope_field)) if scope_field else ""

    def _params(self, rule: LetterRule) -> dict[str, str]:
        """Event details a letter must print that the case state does not keep."""
        params: dict[str, str] = {}
        if rule.scope == "meeting":
            meeting = self.case.meetings[self._scope(rule)]
            if meeting.previous_starts_at:
                params["previous_starts_at"] = meeting.previous_starts_at.isoformat()
        reason = getattr(self.event.data, "reason", None)
        if self.event.type == "meeting_cancelled" and reason:
            params["reason"] = reason
        if getattr(self.event.data, "stop_reason", None) == "non_cooperation":
            # Counted from the case's letters, so a stop a caseworker cancelled while it
            # was held does not count (sygedagpengeloven § 21; seeds 002).
            earlier = [
                letter for letter in self.refs_base.values()
                if letter.kind == rule.kind and letter.params.get("stop_reason")
                == "non_cooperation" and letter.status is not Status.CANCELLED
            ]
            params["stop_reason"] = "non_cooperation"
            params["stop_number"] = str(len(earlier) + 1)
        return params

    def _matches(self, trigger: Trigger, rule: LetterRule) -> bool:
        if trigger.event != self.event.type or trigger.each != (
                None if self.each_meeting is None else "meeting"):
            return False
        for key, expected in trigger.when.items():
            source, _, attr = key.partition(".")
            if source == "event":
                actual = getattr(self.event.data, attr, None)
            elif attr == "standby_unnotified":
                meeting = self.case.meetings[self._scope(rule)]
                actual = unnotified_by_standby(self.case, meeting, self.refs_base,
                                               self.planner.notice_kinds, self.now)
            elif attr == "standby_lost":
                actual = lost_to_standby(self.case, self.case.meetings[self._scope(rule)],
                                         rule.kind, self.refs_base, self.now)
            else:
                actual = getattr(self.case.meetings[self._scope(rule)], attr, None)
            if actual != expected:
                return False
        return True


def _event_matches(event: Event, conditions: Mapping[str, Any]) -> bool:
    return all(getattr(event.data, key.partition(".")[2], None) == expected
               for key, expected in conditions.items())


def _letter_dependencies(rule: LetterRule) -> list[str]:
    refs = [w.base for w in rule.send] + list(rule.only_after)
    if rule.deadline:
        refs.append(rule.deadline.base)
    found = [ref.split(".")[1] for ref in refs if ref.startswith("letter.")]
    return found + [cond.letter for cond in rule.only_if]


class _References:
    """Resolves rule references (``fact.x``, ``letter.k.deadline``, ...) for one letter."""

    def __init__(
        self,
        calendar: DanishCalendar,
        case: CaseState,
        letters: Mapping[str, Letter],
        fresh: Mapping[str, Letter],
        event: Event | None,
        scope: str,
        *,
        by_post: bool = False,
    ) -> None:
        self.calendar = calendar
        self.case = case
        self.letters = letters
        self.fresh = fresh
        self.event = event
        self.scope = scope
        self.by_post = by_post  # the letter goes by paper post: deadlines from its arrival

    def value(self, ref: str, *, fresh_only: bool = False) -> date | datetime | None:
        source, _, rest = ref.partition(".")
        if source == "letter":
            kind, _, attr = rest.partition(".")
            letter = self.fresh.get(kind) or (None if fresh_only else self._latest(kind))
            return None if letter is None else getattr(letter, attr)
        if source == "fact":
            return _as_date_or_time(self.case.facts.get(rest))
        if source == "meeting":
            return self.case.meetings[self.scope].starts_at
        if source == "complaint":
            record = self.case.facts.get("complaints", {}).get(self.scope, {})
            return _as_date_or_time(record.get(rest))
        if source == "decision":
            return _as_date_or_time(self.case.decisions.get(self.scope, {}).get(rest))
        if source == "event" and self.event is not None:
            return _as_date_or_time(getattr(self.event.data, rest, None))
        return None

    def _latest(self, kind: str) -> Letter | None:
        candidates = [
            letter
            for letter in self.letters.values()
            if letter.kind == kind
            and letter.scope == self.scope
            and letter.status not in (Status.CANCELLED, Status.DEAD)
        ]
        return max(candidates, key=lambda letter: letter.send_at, default=None)

    def date_of(self, when: When, send_date: date) -> date:
        if when.base == "receipt_date":
            base: date | datetime | None = self.calendar.receipt_date(
                send_date, by_post=self.by_post)
        else:
            base = send_date if when.base == "send_date" else self.value(when.base)
        if base is None:
            raise MissingReference(f"{when.base}: not known for this case (cancelled or dead?)")
        day = base if not isinstance(base, datetime) else self.calendar.local_date(base)
        if when.offset:
            day = self.calendar.add(day, when.offset)
        day = self.calendar.roll(day, when.roll)
        return self.calendar.add(day, when.then) if when.then else day

    def instant_of(self, when: When, now: datetime, calendar: DanishCalendar) -> datetime | None:
        if when.is_now:
            return now
        base = self.value(when.base)
        if base is None:
            return None
        if isinstance(base, datetime) and when.offset is None and when.at is None:
            return base
        day = self.date_of(when, calendar.local_date(now))
        return calendar.at_local(day, when.at or calendar.window_start)

    def after_all(self, instant: datetime, refs: tuple[str, ...]) -> bool:
        """Whether ``instant`` is after the first of ``refs`` that resolves (same event first)."""
        if not refs:
            return True
        for fresh_only in (True, False):
            for ref in refs:
                other = self.value(ref, fresh_only=fresh_only)
                if isinstance(other, datetime):
                    return instant > other
        return True


def _as_date_or_time(value: Any) -> date | datetime | None:
    if value is None or isinstance(value, date):
        return value
    text = str(value)
    return datetime.fromisoformat(text) if "T" in text else date.fromisoformat(text)
