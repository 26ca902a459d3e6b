"""The data a letter template sees: built from the stored case and letter at send time.

The contract every template in ``letters/da/`` is written against (and every catalog
sample follows). The citizen's CPR is deliberately absent: no template can print it.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from notifier.models import CaseState, Letter
from notifier.settings import Settings


def jobcenter_context(settings: Settings) -> dict[str, str]:
    return {
        "name": settings.sender_name,
        "address": settings.jobcenter_address,
        "phone": settings.jobcenter_phone,
        "email": settings.jobcenter_email,
        "opening_hours": settings.jobcenter_opening_hours,
        "secure_mail_url": settings.secure_mail_url,
        "self_service_url": settings.self_service_url,
        "postal_days": str(settings.postal_days),  # paper letters say how deadlines count
    }


def letter_context(
    letter: Letter,
    case: CaseState,
    settings: Settings,
    send_date: date,
    deadlines: dict[str, date],
) -> dict[str, Any]:
    citizen = {k: v for k, v in case.parties["citizen"].items() if k != "cpr"}
    meeting = case.meetings.get(letter.scope) if letter.scope else None
    decision = case.decisions.get(letter.scope) if letter.scope else None
    return {
        "letter": {
            "id": letter.letter_id,
            "kind": letter.kind,
            "recipient": letter.recipient.value,
            "channel": letter.channel.value,
            "send_date": send_date,
            "deadline": deadlines.get("deadline"),
            "deadlines": deadlines,
            "params": letter.params,
        },
        "case": {
            "case_id": case.case_id,
            "facts": case.facts,
            "standby": case.standby,
            "url": f"{settings.caseworker_url.rstrip('/')}/{case.case_id}",
        },
        "citizen": citizen,
        "employer": case.parties.get("employer"),
        "caseworker": case.parties["caseworker"],
        "meeting": meeting.model_dump(mode="python") if meeting else None,
        "decision": decision,
        "hearing": case.facts.get("hearings", {}).get(letter.scope) if letter.scope else None,
        "complaint": _complaint(case, letter.scope) if letter.scope else None,
        "adhoc": _adhoc(letter.params) if "adhoc" in letter.params else None,
        "failed": _failed(letter.params) if "failed_kind" in letter.params else None,
        "jobcenter": jobcenter_context(settings),
    }


def _complaint(case: CaseState, scope: str) -> dict[str, Any] | None:
    record = case.facts.get("complaints", {}).get(scope)
    if record is None:
        return None
    decision = case.decisions.get(record["decision_id"], {})
    return {**record, "decision_title": decision.get("title", "")}


def _adhoc(params: dict[str, str]) -> dict[str, Any]:
    return {"subject": params.get("subject", ""), "paragraphs": params["adhoc"].split("\n\n")}


def _failed(params: dict[str, str]) -> dict[str, str]:
    return {"kind": params["failed_kind"], "title": params["failed_title"],
            "reason": params["failed_reason"]}
