"""What new rules would do to the letters already planned (issue 14): ``notifier rules
diff NEW_DIR`` and ``notifier rules apply NEW_DIR``.

Policy (docs/versioned-rules.md): a pending letter keeps the plan it was made with until
new rules are applied deliberately. Applying re-plans a case by replaying its events, in
the order and at the times they were applied, under the new rules (the planner, pure, as
always), with what actually happened kept: a letter already sent, being sent, held or
cancelled stays exactly as it is and is what later letters count from. Then, per
``scheduled`` letter planned by the case's events:

- changed: the new rules give it another send time or deadline;
- cancelled: the new rules no longer plan it (or the case's later events cancel it);
- added: the new rules plan a letter the old did not, still ahead of now (in any open
  case, also one with nothing pending);
- missed: as added, but its send time has passed: reported, never sent late.

Letters nobody planned from the rules (ad hoc, alerts, paper copies) are left alone.
``replan`` is pure; ``apply_case`` writes one case atomically (WATCH/MULTI) with an audit
entry per change.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

import redis

from notifier import names
from notifier.calendar import DanishCalendar
from notifier.errors import InputError, PermanentError
from notifier.intake.events import Event, parse_event
from notifier.models import CaseState, Letter, Status, epoch_text
from notifier.planning.planner import Planner
from notifier.store import DUE, LETTER, MAX_APPLY_RETRIES, STATS, Store
from notifier.store.keys import audit_entry

P = names.KEY_PREFIX
CHANGES = ("changed", "added", "cancelled", "missed")


@dataclass(frozen=True)
class Change:
    case_id: str
    letter_id: str
    kind: str
    change: str  # one of CHANGES
    before: Letter | None
    after: Letter | None

    def as_json(self, calendar: DanishCalendar) -> dict[str, Any]:
        def times(letter: Letter | None) -> dict[str, str | None] | None:
            if letter is None:
                return None
            return {"send_at": calendar.local(letter.send_at).isoformat(),
                    "deadline": letter.deadline.isoformat() if letter.deadline else None,
                    "rules_version": letter.rules_version}

        return {"case_id": self.case_id, "letter_id": self.letter_id, "kind": self.kind,
                "change": self.change, "before": times(self.before),
                "after": times(self.after)}


@dataclass(frozen=True)
class Replan:
    case_id: str
    changes: list[Change] = field(default_factory=list)
    restamp: list[Letter] = field(default_factory=list)  # same plan, new rules_version
    error: str | None = None
    rules_version: str | None = None  # the new rules' version for this case
    opened_on: date | None = None  # as the replay found it (older cases lack it)


def replan(planner: Planner, case_id: str, events: Sequence[tuple[Event, datetime]],
           letters: Mapping[str, Letter], now: datetime) -> Replan:
    """The case's pending letters under ``planner``'s rules (pure: no Redis, no clock)."""
    state: CaseState | None = None
    replayed: dict[str, Letter] = {}
    try:
        for event, applied_at in events:
            plan = planner.apply(state, replayed, event, applied_at)
            state = plan.case
            replayed.update((x.letter_id, x) for x in [*plan.cancelled, *plan.planned])
            # What happened stays: later rules count from the real send and deadline.
            replayed.update((i, x) for i, x in letters.items()
                            if x.cause == event.event_id and x.status is not Status.SCHEDULED)
    except (InputError, PermanentError) as exc:
        return Replan(case_id, error=f"the new rules cannot replay this case: {exc}")
    causes = {event.event_id for event, _ in events}
    version = (planner.for_case(state) if state else planner).rules.version
    out = Replan(case_id, rules_version=version, opened_on=state.opened_on if state else None)
    for letter_id, before in sorted(letters.items(), key=lambda x: x[1].send_at):
        if before.status is not Status.SCHEDULED or before.cause not in causes:
            continue
        new = replayed.get(letter_id)
        if new is None or new.status is not Status.SCHEDULED:
            out.changes.append(Change(case_id, letter_id, before.kind, "cancelled", before, None))
        elif (new.send_at, new.deadline) != (before.send_at, before.deadline):
            after = replace(before, send_at=new.send_at, deadline=new.deadline,
                            rules_version=new.rules_version)
            out.changes.append(Change(case_id, letter_id, before.kind, "changed", before, after))
        elif new.rules_version != before.rules_version:
            out.restamp.append(replace(before, rules_version=new.rules_version))
    for letter_id, new in sorted(replayed.items(), key=lambda x: x[1].send_at):
        if letter_id in letters or new.status is not Status.SCHEDULED:
            continue
        change = "added" if new.send_at >= now else "missed"
        out.changes.append(Change(case_id, letter_id, new.kind, change, None, new))
    return out


def open_cases(store: Store) -> list[str]:
    """Every open case (a case with only sent letters may still gain one from new rules)."""
    found = []
    for key in store.redis.scan_iter(match=f"{P}case:*:letters", count=1000):
        case_id = key.decode()[len(P) + len("case:"):-len(":letters")]
        case = store.case(case_id)
        if case is not None and not case.closed:
            found.append(case_id)
    return sorted(found)


def case_events(client: Any, store: Store, case_id: str) -> list[tuple[Event, datetime]]:
    """The case's events in the order applied, each with when it was applied (audit)."""
    out = []
    for entry in store.audit(case_id):
        if entry.get("what") != "event_applied":
            continue
        raw = client.get(f"{P}event:{entry['event_id']}")
        if raw is None:
            raise PermanentError(f"event {entry['event_id']} is no longer stored")
        out.append((parse_event(json.loads(raw)), datetime.fromisoformat(entry["at"])))
    return out


