"""The operator's legal-hold page under /ui (issue 14a): put a hold on a case or lift it,
with a reason; the audit entry names the operator. Danish, no script, like the
caseworker pages (``ui.py``), whose login, session and same-origin check it uses."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from notifier.api.auth import Principal, Role
from notifier.api.legal_hold import hold_view, lift_hold, put_hold
from notifier.api.ui import COOKIE, Posted, page, sessions
from notifier.api.uitext import danish_errors
from notifier.errors import ConflictError, InputError
from notifier.runtime import Runtime

router = APIRouter(prefix="/ui/hold", include_in_schema=False)
HOME = "/ui/hold"
NOTICES = {"holdt": "Sagen er nu i retligt tilbagehold: den arkiveres og slettes ikke.",
           "allerede-holdt": "Sagen var allerede i retligt tilbagehold.",
           "ophaevet": "Tilbageholdet er ophævet: sagen følger igen de normale slettefrister."}


def operator(request: Request) -> Principal:
    """The logged-in operator, or the login page (back here after)."""
    principal = sessions(request).principal(request.cookies.get(COOKIE))
    if principal is None:
        raise HTTPException(303, "log in first", headers={"Location": f"/ui/login?next={HOME}"})
    if principal.role is not Role.OPERATOR:
        raise HTTPException(403, "this page is for the operator role")
    request.state.principal = principal.label
    return principal


Who = Annotated[Principal, Depends(operator)]


@router.get("")
def hold_page(request: Request, _: Who, sag: str = "", besked: str = "") -> HTMLResponse:
    runtime: Runtime = request.app.state.runtime
    hold: dict[str, Any] | None = None
    errors: list[dict[str, str]] = []
    if sag:
        try:
            hold = hold_view(runtime, sag)
        except InputError as exc:
            errors = danish_errors(exc.errors)
    return page(request, "hold.html", 200, logged_in=True, case_id=sag, hold=hold,
                errors=errors, notice=NOTICES.get(besked))


@router.post("", dependencies=[Posted])
def hold_post(request: Request, who: Who,
              case_id: Annotated[str, Form(max_length=64)] = "",
              reason: Annotated[str, Form(max_length=300)] = "",
              action: Annotated[str, Form(max_length=10)] = "hold") -> Response:
    runtime: Runtime = request.app.state.runtime
    case_id = case_id.strip()
    try:
        if action == "release":
            _, changed = lift_hold(runtime, case_id, reason, by=who.label)
            if not changed:
                raise ConflictError.single("case_id", "the case has no legal hold")
            notice = "ophaevet"
        else:
            _, changed = put_hold(runtime, case_id, reason, by=who.label)
            notice = "holdt" if changed else "allerede-holdt"
    except InputError as exc:
        status = 409 if isinstance(exc, ConflictError) else 422
        return page(request, "hold.html", status, logged_in=True, case_id=case_id, hold=None,
                    errors=danish_errors(exc.errors), reason=reason, notice=None)
    return RedirectResponse(f"{HOME}?sag={case_id}&besked={notice}", status_code=303)
