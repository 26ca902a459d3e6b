"""Load and validate ``schedules/*.toml``: which event plans which letter, when, to whom.

Rules are data. A reference names where a date or instant comes from:

- ``now``: when the event is applied (the letter then waits for the send window);
- ``send_date``: the letter's own send date (deadlines only);
- ``event.<field>``: a date or date-time in the event's data;
- ``fact.<name>``: a date the case remembers (``first_absence_day``, ...);
- ``meeting.starts_at``: the meeting the letter is about;
- ``letter.<kind>.send_at`` / ``letter.<kind>.deadline``: another letter of the case,
  preferring one planned by the same event.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any

from notifier.calendar import Offset, Roll
from notifier.errors import ConfigError
from notifier.events import DATA_MODELS
from notifier.models import Recipient

FACTS = frozenset({"first_absence_day", "early_followup_requested_on"})
SCOPES = {"meeting": "meeting_id", "decision": "decision_id"}
MEETING_FIELDS = frozenset({"starts_at", "with_employer", "form"})


@dataclass(frozen=True)
class When:
    """When to send, or which date a deadline counts from."""

    base: str
    offset: Offset | None = None
    roll: Roll = Roll.NONE
    at: time | None = None  # a local wall-clock time; None keeps the instant

    @property
    def is_now(self) -> bool:
        return self.base == "now"


@dataclass(frozen=True)
class Trigger:
    event: str
    when: dict[str, Any] = field(default_factory=dict)


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


@dataclass(frozen=True)
class RuleSet:
    letters: dict[str, LetterRule]

    def triggered_by(self, event_type: str) -> list[LetterRule]:
        return [r for r in self.letters.values() if any(t.event == event_type for t in r.triggers)]

    def cancelled_by(self, event_type: str) -> set[str]:
        return {r.kind for r in self.letters.values() if event_type in r.cancel_on}


def load_rules(directory: Path) -> RuleSet:
    """Every ``*.toml`` in ``directory`` except ``calendar.toml``; errors name file and field."""
    files = sorted(p for p in directory.glob("*.toml") if p.name != "calendar.toml")
    if not files:
        raise ConfigError(f"{directory}: no rule files (*.toml)")
    letters: dict[str, LetterRule] = {}
    for path in files:
        for kind, rule in _load_file(path).items():
            if kind in letters:
                raise ConfigError(f"{path.name}: letters.{kind}: defined in more than one file")
            letters[kind] = rule
    _check_references(letters)
    return RuleSet(letters)


def _load_file(path: Path) -> dict[str, LetterRule]:
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path.name}: not valid TOML: {exc}") from None
    unknown = set(doc) - {"letters", "version"}
    if unknown:
        raise ConfigError(f"{path.name}: unknown top-level keys: {', '.join(sorted(unknown))}")
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
    return out


class _FieldProblem(Exception):
    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message


_RULE_KEYS = {"recipient", "on", "send", "deadline", "extra_deadlines", "only_after",
              "cancel_on", "scope", "standby", "description"}


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
    cancel_on = _as_list(raw.get("cancel_on", []), "cancel_on")
    for index, event in enumerate(cancel_on):
        if not isinstance(event, str) or event not in DATA_MODELS:
            raise _FieldProblem(f"cancel_on[{index}]", f"unknown event type {event!r}")
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
    )


def _as_list(value: object, name: str) -> list[Any]:
    if isinstance(value, str | dict):
        return [value]
    if not isinstance(value, list):
        raise _FieldProblem(name, "must be a string or a list")
    return value


def _parse_trigger(raw: object, index: int) -> Trigger:
    name = f"on[{index}]"
    if isinstance(raw, str):
        raw = {"event": raw}
    if not isinstance(raw, dict) or set(raw) - {"event", "when"} or "event" not in raw:
        raise _FieldProblem(name, "must be an event type or {event = ..., when = {...}}")
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
    return Trigger(event=event, when=dict(when))


def _parse_when(raw: object, name: str) -> When:
    if raw == "now":
        return When(base="now")
    if not isinstance(raw, dict):
        raise _FieldProblem(name, "must be 'now' or a table {from = ..., add = ..., ...}")
    unknown = set(raw) - {"from", "add", "roll", "at"}
    if unknown or "from" not in raw:
        raise _FieldProblem(name, "takes from (required), add, roll and at")
    base = raw["from"]
    _check_base(base, name)
    if not isinstance(raw.get("add", ""), str):
        raise _FieldProblem(f"{name}.add", "must be a string like '8 days'")
    try:
        offset = Offset.parse(raw["add"]) if "add" in raw else None
    except ValueError as exc:
        raise _FieldProblem(f"{name}.add", str(exc)) from None
    try:
        roll = Roll(raw.get("roll", "none"))
    except ValueError:
        raise _FieldProblem(f"{name}.roll", "must be forward, back or none") from None
    try:
        at = time.fromisoformat(raw["at"]) if "at" in raw else None
    except (TypeError, ValueError):
        raise _FieldProblem(f"{name}.at", "must be a local time like 09:00") from None
    return When(base=base, offset=offset, roll=roll, at=at)


def _check_base(base: object, name: str) -> None:
    if not isinstance(base, str):
        raise _FieldProblem(f"{name}.from", "must be a string")
    source, _, rest = base.partition(".")
    ok = (
        base in ("now", "send_date", "meeting.starts_at")
        or (source == "fact" and rest in FACTS)
        or (source == "event" and bool(rest))
        or (source == "letter" and re.fullmatch(r"[^.]+\.(send_at|deadline)", rest) is not None)
    )
    if not ok:
        raise _FieldProblem(
            f"{name}.from",
            f"{base!r} is not now, send_date, event.<field>, fact.<name>, meeting.starts_at "
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
            if ref.startswith("meeting.") and rule.scope != "meeting":
                raise ConfigError(f"{where}: {ref!r} needs scope = \"meeting\"")
            is_deadline = name.startswith(("deadline", "extra_deadlines"))
            if is_deadline and ref.startswith(("event.", "now")):
                raise ConfigError(f"{where}: a deadline cannot count from {ref!r}; it is "
                                  "recomputed when the letter is sent, after the event")
        _check_scope(rule)


def _check_scope(rule: LetterRule) -> None:
    """A scoped letter must be planned by events that carry its scope's id, and only a
    meeting-scoped letter may look at the meeting."""
    scope_field = SCOPES.get(rule.scope or "")
    for index, trigger in enumerate(rule.triggers):
        where = f"{rule.source}: letters.{rule.kind}.on[{index}]"
        if scope_field and scope_field not in DATA_MODELS[trigger.event].model_fields:
            raise ConfigError(f"{where}: {trigger.event} has no {scope_field} for scope "
                              f"{rule.scope!r}")
        if rule.scope != "meeting" and any(k.startswith("meeting.") for k in trigger.when):
            raise ConfigError(f"{where}.when: meeting conditions need scope = \"meeting\"")