def diff_cases(store: Store, planner: Planner, now: datetime) -> Iterator[Replan]:
    for case_id in open_cases(store):
        yield _replan_stored(store.redis, store, planner, case_id, now)


def _replan_stored(client: Any, store: Store, planner: Planner, case_id: str,
                   now: datetime) -> Replan:
    try:
        events = case_events(client, store, case_id)
    except (InputError, PermanentError) as exc:
        return Replan(case_id, error=str(exc))
    ids = sorted(m.decode() for m in client.zrange(store.case_letters_key(case_id), 0, -1))
    letters = {i: Letter.from_hash(i, {k.decode(): v.decode() for k, v in
                                        client.hgetall(LETTER + i).items()})
               for i in ids if client.exists(LETTER + i)}
    return replan(planner, case_id, events, letters, now)


def apply_case(store: Store, planner: Planner, case_id: str, now: datetime) -> Replan:
    """Re-plan one case and write the result in one MULTI/EXEC: every letter of the case is
    WATCHed, so a worker taking one, or a new event, makes us re-plan from the new state."""
    client: Any = store.redis
    pipe: Any
    with client.pipeline() as pipe:
        for _ in range(MAX_APPLY_RETRIES):
            try:
                pipe.watch(store.case_key(case_id), store.case_letters_key(case_id))
                ids = [m.decode() for m in pipe.zrange(store.case_letters_key(case_id), 0, -1)]
                if ids:
                    pipe.watch(*(LETTER + i for i in ids))
                result = _replan_stored(pipe, store, planner, case_id, now)
                pipe.multi()
                if result.error is None:
                    _write(store, pipe, result, now)
                    _remember_opening(store, pipe, result)
                pipe.execute()
                return result
            except redis.WatchError:
                continue
    raise redis.WatchError(f"case {case_id}: kept changing; try again")


def _write(store: Store, pipe: Any, result: Replan, now: datetime) -> None:
    for letter in result.restamp:
        if letter.rules_version:
            pipe.hset(LETTER + letter.letter_id, "rules_version", letter.rules_version)
    for change in result.changes:
        if change.change == "missed":
            continue
        after, before = change.after, change.before
        key = LETTER + change.letter_id
        if change.change == "changed" and after is not None:
            pipe.hset(key, mapping={"send_at": epoch_text(after.send_at),
                                    **({"rules_version": after.rules_version}
                                       if after.rules_version else {})})
            if after.deadline:
                pipe.hset(key, "deadline", after.deadline.isoformat())
            else:
                pipe.hdel(key, "deadline")
            pipe.zadd(DUE, {change.letter_id: after.send_at.timestamp()})
            pipe.zadd(store.case_letters_key(change.case_id),
                      {change.letter_id: after.send_at.timestamp()})
        elif change.change == "added" and after is not None:
            store._write_letter(pipe, after)  # the store's own write: hash, indexes, stats
        elif change.change == "cancelled" and before is not None:
            cancelled_by = f"rules:{result.rules_version or 'new'}"
            pipe.hset(key, mapping={"status": Status.CANCELLED.value,
                                    "cancelled_by": cancelled_by})
            pipe.zrem(DUE, change.letter_id)
            pipe.hincrby(STATS, f"cancelled|{before.kind}|{before.channel.value}", 1)
            store.add_callback(pipe, change.letter_id, "letter.cancelled", now,
                               {"cancelled_by": cancelled_by})
        pipe.rpush(store.audit_key(change.case_id),
                   audit_entry(now, "rules_applied", rules_version=result.rules_version,
                               **_audit(change)))


def _remember_opening(store: Store, pipe: Any, result: Replan) -> None:
    """A case stored before issue 14 has no opening day; the replay chose its rules by the
    day its opening event gives, and so must the deadlines computed when it is sent."""
    case = store.case(result.case_id)
    if case is not None and case.opened_on is None and result.opened_on is not None:
        pipe.set(store.case_key(result.case_id),
                 case.model_copy(update={"opened_on": result.opened_on}).model_dump_json())


def _audit(change: Change) -> dict[str, Any]:
    def times(letter: Letter | None) -> dict[str, str | None] | None:
        if letter is None:
            return None
        return {"send_at": letter.send_at.isoformat(),
                "deadline": letter.deadline.isoformat() if letter.deadline else None,
                "rules_version": letter.rules_version}

    return {"letter_id": change.letter_id, "kind": change.kind, "change": change.change,
            "before": times(change.before), "after": times(change.after)}
