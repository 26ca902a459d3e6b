"""Case events: the JSON contract in DESIGN.md, validated into typed models.

Validation happens in two steps so errors name the field as the sender wrote it:
the envelope first (``event_id``, ``type``, ``case_id``, ``occurred_at``), then ``data``
against the model for its type (``data.citizen.cpr``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import date, datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    ValidationError,
)

from notifier.errors import FieldError, InputError
from notifier.identifiers import cpr_problem, cvr_problem, looks_like_cpr, normalize_cpr
from notifier.intake.bounds import check_date
from notifier.intake.plaintext import (
    email_address,
    multi_line,
    not_blank,
    one_line,
    printable,
    unix_newlines,
)

CASE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
EVENT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TYPE_SHAPE = re.compile(r"^[a-z_]{1,64}$")  # only such a value is echoed back in errors
M = TypeVar("M", bound=BaseModel)


def _iso_date(value: object) -> object:
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if not (isinstance(value, str) and _ISO_DATE.match(value)):
        raise ValueError("must be a date as YYYY-MM-DD")
    return value


def _aware_datetime(value: object) -> object:
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and len(value) <= 40 and "T" in value:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("must be an ISO 8601 date-time with offset") from None
    else:
        raise ValueError("must be an ISO 8601 date-time with offset, e.g. 2026-11-23T10:15+01:00")
    if parsed.tzinfo is None:
        raise ValueError("must include a UTC offset, e.g. +01:00 or Z")
    return parsed


def _cpr(value: str) -> str:
    problem = cpr_problem(value)
    if problem:
        raise ValueError(problem)
    return normalize_cpr(value)


def _cvr(value: str) -> str:
    problem = cvr_problem(value)
    if problem:
        raise ValueError(problem)
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_date), AfterValidator(check_date)]
AwareDateTime = Annotated[datetime, BeforeValidator(_aware_datetime), AfterValidator(check_date)]
# Free text and ids: no control characters, no CPR number in any spelling (issue 17), and
# only characters the letter fonts print (a CJK name would be printed as empty boxes).
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
                 AfterValidator(one_line), AfterValidator(printable)]
LongText = Annotated[str, BeforeValidator(unix_newlines),
                     StringConstraints(strip_whitespace=True, min_length=1, max_length=20_000),
                     AfterValidator(not_blank), AfterValidator(multi_line),
                     AfterValidator(printable)]
Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{1,64}$"),
               AfterValidator(one_line)]
Cpr = Annotated[str, StringConstraints(strict=True), AfterValidator(_cpr)]
Cvr = Annotated[str, StringConstraints(strict=True), AfterValidator(_cvr)]
Email = Annotated[str, StringConstraints(strict=True, max_length=254),
                  AfterValidator(email_address)]
Postcode = Annotated[str, StringConstraints(pattern=r"^\d{4}$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Address(_Model):
    street: Text
    postcode: Postcode
    city: Text


class Citizen(_Model):
    cpr: Cpr
    name: Text
    address: Address
    digital_post: StrictBool
    email: Email | None = None


class Employer(_Model):
    cvr: Cvr
    name: Text


class Caseworker(_Model):
    id: Id
    name: Text
    email: Email
    phone: Text | None = None


class SickLeaveReported(_Model):
    first_absence_day: IsoDate
    citizen: Citizen
    employer: Employer | None = None
    caseworker: Caseworker


class InformationFormReturned(_Model):
    returned_on: IsoDate


class EarlyFollowupRequested(_Model):
    requested_by: Literal["employer", "citizen"]
    requested_on: IsoDate


class EarlyFollowupAnswered(_Model):
    accepted: StrictBool


MeetingForm = Literal["in_person", "phone", "video"]


class MeetingBooked(_Model):
    meeting_id: Id
    starts_at: AwareDateTime
    form: MeetingForm
    location: Text | None = None
    with_employer: StrictBool
    agenda: LongText | None = None


class MeetingRescheduled(_Model):
    meeting_id: Id
    starts_at: AwareDateTime
    form: MeetingForm | None = None
    location: Text | None = None


class MeetingCancelled(_Model):
    meeting_id: Id
    reason: LongText | None = None


class DecisionMade(_Model):
    decision_id: Id
    title: Text
    outcome: Literal["granted", "refused", "stopped", "partial"]
    decision_text: LongText
    reasoning: LongText
    legal_basis: list[Text] = Field(min_length=1, max_length=20)
    facts: LongText | None = None  # the facts relied on, apart from the reasoning (issue 11)
    effective_from: IsoDate | None = None
    stop_reason: Literal["non_cooperation"] | None = None
    meeting_id: Id | None = None  # the meeting missed, for a non-cooperation stop


class CooperationResumed(_Model):
    resumed_on: IsoDate


class HearingStarted(_Model):
    hearing_id: Id
    subject: Text
    facts: LongText
    intended_decision: LongText
    legal_basis: list[Text] = Field(min_length=1, max_length=20)


class HearingAnswered(_Model):
    hearing_id: Id
    answered_on: IsoDate


class ComplaintReceived(_Model):
    complaint_id: Id
    decision_id: Id
    received_on: IsoDate


class ComplaintForwarded(_Model):
    complaint_id: Id
    forwarded_on: IsoDate


class StandbyChanged(_Model):
    decided_on: IsoDate


class CaseClosed(_Model):
    closed_on: IsoDate
    reason: Literal["recovered", "other"]


EventData = (
    SickLeaveReported
    | InformationFormReturned
    | EarlyFollowupRequested
    | EarlyFollowupAnswered
    | MeetingBooked
    | MeetingRescheduled
    | MeetingCancelled
    | DecisionMade
    | CooperationResumed
    | HearingStarted
    | HearingAnswered
    | ComplaintReceived
    | ComplaintForwarded
    | StandbyChanged
    | CaseClosed
)

DATA_MODELS: dict[str, type[_Model]] = {
    "sick_leave_reported": SickLeaveReported,
    "information_form_returned": InformationFormReturned,
    "early_followup_requested": EarlyFollowupRequested,
    "early_followup_answered": EarlyFollowupAnswered,
    "meeting_booked": MeetingBooked,
    "meeting_rescheduled": MeetingRescheduled,
    "meeting_cancelled": MeetingCancelled,
    "decision_made": DecisionMade,
    "cooperation_resumed": CooperationResumed,
    "hearing_started": HearingStarted,
    "hearing_answered": HearingAnswered,
    "complaint_received": ComplaintReceived,
    "complaint_forwarded": ComplaintForwarded,
    "standby_granted": StandbyChanged,
    "standby_ended": StandbyChanged,
    "case_closed": CaseClosed,
}


class Event(BaseModel):
    model_config = ConfigDict(frozen=True)

    event_id: str
    type: str
    case_id: str
    occurred_at: datetime
    data: Any  # one of EventData, chosen by ``type``

    def payload(self) -> dict[str, Any]:
        """The event as JSON-ready data (for audit and storage)."""
        return {
            "event_id": self.event_id,
            "type": self.type,
            "case_id": self.case_id,
            "occurred_at": self.occurred_at.isoformat(),
            "data": self.data.model_dump(mode="json", exclude_none=True),
        }


class _Envelope(_Model):
    event_id: Annotated[str, StringConstraints(pattern=EVENT_ID.pattern),
                        AfterValidator(one_line)]
    type: str
    case_id: Annotated[str, StringConstraints(pattern=CASE_ID.pattern)]
    occurred_at: AwareDateTime
    data: dict[str, Any]


def parse_event(raw: object) -> Event:
    """Validate one event (a parsed JSON object); raise InputError naming every bad field."""
    envelope = _validate(_Envelope, raw, prefix="")
    errors: list[FieldError] = []
    if looks_like_cpr(envelope.case_id):
        errors.append(FieldError("case_id", "must not contain a CPR number"))
    model = DATA_MODELS.get(envelope.type)
    if model is None:
        known = ", ".join(sorted(DATA_MODELS))
        shown = repr(envelope.type) if _TYPE_SHAPE.match(envelope.type) else "(not shown)"
        errors.append(FieldError("type", f"unknown event type {shown} (known: {known})"))
    if errors:
        raise InputError(errors)
    assert model is not None
    data = _validate(model, envelope.data, prefix="data.")
    return Event(
        event_id=envelope.event_id,
        type=envelope.type,
        case_id=envelope.case_id,
        occurred_at=envelope.occurred_at,
        data=data,
    )


def parse_event_json(text: str) -> Event:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        message = f"not valid JSON: {exc.msg} at column {exc.colno}"
        raise InputError.single("(json)", message) from None
    except RecursionError:  # the decoder recurses per level: hostile nesting must not crash
        raise InputError.single("(json)", "not valid JSON: nested too deeply") from None
    return parse_event(raw)


def validate_model(model: type[M], raw: object, *, prefix: str = "") -> M:
    """Any request model (ad-hoc letters, previews) validated with the same field errors."""
    return _validate(model, raw, prefix=prefix)


def field_errors(errors: Iterable[Any], prefix: str = "") -> list[FieldError]:
    """Pydantic errors (e.g. from FastAPI) as FieldErrors worded as everywhere else."""
    return [_field_error(err, prefix) for err in errors]


def _validate(model: type[M], raw: object, *, prefix: str) -> M:
    if not isinstance(raw, dict):
        raise InputError.single(prefix.rstrip(".") or "(event)", "must be a JSON object")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise InputError([_field_error(err, prefix) for err in exc.errors()]) from None


def _field_error(err: Any, prefix: str) -> FieldError:
    path = ".".join(str(p) for p in err["loc"] if not str(p).startswith("function-"))
    message = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        message = "unknown field"
    elif err["type"] == "string_pattern_mismatch" and path.endswith("case_id"):
        message = "must be 1-64 characters of A-Z, a-z, 0-9, '.', '_' or '-'"
    return FieldError(prefix + path, message)
