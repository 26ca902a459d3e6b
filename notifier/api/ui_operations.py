"""The operations page under /ui (issue 13), for the ``operator`` role: in Danish, what is
dead, uncertain, held, overdue or stranded, the callbacks, the dispatcher's heartbeat,
the queue and the certificate; and two actions, each behind a confirmation page and
recorded with who did it: retry a dead letter, replay callbacks.

Same conventions as the caseworker pages (``ui.py``): the server-side session cookie,
same-origin POSTs only, the same CSP (no script needed here at all).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from notifier.api.access import RuntimeDep
from notifier.api.auth import Principal, Role
from notifier.api.letters import find_letter, letter_view
from notifier.api.reads import letter_read
from notifier.api.ui import COOKIE, OPERATIONS, Posted, page, sessions
from notifier.operations.survey import (
    dead_callback_ids,
    operations_view,
    replay_callbacks,
    retry_dead_letter,
)
from notifier.records.access_log import Via

router = APIRouter(prefix=OPERATIONS, include_in_schema=False)
NOTICES = ("genforsoegt", "allerede-genforsoegt", "genafsendt")


def operator(request: Request) -> Principal:
    """The logged-in operator, or the login page (back here after)."""
    principal = sessions(request).principal(request.cookies.get(COOKIE))
    if principal is None or principal.role is not Role.OPERATOR:
        raise HTTPException(303, "log in first",
                            headers={"Location": f"/ui/login?next={OPERATIONS}"})
    request.state.principal = principal.label
    return principal


Operator = Annotated[Principal, Depends(operator)]


@router.get("")
def operations_page(request: Request, runtime: RuntimeDep, who: Operator, besked: str = "",
                    antal: int = 0, alle: bool = False) -> HTMLResponse:
    view = operations_view(runtime, live=alle)
    return page(request, "operations.html", logged_in=True, operator=who.label, ops=view,
                notice=besked if besked in NOTICES else None, count=antal)


@router.get("/letters/{letter_id}/retry",
            dependencies=[letter_read("letter", who=operator, via=Via.UI)])
def retry_form(request: Request, runtime: RuntimeDep, who: Operator, letter_id: str
               ) -> HTMLResponse:
    letter = letter_view(find_letter(runtime.store, letter_id), runtime.renderer.catalog,
                         runtime.planner.calendar)
    return page(request, "operations_retry.html", logged_in=True, operator=who.label,
                letter=letter)


@router.post("/letters/{letter_id}/retry", dependencies=[Posted])
def retry(runtime: RuntimeDep, who: Operator, letter_id: str) -> Response:
    find_letter(runtime.store, letter_id)  # 422/404 for a malformed or unknown id
    done = retry_dead_letter(runtime, letter_id, by=who.label)
    notice = "genforsoegt" if done else "allerede-genforsoegt"
    return RedirectResponse(f"{OPERATIONS}?besked={notice}", status_code=303)


@router.get("/callbacks/replay")
def replay_form(request: Request, runtime: RuntimeDep, who: Operator) -> HTMLResponse:
    return page(request, "operations_replay.html", logged_in=True, operator=who.label,
                items=dead_callback_ids(runtime.store))


@router.post("/callbacks/replay", dependencies=[Posted])
def replay(runtime: RuntimeDep, who: Operator,
           confirm: Annotated[str, Form(max_length=10)] = "") -> Response:
    if confirm != "ja":
        return RedirectResponse(OPERATIONS, status_code=303)
    count = replay_callbacks(runtime, dead_callback_ids(runtime.store), by=who.label)
    return RedirectResponse(f"{OPERATIONS}?besked=genafsendt&antal={count}", status_code=303)
