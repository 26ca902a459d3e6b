"""The caseworker pages under ``/ui``: server-rendered (Jinja2), usable without JavaScript;
a small script only adds the live preview and hides fields a letter kind does not use.

A caseworker logs in with their token once; the cookie (HttpOnly, SameSite=Strict, scoped
to /ui, Secure unless NOTIFIER_DEV_MODE) holds a random server-side session id, never the
token, and the session ends when idle, when old, at logout or when the token is revoked
(``security.py``). Every POST must come from this origin: Origin, else Referer, else
Sec-Fetch-Site is checked. Case lookup is a POST,
so whatever is typed in the search box (even a CPR number) never lands in a URL or log.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from notifier.api import adhoc
from notifier.api.access import PdfDep, RuntimeDep, authenticate, client_of
from notifier.api.auth import Principal, Role
from notifier.api.cases import case_view, check_case_id
from notifier.api.errors import NotFoundError
from notifier.api.letters import cancel_letter, find_letter, letter_view
from notifier.api.letters import sent_document as stored_document
from notifier.api.reads import case_read, letter_read
from notifier.api.security import Sessions
from notifier.api.uitext import LABELS, NOTICES, danish_errors, kind_choices
from notifier.delivery.pdf import MEDIA_TYPE as PDF
from notifier.errors import ConflictError, FieldError, InputError
from notifier.identifiers import looks_like_cpr
from notifier.intake.bounds import date_problem
from notifier.intake.events import validate_model
from notifier.logging import get_logger
from notifier.records.access_log import Via
from notifier.runtime import Runtime

log = get_logger("notifier.api")
HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
COOKIE = "notifier_ui"
OPERATIONS = "/ui/drift"  # issue 13: the operators' page (ui_operations.py)
HOLD = "/ui/hold"  # issue 14a: the operators' legal-hold page (ui_hold.py)
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals["labels"] = LABELS
router = APIRouter(prefix="/ui", include_in_schema=False)
DOCUMENT_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"


def is_page(request: Request) -> bool:
    return request.url.path.startswith("/ui")


def sessions(request: Request) -> Sessions:
    found: Sessions = request.app.state.sessions
    return found


def caseworker(request: Request) -> Principal:
    """The logged-in caseworker, or a redirect to the login page (back here after)."""
    principal = sessions(request).principal(request.cookies.get(COOKIE))
    if principal is not None and principal.role is Role.OPERATOR:  # issue 13: their page
        raise HTTPException(303, "the operations page", headers={"Location": OPERATIONS})
    if principal is None or principal.role is not Role.CASEWORKER:
        target = quote(request.url.path, safe="/")
        raise HTTPException(303, "log in first",
                            headers={"Location": f"/ui/login?next={target}"})
    request.state.principal = principal.label
    return principal


def same_origin(request: Request) -> None:
    """Refuse a form posted from another site (besides the SameSite cookie): by Origin;
    without one by Referer; without both by Sec-Fetch-Site; a request with none of the
    three (not a current browser) is let through, as SameSite=Strict still holds."""
    own = str(request.base_url).rstrip("/")
    origin = request.headers.get("origin")
    referer = request.headers.get("referer")
    fetch_site = request.headers.get("sec-fetch-site")
    if origin is not None:
        cross = origin != own
    elif referer is not None:
        cross = referer != own and not referer.startswith(own + "/")
    else:
        cross = fetch_site not in (None, "same-origin", "none")
    if cross:
        raise HTTPException(403, "cross-site form submission refused")


Who = Annotated[Principal, Depends(caseworker)]
Posted = Depends(same_origin)


def _case_read(what: str) -> Any:
    """Issue 14: the page shows the case's data; the access log says who saw it."""
    return case_read(what, caseworker, Via.UI)


def _letter_read(what: str, *, sent_only: bool = False) -> Any:
    return letter_read(what, caseworker, Via.UI, sent_only=sent_only)


def page(request: Request, name: str, code: int = 200, headers: Mapping[str, str] | None = None,
         **context: Any) -> HTMLResponse:
    runtime: Runtime = request.app.state.runtime
    context.setdefault("renderer", runtime.renderer)
    return templates.TemplateResponse(request, name, context, status_code=code,
                                      headers=headers)


def error_page(request: Request, status: int, errors: list[FieldError]) -> HTMLResponse:
    return page(request, "error.html", status, status=status, errors=danish_errors(errors),
                logged_in=COOKIE in request.cookies)


# --- logging in -------------------------------------------------------------------------
@router.get("/login")
def login_form(request: Request, target: Annotated[str, Query(alias="next")] = "/ui"
               ) -> HTMLResponse:
    return page(request, "login.html", next=_safe_next(target))


