"""A case as the caseworker reads it: its state and its letter timeline.

The citizen's CPR number is left out on purpose: the timeline is for following letters,
and the case system already holds the person's identity.
"""

from __future__ import annotations

from typing import Any

from notifier.api.errors import NotFoundError
from notifier.api.letters import letter_view
from notifier.errors import InputError
from notifier.identifiers import looks_like_cpr
from notifier.intake.events import CASE_ID
from notifier.models import CaseState, Status
from notifier.runtime import Runtime


def check_case_id(case_id: str) -> str:
    if looks_like_cpr(case_id):
        raise InputError.single("case_id", "looks like a CPR number; use the case id")
    if not CASE_ID.match(case_id):
        raise InputError.single("case_id",
                                "must be 1-64 characters of A-Z, a-z, 0-9, '.', '_' or '-'")
    return case_id


def find_case(runtime: Runtime, case_id: str) -> CaseState:
    case = runtime.store.case(check_case_id(case_id))
    if case is None:
        from notifier.api.legal_hold import archived_case  # issue 14a: say where it went

        raise archived_case(runtime, case_id) or NotFoundError.single("case_id", "unknown case")
    return case


def case_view(runtime: Runtime, case_id: str) -> dict[str, Any]:
    case = find_case(runtime, case_id)
    calendar = runtime.planner.calendar
    letters = sorted(runtime.store.case_letters(case_id).values(),
                     key=lambda x: (x.send_at, x.kind))
    citizen = case.parties["citizen"]
    return {
        "case_id": case.case_id,
        "status": "closed" if case.closed else "open",
        "standby": case.standby,
        "citizen": {"name": citizen["name"], "digital_post": citizen["digital_post"]},
        "employer": case.parties.get("employer"),
        "caseworker": case.parties["caseworker"],
        "facts": case.facts,
        "meetings": [
            {"meeting_id": m.meeting_id, "starts_at": calendar.local(m.starts_at).isoformat(),
             "form": m.form, "location": m.location, "with_employer": m.with_employer,
             "cancelled": m.cancelled}
            for m in sorted(case.meetings.values(), key=lambda m: m.starts_at)
        ],
        "decisions": [{"decision_id": d, "title": v.get("title"), "outcome": v.get("outcome")}
                      for d, v in case.decisions.items()],
        "pending": sum(1 for x in letters if x.status in (Status.SCHEDULED, Status.QUEUED)),
        "letters": [letter_view(x, runtime.renderer.catalog, calendar) for x in letters],
    }
