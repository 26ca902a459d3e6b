"""Event validation: valid events parse; every bad field is named by its dotted path."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from notifier.errors import InputError
from notifier.intake.events import (
    DecisionMade,
    MeetingBooked,
    SickLeaveReported,
    parse_event,
    parse_event_json,
)
from tests.conftest import BASE_OPEN

CPR = "0101901234"
CPR_DASHED = "010190-1234"


def valid_event(**envelope: Any) -> dict[str, Any]:
    """A complete, valid ``sick_leave_reported`` event (fresh copy each call)."""
    event: dict[str, Any] = {
        "event_id": "evt-0001",
        "type": "sick_leave_reported",
        "case_id": "SDP-2026-0042",
        "occurred_at": "2026-11-23T10:15:00+01:00",
        "data": {
            "first_absence_day": "2026-11-20",
            "citizen": {
                "cpr": CPR_DASHED,
                "name": "Anna Hansen",
                "address": {"street": "Vestergade 1", "postcode": "2630", "city": "Taastrup"},
                "digital_post": True,
                "email": "anna@example.dk",
            },
            "employer": {"cvr": "29189366", "name": "Firma A/S"},
            "caseworker": {
                "id": "cw-17",
                "name": "Bo Jensen",
                "email": "bo.jensen@eksempel.dk",
                "phone": "70 10 20 30",
            },
        },
    }
    event.update(envelope)
    return event


def meeting_booked_event() -> dict[str, Any]:
    """A valid ``meeting_booked`` event."""
    return valid_event(
        type="meeting_booked",
        data={
            "meeting_id": "m-1",
            "starts_at": "2026-12-10T10:00:00+01:00",
            "form": "in_person",
            "location": "Jobcentret, Rådhuspladsen 1",
            "with_employer": False,
        },
    )


def decision_made_event() -> dict[str, Any]:
    """A valid ``decision_made`` event."""
    return valid_event(
        type="decision_made",
        data={
            "decision_id": "d-1",
            "title": "Afgørelse om sygedagpenge",
            "outcome": "granted",
            "decision_text": "Du får sygedagpenge.",
            "reasoning": "Du opfylder betingelserne.",
            "legal_basis": ["sygedagpengeloven § 7"],
        },
    )


def errors_of(raw: object) -> dict[str, str]:
    """Field → message of the InputError that parse_event must raise for ``raw``."""
    with pytest.raises(InputError) as info:
        parse_event(raw)
    assert info.value.errors, "an InputError must carry at least one field error"
    return {e.field: e.message for e in info.value.errors}


# --- valid events ------------------------------------------------------------------------


def test_valid_sick_leave_reported_parses() -> None:
    """A complete sick_leave_reported event parses into typed, normalised data."""
    event = parse_event(valid_event())
    assert event.event_id == "evt-0001"
    assert event.type == "sick_leave_reported"
    assert event.case_id == "SDP-2026-0042"
    assert event.occurred_at == datetime(2026, 11, 23, 9, 15, tzinfo=UTC)
    assert event.occurred_at.utcoffset() == timedelta(hours=1)
    data = event.data
    assert isinstance(data, SickLeaveReported)
    assert data.first_absence_day == date(2026, 11, 20)
    assert data.citizen.cpr == CPR, "the dashed form is normalised to ten digits"
    assert data.citizen.digital_post is True
    assert data.citizen.address.postcode == "2630"
    assert data.employer is not None
    assert data.employer.cvr == "29189366"
    assert data.caseworker.id == "cw-17"


def test_employer_and_optional_fields_may_be_absent() -> None:
    """employer (sick from unemployment), citizen.email and caseworker.phone are optional."""
    raw = valid_event()
    del raw["data"]["employer"]
    del raw["data"]["citizen"]["email"]
    del raw["data"]["caseworker"]["phone"]
    data = parse_event(raw).data
    assert data.employer is None
    assert data.citizen.email is None
    assert data.caseworker.phone is None


def test_occurred_at_z_suffix_is_utc() -> None:
    """An occurred_at ending in Z is accepted as UTC."""
    event = parse_event(valid_event(occurred_at="2026-11-23T09:15:00Z"))
    assert event.occurred_at == datetime(2026, 11, 23, 9, 15, tzinfo=UTC)


def test_meeting_booked_and_decision_made_parse() -> None:
    """The helper meeting_booked and decision_made events are valid."""
    meeting = parse_event(meeting_booked_event()).data
    assert isinstance(meeting, MeetingBooked)
    assert meeting.starts_at == datetime(2026, 12, 10, 9, 0, tzinfo=UTC)
    assert meeting.form == "in_person"
    decision = parse_event(decision_made_event()).data
    assert isinstance(decision, DecisionMade)
    assert decision.legal_basis == ["sygedagpengeloven § 7"]


def test_payload_round_trips() -> None:
    """Event.payload() is JSON-ready and parses back to an equal event."""
    event = parse_event(valid_event())
    payload = event.payload()
    again = parse_event_json(json.dumps(payload))
    assert again == event
    assert "email" in payload["data"]["citizen"]


def test_parse_event_json_parses_valid_text() -> None:
    """parse_event_json accepts the JSON text of a valid event."""
    event = parse_event_json(json.dumps(valid_event()))
    assert event.case_id == "SDP-2026-0042"


# --- malformed fields --------------------------------------------------------------------

Mutation = Callable[[dict[str, Any]], object]


def _set(path: str, value: object) -> Mutation:
    *parents, last = path.split(".")

    def mutate(event: dict[str, Any]) -> None:
        node = event
        for key in parents:
            node = node[key]
        node[last] = value

    return mutate


def _delete(path: str) -> Mutation:
    *parents, last = path.split(".")

    def mutate(event: dict[str, Any]) -> None:
        node = event
        for key in parents:
            node = node[key]
        del node[last]

    return mutate


MALFORMED: list[tuple[str, Callable[[], dict[str, Any]], Mutation, str, str | None]] = [
    # (id, base event, mutation, expected field, expected message or None)
    ("missing event_id", valid_event, _delete("event_id"), "event_id", "Field required"),
    ("bad event_id", valid_event, _set("event_id", "evt 1"), "event_id", None),
    (
        "bad case_id chars",
        valid_event,
        _set("case_id", "SDP/2026 42"),
        "case_id",
        "must be 1-64 characters of A-Z, a-z, 0-9, '.', '_' or '-'",
    ),
    ("case_id too long", valid_event, _set("case_id", "A" * 65), "case_id", None),
    (
        "case_id contains CPR",
        valid_event,
        _set("case_id", "SDP-" + CPR),
        "case_id",
        "must not contain a CPR number",
    ),
    (
        "case_id contains dashed CPR",
        valid_event,
        _set("case_id", "sag_" + CPR_DASHED),
        "case_id",
        "must not contain a CPR number",
    ),
    ("missing case_id", valid_event, _delete("case_id"), "case_id", "Field required"),
    (
        "occurred_at without offset",
        valid_event,
        _set("occurred_at", "2026-11-23T10:15:00"),
        "occurred_at",
        "must include a UTC offset, e.g. +01:00 or Z",
    ),
    ("occurred_at date only", valid_event, _set("occurred_at", "2026-11-23"), "occurred_at", None),
    ("occurred_at garbage", valid_event, _set("occurred_at", "23/11T10"), "occurred_at", None),
    ("unknown type", valid_event, _set("type", "sick_leave_reportd"), "type", None),
    ("unknown envelope field", valid_event, _set("priority", 1), "priority", "unknown field"),
    (
        "cpr impossible date",
        valid_event,
        _set("data.citizen.cpr", "3213991234"),
        "data.citizen.cpr",
        "the first six digits are not a valid date of birth",
    ),
    (
        "cpr 9 digits",
        valid_event,
        _set("data.citizen.cpr", "010190123"),
        "data.citizen.cpr",
        "must be 10 digits (DDMMYYSSSS, optionally DDMMYY-SSSS)",
    ),
    ("cpr as number", valid_event, _set("data.citizen.cpr", 101901234), "data.citizen.cpr", None),
    ("cpr missing", valid_event, _delete("data.citizen.cpr"), "data.citizen.cpr", None),
    (
        "cvr fails mod 11",
        valid_event,
        _set("data.employer.cvr", "12345678"),
        "data.employer.cvr",
        "fails the modulus-11 check",
    ),
    ("cvr 7 digits", valid_event, _set("data.employer.cvr", "2918936"), "data.employer.cvr", None),
    (
        "digital_post string",
        valid_event,
        _set("data.citizen.digital_post", "yes"),
        "data.citizen.digital_post",
        None,
    ),
    (
        "digital_post as 1",
        valid_event,
        _set("data.citizen.digital_post", 1),
        "data.citizen.digital_post",
        None,
    ),
    ("unknown data field", valid_event, _set("data.diagnosis", "x"), "data.diagnosis",
     "unknown field"),
    (
        "unknown nested field",
        valid_event,
        _set("data.citizen.address.floor", "2"),
        "data.citizen.address.floor",
        "unknown field",
    ),
    (
        "first_absence_day DD-MM-YYYY",
        valid_event,
        _set("data.first_absence_day", "20-11-2026"),
        "data.first_absence_day",
        "must be a date as YYYY-MM-DD",
    ),
    (
        "first_absence_day impossible",
        valid_event,
        _set("data.first_absence_day", "2026-02-30"),
        "data.first_absence_day",
        None,
    ),
    (
        "first_absence_day datetime",
        valid_event,
        _set("data.first_absence_day", "2026-11-20T00:00:00+01:00"),
        "data.first_absence_day",
        None,
    ),
    ("postcode 3 digits", valid_event, _set("data.citizen.address.postcode", "263"),
     "data.citizen.address.postcode", None),
    ("caseworker email", valid_event, _set("data.caseworker.email", "bo"),
     "data.caseworker.email", None),
    ("blank citizen name", valid_event, _set("data.citizen.name", "   "),
     "data.citizen.name", None),
    ("caseworker missing", valid_event, _delete("data.caseworker"), "data.caseworker", None),
    (
        "meeting form carrier-pigeon",
        meeting_booked_event,
        _set("data.form", "carrier-pigeon"),
        "data.form",
        None,
    ),
    (
        "meeting starts_at naive",
        meeting_booked_event,
        _set("data.starts_at", "2026-12-10T10:00:00"),
        "data.starts_at",
        "must include a UTC offset, e.g. +01:00 or Z",
    ),
    (
        "meeting with_employer missing",
        meeting_booked_event,
        _delete("data.with_employer"),
        "data.with_employer",
        None,
    ),
    (
        "decision empty legal_basis",
        decision_made_event,
        _set("data.legal_basis", []),
        "data.legal_basis",
        None,
    ),
    (
        "decision blank legal_basis item",
        decision_made_event,
        _set("data.legal_basis", ["§ 7", " "]),
        "data.legal_basis.1",
        None,
    ),
    ("decision bad outcome", decision_made_event, _set("data.outcome", "maybe"),
     "data.outcome", None),
    (
        "decision bad stop_reason",
        decision_made_event,
        _set("data.stop_reason", "illness"),
        "data.stop_reason",
        None,
    ),
]


@pytest.mark.parametrize(
    ("base", "mutate", "field", "message"),
    [case[1:] for case in MALFORMED],
    ids=[case[0] for case in MALFORMED],
)
def test_malformed_field_is_named(
    base: Callable[[], dict[str, Any]], mutate: Mutation, field: str, message: str | None
) -> None:
    """Given one malformed field, parse_event raises InputError naming exactly that path."""
    raw = base()
    mutate(raw)
    errors = errors_of(raw)
    assert field in errors, f"expected {field!r} in {sorted(errors)}"
    assert set(errors) == {field}, "no other field may be blamed"
    if message is not None:
        assert errors[field] == message


def test_all_data_errors_reported_at_once() -> None:
    """Several bad fields in data are all reported in one InputError."""
    raw = valid_event()
    raw["data"]["citizen"]["cpr"] = "3102901234"
    raw["data"]["employer"]["cvr"] = "12345678"
    raw["data"]["first_absence_day"] = "20-11-2026"
    errors = errors_of(raw)
    assert set(errors) == {"data.citizen.cpr", "data.employer.cvr", "data.first_absence_day"}


def test_unknown_type_lists_known_types() -> None:
    """An unknown type is reported on 'type' with the known types as a hint."""
    errors = errors_of(valid_event(type="sick_leave_reportd"))
    assert "sick_leave_reported" in errors["type"]
    assert "case_closed" in errors["type"]


def test_error_string_contains_dotted_path() -> None:
    """str(InputError) carries 'field: message' so a human can fix it."""
    raw = valid_event()
    raw["data"]["employer"]["cvr"] = "12345678"
    with pytest.raises(InputError) as info:
        parse_event(raw)
    assert str(info.value) == "data.employer.cvr: fails the modulus-11 check"


# --- no CPR in error messages ------------------------------------------------------------

CPR_LEAKS: list[tuple[str, Mutation]] = [
    ("impossible-date cpr", _set("data.citizen.cpr", "3102901234")),
    ("11-digit cpr", _set("data.citizen.cpr", CPR + "5")),
    ("cpr with letters", _set("data.citizen.cpr", "0101901234x")),
    ("cpr in case_id", _set("case_id", "SDP-" + CPR)),
    ("dashed cpr in case_id", _set("case_id", CPR_DASHED)),
    ("cpr in bad case_id", _set("case_id", "SDP " + CPR)),
    ("cpr as cvr", _set("data.employer.cvr", CPR)),
    ("cpr in bad first_absence_day", _set("data.first_absence_day", CPR)),
    ("cpr in digital_post", _set("data.citizen.digital_post", CPR)),
    ("cpr in occurred_at", _set("occurred_at", CPR)),
    ("cpr in bad event_id", _set("event_id", "evt " + CPR)),
    ("cpr in postcode", _set("data.citizen.address.postcode", CPR)),
    ("cpr as type", _set("type", CPR)),
]


@pytest.mark.parametrize(
    "mutate", [m for _, m in CPR_LEAKS], ids=[name for name, _ in CPR_LEAKS]
)
def test_error_messages_never_contain_submitted_cpr(mutate: Mutation) -> None:
    """Given a CPR-like value in a rejected field, neither the messages nor str(error)
    repeat its digits (errors are logged and returned to callers)."""
    raw = valid_event()
    mutate(raw)
    with pytest.raises(InputError) as info:
        parse_event(raw)
    texts = [str(info.value)] + [e.message for e in info.value.errors]
    for text in texts:
        assert "0101901234" not in text
        assert "010190-1234" not in text
        assert "3102901234" not in text


# --- shape of the input ------------------------------------------------------------------


@pytest.mark.parametrize("data", [[1, 2], "x", None, 42])
def test_data_not_an_object(data: object) -> None:
    """A data value that is not a JSON object is reported on 'data'."""
    errors = errors_of(valid_event(data=data))
    assert set(errors) == {"data"}


@pytest.mark.parametrize("raw", [[valid_event()], "event", None, 3])
def test_event_not_an_object(raw: object) -> None:
    """A top-level value that is not an object is refused as '(event)'."""
    errors = errors_of(raw)
    assert errors == {"(event)": "must be a JSON object"}


@pytest.mark.parametrize("text", ['{"event_id": "evt-1",', "", "not json", "{'a': 1}"])
def test_parse_event_json_broken_json(text: str) -> None:
    """Broken JSON text gives an InputError on the '(json)' field."""
    with pytest.raises(InputError) as info:
        parse_event_json(text)
    assert [e.field for e in info.value.errors] == ["(json)"]
    assert info.value.errors[0].message.startswith("not valid JSON")


def test_parse_event_json_valid_json_invalid_event() -> None:
    """Valid JSON with a bad field reports the field, not '(json)'."""
    raw = valid_event()
    raw["data"]["citizen"]["cpr"] = "3213991234"
    with pytest.raises(InputError) as info:
        parse_event_json(json.dumps(raw))
    assert [e.field for e in info.value.errors] == ["data.citizen.cpr"]


def test_input_is_not_mutated() -> None:
    """parse_event does not modify the dict it is given."""
    raw = valid_event()
    before = copy.deepcopy(raw)
    parse_event(raw)
    assert raw == before


@pytest.mark.parametrize(("path", "value"), [
    (("citizen", "name"), "王小明"),
    (("citizen", "address", "city"), "東京"),
    (("employer", "name"), "Bageri 🍞"),
])
def test_text_the_fonts_cannot_print_is_refused_naming_the_field(
        path: tuple[str, ...], value: str) -> None:
    """Given a name or address in a script the letter fonts lack (issue 17), the event is
    refused with the field and the code point named, instead of a letter of empty boxes."""
    raw = copy.deepcopy(BASE_OPEN)
    target = raw["data"]
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(InputError) as caught:
        parse_event(raw)
    (error,) = caught.value.errors
    assert error.field == "data." + ".".join(path)
    assert "U+" in error.message and "fonts cannot print" in error.message


def test_danish_and_other_european_names_are_accepted() -> None:
    """Names in Latin (with Danish, Sami, Polish letters), Greek and Cyrillic pass."""
    for name in ("Søren Ærø Åberg", "Ánde Ŋuolla", "Zdzisław Łukasiewicz", "Νίκος", "Анна"):
        raw = copy.deepcopy(BASE_OPEN)
        raw["data"]["citizen"]["name"] = name
        assert parse_event(raw).data.citizen.name == name  # type: ignore[union-attr]


def test_blank_long_text_is_refused_not_stored_empty() -> None:
    """Given a decision text of only spaces (found by the event fuzzer), the event is
    refused naming the field, instead of being accepted as "" and refused on re-reading."""
    raw = {"event_id": "evt-1", "type": "decision_made", "case_id": "SDP-FUZZ-1",
           "occurred_at": "2026-11-23T10:15:00+01:00",
           "data": {"decision_id": "d-1", "title": "Afgørelse om sygedagpenge",
                    "outcome": "granted", "decision_text": "   \n ",
                    "reasoning": "Du opfylder betingelserne.",
                    "legal_basis": ["sygedagpengeloven § 7"]}}
    with pytest.raises(InputError) as caught:
        parse_event(raw)
    assert [(e.field, e.message) for e in caught.value.errors] == [
        ("data.decision_text", "must not be empty")]


def test_blank_adhoc_paragraph_is_refused() -> None:
    """An ad-hoc letter paragraph of only whitespace is refused, not sent as an empty one."""
    from pydantic import TypeAdapter, ValidationError

    from notifier.api.adhoc import Paragraph

    with pytest.raises(ValidationError, match="must not be empty"):
        TypeAdapter(Paragraph).validate_python(" \r\n ")
    assert TypeAdapter(Paragraph).validate_python(" Hej ") == "Hej"
