"""Legal hold on a case (issue 14a): the operator role puts one on or lifts it, by API, CLI
(``notifier hold``) or the /ui form; a held case is never archived or purged. Each change
is an audit entry in the case naming who and why.

Also where a purged case or letter went: the API answers 410 Gone naming the archive
folder instead of a bare 404.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends
from pydantic import BaseModel, ConfigDict, Field

from notifier.api.access import RuntimeDep, require
from notifier.api.auth import Principal, Role
from notifier.api.cases import check_case_id
from notifier.api.errors import NotFoundError
from notifier.errors import ConflictError, FieldError, InputError
from notifier.intake.plaintext import control_problem
from notifier.logging import redact_text
from notifier.records.archive import Archive
from notifier.records.retention_store import hold_of, purged_record, release_hold, set_hold
from notifier.runtime import Runtime

router = APIRouter()
Operator = Annotated[Principal, Depends(require(Role.OPERATOR))]
PROBLEM = {"description": "Problem: `detail` and field-level `errors`"}


class ArchivedError(NotFoundError):
    """The case or letter was archived and purged from Redis (HTTP 410, with where)."""


class HoldRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=300,
                        description="Why (for the audit trail; no CPR numbers)")


def _reason(reason: str) -> str:
    reason = reason.strip()
    problem = control_problem(reason) if reason else "required"
    if problem:
        raise InputError.single("reason", problem)
    return redact_text(reason)[:300]


def _case(runtime: Runtime, case_id: str) -> str:
    check_case_id(case_id)
    if runtime.store.case(case_id) is None:
        gone = archived_case(runtime, case_id)
        raise gone or NotFoundError.single("case_id", "unknown case")
    return case_id


def hold_view(runtime: Runtime, case_id: str) -> dict[str, Any]:
    hold = hold_of(runtime.store, _case(runtime, case_id))
    return {"case_id": case_id, "held": hold is not None, **(hold or {})}


def put_hold(runtime: Runtime, case_id: str, reason: str, *, by: str) -> tuple[dict[str, Any],
                                                                               bool]:
    """Hold the case; (view, whether this call put the hold on)."""
    changed = set_hold(runtime.store, _case(runtime, case_id), runtime.clock.now(), by=by,
                       reason=_reason(reason))
    return hold_view(runtime, case_id), changed


def lift_hold(runtime: Runtime, case_id: str, reason: str, *, by: str) -> tuple[dict[str, Any],
                                                                               bool]:
    """Lift the case's hold; (view, whether this call lifted one)."""
    changed = release_hold(runtime.store, _case(runtime, case_id), runtime.clock.now(), by=by,
                           reason=_reason(reason))
    return hold_view(runtime, case_id), changed


# --- where purged things went -------------------------------------------------------------
def archived_case(runtime: Runtime, case_id: str) -> ArchivedError | None:
    record = purged_record(runtime.client, case_id)
    if record is None:
        return None
    return ArchivedError([FieldError("case_id", (
        f"archived and purged on {record['on']}: {_where(runtime, record['folder'])} "
        f"(read it with `notifier archive show {case_id}`)"))])


def archived_letter(runtime: Runtime, letter_id: str) -> ArchivedError | None:
    root = runtime.settings.archive_dir
    found = Archive(root).find_letter(letter_id) if root is not None else None
    if found is None:
        return None
    folder = f"{found['folder']}/letters/{letter_id}"
    return ArchivedError([FieldError("letter_id", (
        f"archived and purged with case {found['case_id']}: {_where(runtime, folder)} "
        f"(read it with `notifier archive show {found['case_id']}`)"))])


def _where(runtime: Runtime, folder: str) -> str:
    root = runtime.settings.archive_dir
    return f"{root}/{folder}" if root is not None else f"the archive, {folder}"


def archived_instead(runtime: Runtime, path_params: Mapping[str, str]
                     ) -> ArchivedError | None:
    """For a 404 on a route naming a letter or a case: 410 if it was archived."""
    if "letter_id" in path_params:
        return archived_letter(runtime, path_params["letter_id"])
    if "case_id" in path_params:
        return archived_case(runtime, path_params["case_id"])
    return None


# --- routes -------------------------------------------------------------------------------
@router.get("/cases/{case_id}/hold", tags=["operations"],
            responses={404: PROBLEM, 410: PROBLEM})
def get_hold(runtime: RuntimeDep, _: Operator, case_id: str) -> dict[str, Any]:
    """Whether the case is under legal hold (never archived or purged while it is)."""
    return hold_view(runtime, case_id)


@router.post("/cases/{case_id}/hold", tags=["operations"],
             responses={404: PROBLEM, 410: PROBLEM, 422: PROBLEM})
def post_hold(runtime: RuntimeDep, who: Operator, case_id: str,
              body: Annotated[HoldRequest, Body()]) -> dict[str, Any]:
    """Put a legal hold on the case; the audit trail names who and why."""
    view, changed = put_hold(runtime, case_id, body.reason, by=who.label)
    return {"outcome": "held" if changed else "already_held", "hold": view}


@router.post("/cases/{case_id}/hold/release", tags=["operations"],
             responses={404: PROBLEM, 409: PROBLEM, 410: PROBLEM, 422: PROBLEM})
def post_release_hold(runtime: RuntimeDep, who: Operator, case_id: str,
                      body: Annotated[HoldRequest, Body()]) -> dict[str, Any]:
    """Lift the case's legal hold (409 if it has none); the audit trail names who."""
    view, changed = lift_hold(runtime, case_id, body.reason, by=who.label)
    if not changed:
        raise ConflictError.single("case_id", "the case has no legal hold")
    return {"outcome": "released", "hold": view}