@router.post("/login", dependencies=[Posted])
def login(request: Request, runtime: RuntimeDep,
          token: Annotated[str, Form(max_length=200)] = "",
          target: Annotated[str, Form(alias="next")] = "/ui") -> Response:
    try:
        principal = authenticate(request, token.strip(), (Role.CASEWORKER, Role.OPERATOR),
                                 what="ui")  # issue 14a: operators too
    except HTTPException as exc:
        errors = {403: "Adgangsnøglen giver ikke adgang til sagsbehandlersiderne.",
                  429: "For mange forkerte forsøg. Vent lidt, og prøv igen."}
        error = errors.get(exc.status_code, "Adgangsnøglen er ukendt. Prøv igen.")
        status = 429 if exc.status_code == 429 else 401
        return page(request, "login.html", status, next=_safe_next(target), error=error,
                    headers=exc.headers if status == 429 else None)
    log.info("auth.login", principal=principal.label, client=client_of(request))
    target = _safe_next(target)
    if principal.role is Role.OPERATOR and not target.startswith((OPERATIONS, HOLD)):
        target = OPERATIONS  # issue 13: an operator has only the operations page
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(COOKIE, sessions(request).start(token.strip()), httponly=True,
                        samesite="strict", path="/ui",
                        secure=not runtime.settings.dev_mode)
    return response


@router.post("/logout", dependencies=[Posted])
def logout(request: Request) -> Response:
    sessions(request).end(request.cookies.get(COOKIE))
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(COOKIE, path="/ui")
    return response


def _safe_next(target: str) -> str:
    """Only a page of ours: never an open redirect to another site."""
    return target if target.startswith("/ui") and "//" not in target else "/ui"


# --- cases ------------------------------------------------------------------------------
@router.get("")
def index(request: Request, _: Who) -> HTMLResponse:
    return page(request, "index.html", logged_in=True)


@router.post("/cases", dependencies=[Posted])
def lookup(request: Request, runtime: RuntimeDep, _: Who,
           case_id: Annotated[str, Form(max_length=200)] = "") -> Response:
    case_id = case_id.strip()
    try:
        case_view(runtime, check_case_id(case_id))
    except InputError as exc:
        return page(request, "index.html", 404 if isinstance(exc, NotFoundError) else 422,
                    logged_in=True, errors=danish_errors(exc.errors),
                    case_id="" if looks_like_cpr(case_id) else case_id)
    return RedirectResponse(f"/ui/cases/{case_id}", status_code=303)


@router.get("/cases/{case_id}", dependencies=[_case_read("case_timeline")])
def case_page(request: Request, runtime: RuntimeDep, _: Who, case_id: str,
              besked: str = "", brev: str = "") -> HTMLResponse:
    case = case_view(runtime, case_id)
    letters = {x["letter_id"]: x for x in case["letters"]}
    notice = besked if besked in NOTICES else None
    return page(request, "case.html", logged_in=True, case=case, notice=notice,
                notice_letter=letters.get(brev))


# --- writing a letter -------------------------------------------------------------------
@router.get("/cases/{case_id}/letters/new", dependencies=[_case_read("compose")])
def compose_form(request: Request, runtime: RuntimeDep, _: Who, case_id: str) -> HTMLResponse:
    case = case_view(runtime, case_id)
    values = {"kind": adhoc.ADHOC, "when": "window",
              "idempotency_key": "ui-" + secrets.token_hex(16)}
    return _compose(request, runtime, case, values)


@router.post("/cases/{case_id}/letters", dependencies=[Posted, _case_read("compose")])
async def compose_post(request: Request, runtime: RuntimeDep, who: Who, case_id: str
                       ) -> Response:
    case = case_view(runtime, case_id)
    form = await request.form()
    values = {k: str(v) for k, v in form.items()}
    try:
        letter_request = _letter_request(runtime, form)
        if form.get("action") == "send":
            view, created = adhoc.create_letter(runtime, case_id, letter_request,
                                                by=who.label)
            notice = "planlagt" if created else "findes"
            return RedirectResponse(f"/ui/cases/{case_id}?besked={notice}&brev="
                                    f"{view['letter_id']}", status_code=303)
        draft = adhoc.draft_letter(runtime, case_id, letter_request, runtime.clock.now(),
                                   by=who.label)
    except InputError as exc:
        status = 409 if isinstance(exc, ConflictError) else 422
        return _compose(request, runtime, case, values, status, errors=exc.errors)
    return _compose(request, runtime, case, values, preview=draft.rendered.html)


@router.post("/cases/{case_id}/letters/preview", dependencies=[Posted, _case_read("preview")])
async def live_preview(request: Request, runtime: RuntimeDep, who: Who, case_id: str
                       ) -> JSONResponse:
    """The form's live preview: JSON with the letter HTML, or the errors in Danish."""
    form = await request.form()
    try:
        draft = adhoc.draft_letter(runtime, case_id, _letter_request(runtime, form),
                                   runtime.clock.now(), by=who.label)
    except InputError as exc:
        return JSONResponse({"ok": False, "errors": danish_errors(exc.errors)}, 422)
    return JSONResponse({"ok": True, "html": draft.rendered.html})


def _compose(request: Request, runtime: Runtime, case: dict[str, Any], values: dict[str, str],
             status: int = 200, *, errors: list[FieldError] | None = None,
             preview: str | None = None) -> HTMLResponse:
    return page(request, "compose.html", status, logged_in=True, case=case, values=values,
                kinds=kind_choices(runtime), errors=danish_errors(errors or []),
                preview=preview)


