"""How each event changes a case's state, and which events the state forbids (409).

Pure: takes the old state and returns a new one; raises ConflictError naming the field.
"""

from __future__ import annotations

from collections.abc import Callable

from notifier.errors import ConflictError
from notifier.intake.events import (
    CaseClosed,
    ComplaintForwarded,
    ComplaintReceived,
    DecisionMade,
    EarlyFollowupRequested,
    Event,
    HearingAnswered,
    HearingStarted,
    MeetingBooked,
    MeetingCancelled,
    MeetingRescheduled,
    SickLeaveReported,
)
from notifier.models import CaseState, Meeting

Reducer = Callable[[CaseState, Event], None]


def reduce(case: CaseState | None, event: Event) -> CaseState:
    if event.type == "sick_leave_reported":
        if case is not None:
            raise ConflictError.single("case_id", "a case with this id is already open")
        return _open(event)
    if case is None:
        raise ConflictError.single("case_id", "unknown case: no sick_leave_reported received")
    if case.closed:
        raise ConflictError.single("case_id", "the case is closed; it accepts no more events")
    if event.occurred_at < case.last_occurred_at:
        raise ConflictError.single(
            "occurred_at",
            f"older than the case's last applied event ({case.last_occurred_at.isoformat()}); "
            "events must be sent in occurred_at order",
        )
    new = case.model_copy(deep=True)
    new.last_occurred_at = event.occurred_at
    _REDUCERS.get(event.type, _no_change)(new, event)
    return new


def _open(event: Event) -> CaseState:
    data: SickLeaveReported = event.data
    return CaseState(
        case_id=event.case_id,
        last_occurred_at=event.occurred_at,
        parties={
            "citizen": data.citizen.model_dump(mode="json", exclude_none=True),
            "employer": data.employer.model_dump(mode="json") if data.employer else None,
            "caseworker": data.caseworker.model_dump(mode="json", exclude_none=True),
        },
        facts={"first_absence_day": data.first_absence_day.isoformat()},
    )


def _no_change(case: CaseState, event: Event) -> None:
    return None


def _form_returned(case: CaseState, event: Event) -> None:
    case.facts["information_form_returned_on"] = event.data.returned_on.isoformat()


def _early_requested(case: CaseState, event: Event) -> None:
    data: EarlyFollowupRequested = event.data
    if data.requested_by == "employer" and not case.parties.get("employer"):
        raise ConflictError.single("data.requested_by", "the case has no employer")
    case.facts["early_followup_requested_on"] = data.requested_on.isoformat()
    case.facts["early_followup_requested_by"] = data.requested_by
    case.facts.pop("early_followup_answered", None)


def _early_answered(case: CaseState, event: Event) -> None:
    if case.facts.get("early_followup_requested_by") != "employer":
        raise ConflictError.single("type", "no employer request for early follow-up to answer")
    if "early_followup_answered" in case.facts:
        raise ConflictError.single("type", "the early follow-up request is already answered")
    case.facts["early_followup_answered"] = event.data.accepted


def _meeting_booked(case: CaseState, event: Event) -> None:
    data: MeetingBooked = event.data
    if data.meeting_id in case.meetings:
        raise ConflictError.single("data.meeting_id", "a meeting with this id is already booked")
    if data.with_employer and not case.parties.get("employer"):
        raise ConflictError.single("data.with_employer", "the case has no employer")
    _must_be_future(data.starts_at, event)
    case.meetings[data.meeting_id] = Meeting(
        meeting_id=data.meeting_id,
        starts_at=data.starts_at,
        form=data.form,
        location=data.location,
        with_employer=data.with_employer,
        agenda=data.agenda,
    )


def _open_meeting(case: CaseState, meeting_id: str) -> Meeting:
    meeting = case.meetings.get(meeting_id)
    if meeting is None:
        raise ConflictError.single("data.meeting_id", "unknown meeting for this case")
    if meeting.cancelled:
        raise ConflictError.single("data.meeting_id", "the meeting is cancelled")
    return meeting


def _meeting_rescheduled(case: CaseState, event: Event) -> None:
    data: MeetingRescheduled = event.data
    meeting = _open_meeting(case, data.meeting_id)
    _must_be_future(data.starts_at, event)
    meeting.previous_starts_at = meeting.starts_at
    meeting.starts_at = data.starts_at
    meeting.form = data.form or meeting.form
    meeting.location = data.location or meeting.location


