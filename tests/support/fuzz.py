"""Hypothesis strategies for hostile input: bad values, mutated events, event streams.

Events start from valid ones (the DESIGN.md contract) and are then damaged in one to three
places, so most examples get past the first check and exercise the deeper ones; the places
damaged are returned too, so a test can demand that the error names them.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from notifier.intake.events import DATA_MODELS
from tests.conftest import BASE_OPEN

DocPath = tuple[str | int, ...]  # a place in a JSON document

START = datetime.fromisoformat("2026-11-23T10:15:00+01:00")

# Values a careless or hostile sender might put anywhere.
HOSTILE_TEXT = [
    "",
    "   ",
    "x" * 250_000,
    "{{ 7*7 }}",
    "{% for x in range(10**9) %}{% endfor %}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "' OR 1=1 --",
    "0706851234",  # a valid CPR in the wrong place
    "070685-1234",
    "3102901234",  # CPR-shaped, impossible date
    "2026-02-30",
    "2026-13-01",
    "31-12-2026",
    "2026-11-23T25:00:00+01:00",
    "2026-11-23T10:00:00",  # no offset
    "\x00\x01\x1b[31m",
    "Søren Ærø Øster " * 20,
    "NaN",
    "12345678",  # CVR-shaped, fails modulus 11
    "https://evil.example/{{x}}",
]


def hostile_values() -> st.SearchStrategy[object]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from(HOSTILE_TEXT),
        st.text(max_size=300),
        st.lists(st.one_of(st.integers(), st.text(max_size=10)), max_size=3),
        st.dictionaries(st.text(max_size=8), st.integers(), max_size=3),
    )


def valid_data(type_: str, occurred: datetime) -> dict[str, Any]:
    """Valid ``data`` for each event type (dates relative to ``occurred``)."""
    day = occurred.date()
    meeting_at = (occurred + timedelta(days=10)).isoformat()
    table: dict[str, dict[str, Any]] = {
        "sick_leave_reported": copy.deepcopy(BASE_OPEN["data"]),
        "information_form_returned": {"returned_on": day.isoformat()},
        "early_followup_requested": {"requested_by": "employer", "requested_on": day.isoformat()},
        "early_followup_answered": {"accepted": True},
        "meeting_booked": {"meeting_id": "m-1", "starts_at": meeting_at, "form": "in_person",
                           "location": "Jobcentret, mødelokale 2", "with_employer": True,
                           "agenda": "Tilbagevenden til arbejdet"},
        "meeting_rescheduled": {"meeting_id": "m-1", "starts_at": meeting_at, "form": "phone"},
        "meeting_cancelled": {"meeting_id": "m-1", "reason": "Sagsbehandleren er syg"},
        "decision_made": {"decision_id": "d-1", "title": "Afgørelse om sygedagpenge",
                          "outcome": "granted", "decision_text": "Du får sygedagpenge.",
                          "reasoning": "Du opfylder betingelserne.",
                          "legal_basis": ["sygedagpengeloven § 7"]},
        "cooperation_resumed": {"resumed_on": day.isoformat()},
        "hearing_started": {"hearing_id": "h-1", "subject": "Stop af sygedagpenge",
                            "facts": "Du kom ikke til samtalen.",
                            "intended_decision": "Vi vil stoppe dine sygedagpenge.",
                            "legal_basis": ["sygedagpengeloven § 21"]},
        "hearing_answered": {"hearing_id": "h-1", "answered_on": day.isoformat()},
        "complaint_received": {"complaint_id": "k-1", "decision_id": "d-1",
                               "received_on": day.isoformat()},
        "complaint_forwarded": {"complaint_id": "k-1", "forwarded_on": day.isoformat()},
        "standby_granted": {"decided_on": day.isoformat()},
        "standby_ended": {"decided_on": day.isoformat()},
        "case_closed": {"closed_on": day.isoformat(), "reason": "recovered"},
    }
    return table[type_]


EVENT_TYPES = sorted(DATA_MODELS)


def valid_event(type_: str, *, event_id: str = "evt-1", case_id: str = "SDP-FUZZ-1",
                occurred: datetime = START) -> dict[str, Any]:
    return {"event_id": event_id, "type": type_, "case_id": case_id,
            "occurred_at": occurred.isoformat(), "data": valid_data(type_, occurred)}


def paths(node: object, prefix: DocPath = ()) -> Iterator[DocPath]:
    """Every place in a JSON document, root excluded, parents before children."""
    children: list[tuple[str | int, object]] = []
    if isinstance(node, dict):
        children = list(node.items())
    elif isinstance(node, list):
        children = list(enumerate(node))
    for key, child in children:
        yield (*prefix, key)
        yield from paths(child, (*prefix, key))


def dotted(path: DocPath) -> str:
    return ".".join(str(p) for p in path)


def _parent(raw: Any, path: DocPath) -> Any:
    node = raw
    for key in path[:-1]:
        node = node[key]
    return node


@st.composite
def damaged(draw: st.DrawFn, raw: dict[str, Any]) -> tuple[dict[str, Any], list[DocPath]]:
    """``raw`` damaged in 1-3 places (replace, delete, add an unknown field); returns the
    damaged copy and the paths touched."""
    doc = copy.deepcopy(raw)
    touched: list[DocPath] = []
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        places = [p for p in paths(doc) if not any(p[:len(t)] == t for t in touched)]
        if not places:
            break
        path = draw(st.sampled_from(places))
        parent = _parent(doc, path)
        action = draw(st.sampled_from(["replace", "delete", "unknown_field"]))
        if action == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif action == "unknown_field" and isinstance(parent[path[-1]], dict):
            name = draw(st.sampled_from(["extra", "cpr", "__proto__", "{{x}}", "status"]))
            parent[path[-1]][name] = draw(hostile_values())
            path = (*path, name)
        else:
            parent[path[-1]] = draw(hostile_values())
        touched.append(path)
    return doc, touched


# True about one time in six; hypothesis favours small integers, so `integers() == 0`
# would be true far more often than it reads.
_sometimes = st.sampled_from([False] * 5 + [True])
# Hypothesis also favours the first of a list; closing the case first would end the stream.
_LATER_TYPES = sorted(EVENT_TYPES, key=lambda t: t == "case_closed")


@st.composite
def event_streams(draw: st.DrawFn, max_events: int = 12) -> list[dict[str, Any]]:
    """A stream of events, mostly for one case: mostly valid, some damaged, some ids reused
    (duplicates), times mostly moving forward but sometimes back (out of order), meetings
    and decisions from small pools so later events refer to earlier ones."""
    stream = []
    occurred = START
    for index in range(draw(st.integers(min_value=1, max_value=max_events))):
        opens = index == 0 and not draw(_sometimes)  # most streams open a case first
        type_ = "sick_leave_reported" if opens else draw(st.sampled_from(_LATER_TYPES))
        step = timedelta(minutes=draw(st.integers(0, 20 * 24 * 60)))
        occurred += -step / 10 if draw(_sometimes) else step
        event_id = f"evt-{draw(st.integers(0, 3))}" if draw(_sometimes) else f"evt-{index}"
        case_id = "SDP-FUZZ-2" if draw(_sometimes) else "SDP-FUZZ-1"
        raw = valid_event(type_, event_id=event_id, case_id=case_id, occurred=occurred)
        _vary(draw, raw["data"], type_, occurred)
        if draw(_sometimes):
            raw, _ = draw(damaged(raw))
        stream.append(raw)
    return stream


def _vary(draw: st.DrawFn, data: dict[str, Any], type_: str, occurred: datetime) -> None:
    """Valid variations that steer the planner down different paths."""
    if "meeting_id" in data:
        data["meeting_id"] = draw(st.sampled_from(["m-1", "m-2"]))
        if "starts_at" in data:
            offset = timedelta(hours=draw(st.integers(-48, 60 * 24)))
            data["starts_at"] = (occurred + offset).isoformat()
    if "decision_id" in data:
        data["decision_id"] = draw(st.sampled_from(["d-1", "d-2"]))
    if type_ == "decision_made":
        data["outcome"] = draw(st.sampled_from(["granted", "refused", "stopped", "partial"]))
        if data["outcome"] == "stopped" and draw(st.booleans()):
            data["stop_reason"] = "non_cooperation"
            if draw(st.booleans()):  # the missed meeting: the held-decision path
                data["meeting_id"] = draw(st.sampled_from(["m-1", "m-2"]))
    if type_ == "meeting_booked":
        data["with_employer"] = draw(st.booleans())
    if type_ == "early_followup_requested":
        data["requested_by"] = draw(st.sampled_from(["employer", "citizen"]))
    if type_ == "early_followup_answered":
        data["accepted"] = draw(st.booleans())
    if type_ == "sick_leave_reported":
        if draw(st.booleans()):
            del data["employer"]
        data["citizen"]["digital_post"] = draw(st.booleans())
