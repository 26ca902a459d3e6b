"""Fuzzing the event intake (hypothesis): malformed, hostile, duplicate and out-of-order
events are refused with an InputError/ConflictError naming the field, or applied; nothing
else is ever raised, and a refused event leaves Redis byte-for-byte as it was."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import fakeredis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifier.errors import InputError
from notifier.identifiers import looks_like_cpr
from notifier.intake.events import Event, parse_event, parse_event_json
from notifier.models import Status
from notifier.planning.planner import Planner
from notifier.runtime import build_planner
from notifier.settings import load_settings
from notifier.store import DUE, LETTER, Store
from tests.support.env import without_notifier_env
from tests.support.fuzz import (
    EVENT_TYPES,
    START,
    DocPath,
    damaged,
    dotted,
    event_streams,
    valid_event,
)

FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def planner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Planner]:
    with without_notifier_env():
        yield build_planner(load_settings(outbox_dir=tmp_path_factory.mktemp("outbox")))


def _related(field: str, touched: list[DocPath]) -> bool:
    """Whether an error on ``field`` is about one of the damaged places (or inside it, or
    about a part of it, e.g. a missing sub-field of a replaced object)."""
    for path in touched:
        place = dotted(path)
        if field == place or field.startswith(place + ".") or place.startswith(field + "."):
            return True
    return False


def _refusal(raw: object) -> InputError | None:
    """The InputError ``raw`` is refused with, or None if it parses. Anything else raised
    fails the test: that is the crash the fuzzing looks for."""
    try:
        parse_event(raw)
    except InputError as exc:
        return exc
    return None


@settings(FUZZ, max_examples=1000)
@given(data=st.data(), type_=st.sampled_from(EVENT_TYPES))
def test_damaged_events_are_refused_naming_the_damaged_field(data: st.DataObject,
                                                             type_: str) -> None:
    """Given a valid event of any type damaged in 1-3 places (wrong types, huge strings,
    invalid CPR/CVR/dates, markup, unknown fields, deleted fields), parse_event either
    accepts it or raises an InputError whose every field error names a damaged place; the
    message never repeats a CPR number. An accepted event re-parses to itself."""
    raw, touched = data.draw(damaged(valid_event(type_)))
    error = _refusal(raw)
    if error is None:
        event = parse_event(raw)
        assert parse_event(event.payload()) == event
        return
    assert error.errors
    assert not looks_like_cpr(str(error))
    if ("type",) in touched:  # another known type validates data against another model
        return
    for problem in error.errors:
        assert problem.message
        assert _related(problem.field, touched), (problem, touched)


@settings(FUZZ, max_examples=500)
@given(text=st.one_of(
    st.text(max_size=400),
    st.binary(max_size=400).map(lambda b: b.decode("utf-8", "replace")),
    st.integers(1, 100_000).map(lambda n: "[" * n),
    st.integers(1, 100_000).map(lambda n: '{"data":' * n),
    st.integers(0, 400).map(lambda n: json.dumps(valid_event("meeting_booked"))[:n]),
))
def test_arbitrary_text_is_refused_as_json_or_event(text: str) -> None:
    """Any text, including truncated events and nesting deep enough to exhaust the JSON
    decoder's recursion, gives an InputError on '(json)' or on a field, never a crash."""
    try:
        parse_event_json(text)
    except InputError as exc:
        assert exc.errors and all(e.field and e.message for e in exc.errors)


def test_deeply_nested_json_is_an_input_error() -> None:
    """The hostile nesting found by fuzzing (RecursionError in json.loads) is refused
    cleanly, naming '(json)'."""
    with pytest.raises(InputError) as info:
        parse_event_json("[" * 100_000)
    assert [e.field for e in info.value.errors] == ["(json)"]


# --- applying streams of events to the store ------------------------------------------------


def _snapshot(client: Any) -> dict[bytes, bytes]:
    return {key: client.dump(key) for key in client.keys("*")}


def _check_store(store: Store, accepted: dict[str, list[str]]) -> None:
    """What every committed event must leave behind, whatever came before it."""
    client = store.redis
    due = {m.decode() for m in client.zrange(DUE, 0, -1)}
    letters = {}
    for key in client.keys(LETTER + "*"):
        letter = store.letter(key.decode().removeprefix(LETTER))
        assert letter is not None
        letters[letter.letter_id] = letter
    assert due <= set(letters), "a due entry without its letter"
    scheduled = {i for i, x in letters.items() if x.status is Status.SCHEDULED}
    assert due == scheduled, "the due set and the scheduled letters disagree"
    for case_id, events in accepted.items():
        case = store.case(case_id)
        assert case is not None
        mine = store.case_letters(case_id)
        assert all(x.case_id == case_id for x in mine.values())
        if case.closed:  # only the closing letter the close event planned may still wait
            assert not [x for x in mine.values() if x.status.pending and x.cause != events[-1]]
        audit = [e["event_id"] for e in store.audit(case_id)]
        assert audit == events
        assert all(client.exists(f"notifier:event:{e}") for e in events)


def _apply(store: Store, planner: Planner, event: Event, now: datetime,
           accepted: dict[str, list[str]]) -> None:
    before = _snapshot(store.redis)
    try:
        applied = store.apply_event(event, planner, now)
    except InputError as refused:  # ConflictError is an InputError
        assert refused.errors and all(e.field and e.message for e in refused.errors)
        assert _snapshot(store.redis) == before, "a refused event changed Redis"
        return
    if applied.duplicate:
        assert _snapshot(store.redis) == before, "a duplicate event changed Redis"
        return
    accepted.setdefault(event.case_id, []).append(event.event_id)
    _check_store(store, accepted)


@settings(FUZZ, max_examples=200)
@given(stream=event_streams())
def test_event_streams_leave_no_partial_state(planner: Planner,
                                              stream: list[dict[str, Any]]) -> None:
    """Given streams of valid, damaged, duplicate and out-of-order events for two cases,
    each event is refused (Redis unchanged), a duplicate (Redis unchanged) or committed
    whole: its event record, case, letters, due entries and audit entry all exist, the due
    set holds exactly the scheduled letters, and a closed case has nothing pending."""
    store = Store(fakeredis.FakeRedis())
    accepted: dict[str, list[str]] = {}
    now = START
    for raw in stream:
        if _refusal(raw) is not None:
            continue
        event = parse_event(raw)
        now = max(now, event.occurred_at)
        _apply(store, planner, event, now, accepted)


def test_duplicate_event_id_with_other_content_changes_nothing(planner: Planner) -> None:
    """An event id already applied is a no-op even if the rest of the event differs (the
    contract: re-submitting an event id is idempotent), so a replay cannot rewrite history."""
    store = Store(fakeredis.FakeRedis())
    store.apply_event(parse_event(valid_event("sick_leave_reported")), planner, START)
    before = _snapshot(store.redis)
    again = valid_event("case_closed")  # same event_id "evt-1"
    assert store.apply_event(parse_event(again), planner, START).duplicate
    assert _snapshot(store.redis) == before