def _letter_request(runtime: Runtime, form: FormData) -> adhoc.LetterRequest:
    """The form as the API's request: fields the chosen kind does not use are ignored."""
    field = {k: str(v).strip() for k, v in form.items()}
    kind = field.get("kind", adhoc.ADHOC)
    raw: dict[str, Any] = {"kind": kind, "recipient": field.get("recipient") or None,
                           "idempotency_key": field.get("idempotency_key") or None}
    if kind == adhoc.ADHOC:
        raw |= {"subject": field.get("subject") or None,
                "paragraphs": [field["text"]] if field.get("text") else [],
                "deadline": field.get("deadline") or None}
    rule = runtime.planner.rules.letters.get(kind)
    scope = rule.scope if rule else None
    if scope in ("meeting", "decision"):
        raw[f"{scope}_id"] = field.get(f"{scope}_id") or None
    when = field.get("when", "window")
    raw["immediate"] = when == "now"
    if when == "at":
        raw["send_at"] = _local_instant(runtime, field.get("send_at", ""))
    return validate_model(adhoc.LetterRequest, raw)


def _local_instant(runtime: Runtime, text: str) -> str:
    """A ``datetime-local`` value (Copenhagen wall clock) as an ISO instant with offset."""
    try:
        naive = datetime.fromisoformat(text)
    except ValueError:
        raise InputError.single("send_at", "choose a date and time") from None
    problem = date_problem(naive.date())  # before the calendar's arithmetic can overflow
    if problem:
        raise InputError.single("send_at", problem)
    calendar = runtime.planner.calendar
    return calendar.at_local(naive.date(), naive.time()).isoformat()


# --- letters ----------------------------------------------------------------------------
@router.get("/letters/{letter_id}", dependencies=[_letter_read("letter")])
def letter_page(request: Request, runtime: RuntimeDep, _: Who, letter_id: str) -> HTMLResponse:
    letter = letter_view(find_letter(runtime.store, letter_id), runtime.renderer.catalog,
                         runtime.planner.calendar)
    return page(request, "letter.html", logged_in=True, letter=letter)


@router.get("/letters/{letter_id}/document",
            dependencies=[_letter_read("document", sent_only=True)])
def document_page(runtime: RuntimeDep, _: Who, letter_id: str) -> HTMLResponse:
    """The sent letter itself, as sent; sandboxed, it can run nothing."""
    document = stored_document(runtime.store, letter_id)
    return HTMLResponse(document["html"], headers={"content-security-policy": DOCUMENT_POLICY})


@router.get("/letters/{letter_id}/document.pdf",
            dependencies=[_letter_read("document_pdf", sent_only=True)])
def document_pdf_page(runtime: RuntimeDep, pdf: PdfDep, _: Who, letter_id: str) -> Response:
    data = pdf.sent(stored_document(runtime.store, letter_id))
    return Response(data, media_type=PDF, headers={
        "content-disposition": f'inline; filename="brev-{letter_id}.pdf"'})


@router.get("/letters/{letter_id}/cancel", dependencies=[_letter_read("letter")])
def cancel_form(request: Request, runtime: RuntimeDep, _: Who, letter_id: str) -> HTMLResponse:
    letter = letter_view(find_letter(runtime.store, letter_id), runtime.renderer.catalog,
                         runtime.planner.calendar)
    return page(request, "cancel.html", logged_in=True, letter=letter)


@router.post("/letters/{letter_id}/cancel", dependencies=[Posted])
def cancel(runtime: RuntimeDep, who: Who, letter_id: str,
           reason: Annotated[str, Form(max_length=300)] = "") -> Response:
    letter, changed = cancel_letter(runtime.store, letter_id, runtime.clock.now(),
                                    by=who.label, reason=reason.strip() or None)
    notice = "annulleret" if changed else "allerede-annulleret"
    return RedirectResponse(f"/ui/cases/{letter.case_id}?besked={notice}&brev={letter_id}",
                            status_code=303)


@router.get("/letters/{letter_id}/release", dependencies=[_letter_read("letter")])
def release_form(request: Request, runtime: RuntimeDep, _: Who, letter_id: str
                 ) -> HTMLResponse:
    letter = letter_view(find_letter(runtime.store, letter_id), runtime.renderer.catalog,
                         runtime.planner.calendar)
    return page(request, "release.html", logged_in=True, letter=letter)


@router.post("/letters/{letter_id}/release", dependencies=[Posted])
def release(runtime: RuntimeDep, who: Who, letter_id: str,
            reason: Annotated[str, Form(max_length=300)] = "") -> Response:
    """Release a held stop decision (issue 11); the audit entry names the caseworker."""
    from notifier.api.held import release_letter

    letter, changed = release_letter(runtime.store, runtime.planner.calendar, letter_id,
                                     runtime.clock.now(), by=who.label,
                                     reason=reason.strip() or None)
    notice = "frigivet" if changed else "allerede-frigivet"
    return RedirectResponse(f"/ui/cases/{letter.case_id}?besked={notice}&brev={letter_id}",
                            status_code=303)