def _meeting_cancelled(case: CaseState, event: Event) -> None:
    data: MeetingCancelled = event.data
    meeting = _open_meeting(case, data.meeting_id)
    meeting.cancelled = True


def _must_be_future(starts_at: object, event: Event) -> None:
    if isinstance(starts_at, type(event.occurred_at)) and starts_at <= event.occurred_at:
        raise ConflictError.single("data.starts_at", "the meeting must start after occurred_at")


def _decision(case: CaseState, event: Event) -> None:
    data: DecisionMade = event.data
    if data.decision_id in case.decisions:
        raise ConflictError.single("data.decision_id", "a decision with this id already exists")
    if data.meeting_id is not None and data.meeting_id not in case.meetings:
        raise ConflictError.single("data.meeting_id", "unknown meeting for this case")
    case.decisions[data.decision_id] = data.model_dump(mode="json", exclude_none=True)
    if data.outcome == "stopped":
        case.facts["stopped"] = True


def _cooperation_resumed(case: CaseState, event: Event) -> None:
    if not case.facts.get("stopped"):
        raise ConflictError.single("type", "the case has no stop to resume from")
    case.facts.pop("stopped", None)
    case.facts["cooperation_resumed_on"] = event.data.resumed_on.isoformat()


def _hearing_started(case: CaseState, event: Event) -> None:
    data: HearingStarted = event.data
    hearings = case.facts.setdefault("hearings", {})
    if data.hearing_id in hearings:
        raise ConflictError.single("data.hearing_id", "a hearing with this id already exists")
    hearings[data.hearing_id] = data.model_dump(mode="json")


def _hearing_answered(case: CaseState, event: Event) -> None:
    data: HearingAnswered = event.data
    hearing = case.facts.get("hearings", {}).get(data.hearing_id)
    if hearing is None:
        raise ConflictError.single("data.hearing_id", "unknown hearing for this case")
    if "answered_on" in hearing:
        raise ConflictError.single("data.hearing_id", "the hearing is already answered")
    hearing["answered_on"] = data.answered_on.isoformat()


def _complaint_received(case: CaseState, event: Event) -> None:
    data: ComplaintReceived = event.data
    complaints = case.facts.setdefault("complaints", {})
    if data.complaint_id in complaints:
        raise ConflictError.single("data.complaint_id", "a complaint with this id already exists")
    if data.decision_id not in case.decisions:
        raise ConflictError.single("data.decision_id", "unknown decision for this case")
    complaints[data.complaint_id] = {"decision_id": data.decision_id,
                                     "received_on": data.received_on.isoformat()}


def _complaint_forwarded(case: CaseState, event: Event) -> None:
    data: ComplaintForwarded = event.data
    complaint = case.facts.get("complaints", {}).get(data.complaint_id)
    if complaint is None:
        raise ConflictError.single("data.complaint_id", "unknown complaint for this case")
    if "forwarded_on" in complaint:
        raise ConflictError.single("data.complaint_id", "the complaint is already forwarded")
    complaint["forwarded_on"] = data.forwarded_on.isoformat()


def _standby(on: bool) -> Reducer:
    def apply(case: CaseState, event: Event) -> None:
        if case.standby == on:
            state = "already on standby" if on else "not on standby"
            raise ConflictError.single("type", f"the case is {state}")
        case.standby = on
        if on:  # letters this event cancels are revived when standby ends (issue 11)
            case.facts["standby_granted_by"] = event.event_id

    return apply


def _closed(case: CaseState, event: Event) -> None:
    data: CaseClosed = event.data
    case.closed = True
    case.facts["closed_on"] = data.closed_on.isoformat()
    case.facts["closed_reason"] = data.reason


_REDUCERS: dict[str, Reducer] = {
    "information_form_returned": _form_returned,
    "early_followup_requested": _early_requested,
    "early_followup_answered": _early_answered,
    "meeting_booked": _meeting_booked,
    "meeting_rescheduled": _meeting_rescheduled,
    "meeting_cancelled": _meeting_cancelled,
    "decision_made": _decision,
    "cooperation_resumed": _cooperation_resumed,
    "hearing_started": _hearing_started,
    "hearing_answered": _hearing_answered,
    "complaint_received": _complaint_received,
    "complaint_forwarded": _complaint_forwarded,
    "standby_granted": _standby(True),
    "standby_ended": _standby(False),
    "case_closed": _closed,
}
