"""Load and validate ``schedules/*.toml``: which event plans which letter, when, to whom.

Rules are data. A reference names where a date or instant comes from:

- ``now``: when the event is applied (the letter then waits for the send window);
- ``send_date``: the letter's own send date (deadlines only);
- ``event.<field>``: a date or date-time in the event's data;
- ``fact.<name>``: a date the case remembers (``first_absence_day``, ...);
- ``meeting.starts_at``: the meeting the letter is about;
- ``letter.<kind>.send_at`` / ``letter.<kind>.deadline``: another letter of the case,
  preferring one planned by the same event;
- ``receipt_date``: the day the recipient has the letter (deadlines only): the send date
  for Digital Post, ``postal_days`` working days later for paper post (RULES.md);
- ``complaint.received_on``, ``decision.effective_from``: the scope's own record.

Issue 11 added, per rule: ``each = "meeting"`` on a trigger (plan once per booked meeting
that meets the ``when`` conditions, e.g. ``meeting.standby_unnotified``), ``notice``
(the letter tells the citizen when a meeting is), ``hold`` (plan it ``held`` when the
meeting the event names was never notified), ``only_if`` (plan only when a letter planned
by the same event is held, goes by print, or arrives after the meeting), ``paper_ahead``
(post a paper letter early so it arrives when the Digital Post one would),
``future_only`` (skip a send time already past), and conditional ``cancel_on`` entries.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, time
from itertools import pairwise
from pathlib import Path
from typing import Any

from notifier.calendar import Offset, Roll
from notifier.errors import ConfigError
from notifier.intake.events import DATA_MODELS
from notifier.models import Recipient

FACTS = frozenset({"first_absence_day", "early_followup_requested_on"})
SCOPES = {"meeting": "meeting_id", "decision": "decision_id", "hearing": "hearing_id",
          "complaint": "complaint_id"}
# standby_unnotified: the meeting is ahead and the citizen's latest notice of it was
# suppressed or cancelled by standby; standby_lost: the same for the rule's own latest
# letter of the meeting (its reminder) (both computed by the planner).
MEETING_FIELDS = frozenset({"starts_at", "with_employer", "form", "standby_unnotified",
                            "standby_lost"})
SCOPE_BASES = frozenset({"complaint.received_on", "decision.effective_from"})
ONLY_IF_KEYS = {"letter", "status", "channel", "arrives_after"}


@dataclass(frozen=True)
class When:
    """When to send, or which date a deadline counts from."""

    base: str
    offset: Offset | None = None
    roll: Roll = Roll.NONE
    at: time | None = None  # a local wall-clock time; None keeps the instant
    then: Offset | None = None  # a second offset, after rolling (issue 11)

    @property
    def is_now(self) -> bool:
        return self.base == "now"


@dataclass(frozen=True)
class Trigger:
    event: str
    when: dict[str, Any] = field(default_factory=dict)
    each: str | None = None  # "meeting": plan once per meeting of the case that matches


@dataclass(frozen=True)
class Hold:
    """Plan the letter ``held`` when ``when`` matches and the meeting named by ``meeting``
    (an event field) never reached the citizen."""

    meeting: str
    when: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OnlyIf:
    """Plan the letter only if the letter of ``letter`` this event plans is so."""

    letter: str
    status: str | None = None
    channel: str | None = None
    arrives_after: str | None = None  # "meeting.starts_at": its receipt date is not before


@dataclass(frozen=True)
class LetterRule:
    kind: str
    recipient: Recipient
    triggers: tuple[Trigger, ...]
    send: tuple[When, ...]  # one letter per entry (a municipality may want two reminders)
    deadline: When | None = None
    extra_deadlines: dict[str, When] = field(default_factory=dict)
    only_after: tuple[str, ...] = ()
    cancel_on: frozenset[str] = frozenset()
    scope: str | None = None
    suppress_on_standby: bool = False
    source: str = ""  # the file it came from, for error messages
    cancel_when: dict[str, dict[str, Any]] = field(default_factory=dict)  # event -> conditions
    notice: bool = False
    hold: Hold | None = None
    only_if: tuple[OnlyIf, ...] = ()  # any of them
    paper_ahead: bool = False
    future_only: bool = False


@dataclass(frozen=True)
class Overlay:
    """Issue 14: a rule file with ``effective_from``: its letters replace the base rules'
    of the same kind for cases opened on or after that (local) date."""

    effective_from: date
    label: str
    letters: dict[str, LetterRule]
    source: str = ""


@dataclass(frozen=True)
class RuleSet:
    letters: dict[str, LetterRule]
    # Issue 14: the files' own ``version`` string(s), and the content hash of the rule files
    # and the catalog (set by ``versions.stamp``); a letter records ``version``.
    label: str | None = None
    digest: str | None = None
    overlays: tuple[Overlay, ...] = ()

    @property
    def version(self) -> str | None:
        if self.label is None and self.digest is None:
            return None
        return "+".join(x for x in (self.label, self.digest) if x)

    def for_opening(self, opened_on: date | None) -> RuleSet:
        """The rules for a case opened on ``opened_on`` (unknown: opened before any dated
        file, so the base rules): every overlay in force by then, later ones last."""
        active = [o for o in self.overlays if opened_on is not None
                  and o.effective_from <= opened_on]
        if not active:
            return self
        letters = dict(self.letters)
        for overlay in active:
            letters.update(overlay.letters)
        return RuleSet(letters, label=active[-1].label, digest=self.digest)

    def triggered_by(self, event_type: str) -> list[LetterRule]:
        return [r for r in self.letters.values() if any(t.event == event_type for t in r.triggers)]

    def cancelled_by(self, event_type: str) -> set[str]:
        return {r.kind for r in self.letters.values() if event_type in r.cancel_on}


def load_rules(directory: Path) -> RuleSet:
    """Every ``*.toml`` in ``directory`` except ``calendar.toml``; errors name file and field.

    A file with ``effective_from = "YYYY-MM-DD"`` is an overlay (issue 14): it may redefine
    kinds of the base files, for cases opened from that date; the others are the base.
    """
    files = sorted(p for p in directory.glob("*.toml") if p.name != "calendar.toml")
    if not files:
        raise ConfigError(f"{directory}: no rule files (*.toml)")
    letters: dict[str, LetterRule] = {}
    labels: set[str] = set()
    overlays: list[Overlay] = []
    for path in files:
        header, rules = _load_file(path)
        if header.effective_from is not None:
            overlays.append(Overlay(header.effective_from, header.label or
                                    header.effective_from.isoformat(), rules, path.name))
            continue
        if header.label:
            labels.add(header.label)
        for kind, rule in rules.items():
            if kind in letters:
                raise ConfigError(f"{path.name}: letters.{kind}: defined in more than one file")
            letters[kind] = rule
    _check_references(letters)
    overlays.sort(key=lambda o: o.effective_from)
    for earlier, later in pairwise(overlays):
        if earlier.effective_from == later.effective_from:
            raise ConfigError(f"{later.source}: effective_from: {earlier.source} has the "
                              "same date")
    for overlay in overlays:
        merged = RuleSet(letters, overlays=tuple(overlays)).for_opening(overlay.effective_from)
        _check_references(merged.letters)
    return RuleSet(letters, label="/".join(sorted(labels)) or None, overlays=tuple(overlays))


@dataclass(frozen=True)
class _Header:
    label: str | None
    effective_from: date | None


def _load_file(path: Path) -> tuple[_Header, dict[str, LetterRule]]:
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path.name}: not valid TOML: {exc}") from None
    unknown = set(doc) - {"letters", "version", "effective_from"}
    if unknown:
        raise ConfigError(f"{path.name}: unknown top-level keys: {', '.join(sorted(unknown))}")
    label = doc.get("version")
    if label is not None and (isinstance(label, bool) or not isinstance(label, str | int)):
        raise ConfigError(f'{path.name}: version: must be a string like "2026.12"')
    effective = doc.get("effective_from")
    if effective is not None and not (isinstance(effective, date)
                                      and not isinstance(effective, datetime)):
        raise ConfigError(f"{path.name}: effective_from: must be a date (2027-01-01, no quotes)")
    header = _Header(None if label is None else str(label), effective)
    out = {}
    letters = doc.get("letters", {})
    if not isinstance(letters, dict):
        raise ConfigError(f"{path.name}: letters: must be a table of [letters.<kind>] tables")
    for kind, raw in letters.items():
        where = f"{path.name}: letters.{kind}"
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: must be a table (recipient, on, send, ...)")
        try:
            out[kind] = _parse_rule(kind, raw, path.name)
        except _FieldProblem as exc:
            raise ConfigError(f"{where}.{exc.field}: {exc.message}") from None
    return header, out


class _FieldProblem(Exception):
    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message


_RULE_KEYS = {"recipient", "on", "send", "deadline", "extra_deadlines", "only_after",
              "cancel_on", "scope", "standby", "description", "notice", "hold", "only_if",
              "paper_ahead", "future_only"}


def _parse_rule(kind: str, raw: dict[str, Any], source: str) -> LetterRule:
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        known = ", ".join(sorted(_RULE_KEYS))
        raise _FieldProblem(sorted(unknown)[0], f"unknown key (known: {known})")
    for required in ("recipient", "on", "send"):
        if required not in raw:
            raise _FieldProblem(required, "is required")
    try:
        recipient = Recipient(raw["recipient"])
    except ValueError:
        raise _FieldProblem("recipient", "must be citizen, employer or caseworker") from None
    scope = raw.get("scope")
    if scope is not None and (not isinstance(scope, str) or scope not in SCOPES):
        raise _FieldProblem("scope", f"must be one of {', '.join(SCOPES)}")
    standby = raw.get("standby", "send")
    if standby not in ("send", "suppress"):
        raise _FieldProblem("standby", "must be 'send' or 'suppress'")
    sends = raw["send"] if isinstance(raw["send"], list) else [raw["send"]]
    if not sends:
        raise _FieldProblem("send", "needs at least one entry")
    extras = raw.get("extra_deadlines", {})
    if not isinstance(extras, dict):
        raise _FieldProblem("extra_deadlines", "must be a table of name = {from = ...}")
    cancel_on: list[str] = []
    cancel_when: dict[str, dict[str, Any]] = {}
    for index, entry in enumerate(_as_list(raw.get("cancel_on", []), "cancel_on")):
        if isinstance(entry, dict):
            trigger = _parse_trigger(entry, index, name="cancel_on")
            if trigger.each or any(not k.startswith("event.") for k in trigger.when):
                raise _FieldProblem(f"cancel_on[{index}]", "takes event and event.<field> "
                                    "conditions only")
            cancel_on.append(trigger.event)
            cancel_when[trigger.event] = trigger.when
        elif not isinstance(entry, str) or entry not in DATA_MODELS:
            raise _FieldProblem(f"cancel_on[{index}]", f"unknown event type {entry!r}")
        else:
            cancel_on.append(entry)
    for flag in ("notice", "paper_ahead", "future_only"):
        if not isinstance(raw.get(flag, False), bool):
            raise _FieldProblem(flag, "must be true or false")
    only_after = _as_list(raw.get("only_after", []), "only_after")
    for index, ref in enumerate(only_after):
        if not (isinstance(ref, str) and re.fullmatch(r"letter\.[^.]+\.send_at", ref)):
            raise _FieldProblem(f"only_after[{index}]", "must be letter.<kind>.send_at")
    return LetterRule(
        kind=kind,
        recipient=recipient,
        triggers=tuple(_parse_trigger(t, i) for i, t in enumerate(_as_list(raw["on"], "on"))),
        send=tuple(_parse_when(s, f"send[{i}]" if len(sends) > 1 else "send")
                   for i, s in enumerate(sends)),
        deadline=_parse_when(raw["deadline"], "deadline") if "deadline" in raw else None,
        extra_deadlines={
            name: _parse_when(spec, f"extra_deadlines.{name}")
            for name, spec in extras.items()
        },
        only_after=tuple(only_after),
        cancel_on=frozenset(cancel_on),
        scope=scope,
        suppress_on_standby=standby == "suppress",
        source=source,
        cancel_when=cancel_when,
        notice=bool(raw.get("notice", False)),
        hold=_parse_hold(raw["hold"]) if "hold" in raw else None,
        only_if=tuple(_parse_only_if(x) for x in _as_list(raw.get("only_if", []), "only_if")),
        paper_ahead=bool(raw.get("paper_ahead", False)),
        future_only=bool(raw.get("future_only", False)),
    )


def _parse_hold(raw: object) -> Hold:
    if not isinstance(raw, dict) or set(raw) - {"meeting", "when"} or "meeting" not in raw:
        raise _FieldProblem("hold", 'must be {meeting = "event.meeting_id", when = {...}}')
    meeting, when = raw["meeting"], raw.get("when", {})
    if not (isinstance(meeting, str) and meeting.startswith("event.")):
        raise _FieldProblem("hold.meeting", "must be event.<field> naming a meeting id")
    if not isinstance(when, dict) or any(not k.startswith("event.") for k in when):
        raise _FieldProblem("hold.when", 'must be a table {"event.<field>" = value}')
    return Hold(meeting=meeting, when=dict(when))


def _parse_only_if(raw: object) -> OnlyIf:
    if not isinstance(raw, dict) or set(raw) - ONLY_IF_KEYS or "letter" not in raw:
        raise _FieldProblem("only_if", f"takes letter (required) and status, channel, "
                            f"arrives_after; got {raw!r}")
    if raw.get("arrives_after", "meeting.starts_at") != "meeting.starts_at":
        raise _FieldProblem("only_if.arrives_after", "only meeting.starts_at is supported")
    if not all(isinstance(v, str) for v in raw.values()):
        raise _FieldProblem("only_if", "values must be strings")
    return OnlyIf(letter=raw["letter"], status=raw.get("status"), channel=raw.get("channel"),
                  arrives_after=raw.get("arrives_after"))


def _as_list(value: object, name: str) -> list[Any]:
    if isinstance(value, str | dict):
        return [value]
    if not isinstance(value, list):
        raise _FieldProblem(name, "must be a string or a list")
    return value


def _parse_trigger(raw: object, index: int, name: str = "on") -> Trigger:
    name = f"{name}[{index}]"
    if isinstance(raw, str):
        raw = {"event": raw}
    if not isinstance(raw, dict) or set(raw) - {"event", "when", "each"} or "event" not in raw:
        raise _FieldProblem(name, "must be an event type or {event = ..., when = {...}}")
    each = raw.get("each")
    if each not in (None, "meeting"):
        raise _FieldProblem(f"{name}.each", 'must be "meeting"')
    event = raw["event"]
    if not isinstance(event, str) or event not in DATA_MODELS:
        raise _FieldProblem(f"{name}.event", f"unknown event type {event!r}")
    when = raw.get("when", {})
    if not isinstance(when, dict):
        raise _FieldProblem(f"{name}.when", 'must be a table {"event.<field>" = value}')
    for key in when:
        source, _, attr = key.partition(".")
        known = (source == "event" and attr in DATA_MODELS[event].model_fields) or (
            source == "meeting" and attr in MEETING_FIELDS
        )
        if not known:
            raise _FieldProblem(f"{name}.when.{key}", f"is not a field of {event} or its meeting")
    return Trigger(event=event, when=dict(when), each=each)


def _parse_when(raw: object, name: str) -> When:
    if raw == "now":
        return When(base="now")
    if not isinstance(raw, dict):
        raise _FieldProblem(name, "must be 'now' or a table {from = ..., add = ..., ...}")
    unknown = set(raw) - {"from", "add", "roll", "at", "then"}
    if unknown or "from" not in raw:
        raise _FieldProblem(name, "takes from (required), add, roll, then and at")
    base = raw["from"]
    _check_base(base, name)
    if not isinstance(raw.get("add", ""), str):
        raise _FieldProblem(f"{name}.add", "must be a string like '8 days'")
    try:
        offset = Offset.parse(raw["add"]) if "add" in raw else None
    except ValueError as exc:
        raise _FieldProblem(f"{name}.add", str(exc)) from None
    try:
        then = Offset.parse(raw["then"]) if "then" in raw else None
    except (TypeError, ValueError) as exc:
        raise _FieldProblem(f"{name}.then", str(exc)) from None
    try:
        roll = Roll(raw.get("roll", "none"))
    except ValueError:
        raise _FieldProblem(f"{name}.roll", "must be forward, back or none") from None
    try:
        at = time.fromisoformat(raw["at"]) if "at" in raw else None
    except (TypeError, ValueError):
        raise _FieldProblem(f"{name}.at", "must be a local time like 09:00") from None
    return When(base=base, offset=offset, roll=roll, at=at, then=then)


def _check_base(base: object, name: str) -> None:
    if not isinstance(base, str):
        raise _FieldProblem(f"{name}.from", "must be a string")
    source, _, rest = base.partition(".")
    ok = (
        base in ("now", "send_date", "receipt_date", "meeting.starts_at")
        or base in SCOPE_BASES
        or (source == "fact" and rest in FACTS)
        or (source == "event" and bool(rest))
        or (source == "letter" and re.fullmatch(r"[^.]+\.(send_at|deadline)", rest) is not None)
    )
    if not ok:
        raise _FieldProblem(
            f"{name}.from",
            f"{base!r} is not now, send_date, receipt_date, event.<field>, fact.<name>, "
            "meeting.starts_at, complaint.received_on, decision.effective_from "
            "or letter.<kind>.send_at|deadline",
        )


def _check_references(letters: dict[str, LetterRule]) -> None:
    for rule in letters.values():
        fields: list[tuple[str, str]] = [
            ("send" if len(rule.send) == 1 else f"send[{i}]", w.base)
            for i, w in enumerate(rule.send)
        ]
        if rule.deadline:
            fields.append(("deadline", rule.deadline.base))
        fields += [(f"extra_deadlines.{n}", w.base) for n, w in rule.extra_deadlines.items()]
        fields += [(f"only_after[{i}]", ref) for i, ref in enumerate(rule.only_after)]
        for name, ref in fields:
            where = f"{rule.source}: letters.{rule.kind}.{name}"
            if ref.startswith("letter.") and ref.split(".")[1] not in letters:
                raise ConfigError(f"{where}: refers to unknown letter {ref.split('.')[1]!r}")
            scope_of_ref = ref.partition(".")[0]
            if scope_of_ref in SCOPES and rule.scope != scope_of_ref:
                raise ConfigError(f"{where}: {ref!r} needs scope = \"{scope_of_ref}\"")
            is_deadline = name.startswith(("deadline", "extra_deadlines"))
            if is_deadline and ref.startswith(("event.", "now")):
                raise ConfigError(f"{where}: a deadline cannot count from {ref!r}; it is "
                                  "recomputed when the letter is sent, after the event")
        for cond in rule.only_if:
            if cond.letter not in letters:
                raise ConfigError(f"{rule.source}: letters.{rule.kind}.only_if.letter: unknown "
                                  f"letter {cond.letter!r}")
        _check_scope(rule)


def _check_scope(rule: LetterRule) -> None:
    """A scoped letter must be planned by events that carry its scope's id, and only a
    meeting-scoped letter may look at the meeting."""
    scope_field = SCOPES.get(rule.scope or "")
    for index, trigger in enumerate(rule.triggers):
        where = f"{rule.source}: letters.{rule.kind}.on[{index}]"
        if trigger.each and rule.scope != trigger.each:
            raise ConfigError(f"{where}.each: needs scope = {trigger.each!r}")
        if trigger.each is None and scope_field and scope_field not in DATA_MODELS[
                trigger.event].model_fields:
            raise ConfigError(f"{where}: {trigger.event} has no {scope_field} for scope "
                              f"{rule.scope!r}")
        if rule.scope != "meeting" and any(k.startswith("meeting.") for k in trigger.when):
            raise ConfigError(f"{where}.when: meeting conditions need scope = \"meeting\"")
