"""The JSON API (contract in DESIGN.md, "HTTP API"). Handlers only translate HTTP: the
work is in intake, cases, letters and adhoc, which the CLI calls too."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Query, Response
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from notifier.api import adhoc, intake
from notifier.api.access import Anyone, Caseworker, PdfDep, RuntimeDep, System
from notifier.api.cases import case_view
from notifier.api.letters import cancel_letter, find_letter, letter_view
from notifier.api.letters import sent_document as stored_document
from notifier.api.metrics import CONTENT_TYPE, health, render_metrics
from notifier.api.reads import Reader, case_read, letter_read, reader
from notifier.channels.gateway import certificate_days_left
from notifier.delivery.pdf import MEDIA_TYPE as PDF
from notifier.intake.events import DATA_MODELS
from notifier.operations.certificate import certificate_expiry
from notifier.records.receipts import accept_receipt

router = APIRouter()
PROBLEM = {"description": "Problem: `detail` and field-level `errors`"}
PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: PROBLEM, 403: PROBLEM, 413: PROBLEM, 422: PROBLEM, 503: PROBLEM}


class EventDoc(BaseModel):
    """The event envelope (DESIGN.md); ``data`` depends on ``type`` (RULES.md)."""

    event_id: str = Field(examples=["evt-0001"])
    type: str = Field(examples=sorted(DATA_MODELS))
    case_id: str = Field(examples=["SDP-2026-0042"])
    occurred_at: str = Field(examples=["2026-11-23T10:15:00+01:00"])
    data: dict[str, Any]


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=300, description="For the audit trail")


_EVENT = EventDoc.model_json_schema()
EVENTS_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "oneOf": [_EVENT, {"type": "array", "items": _EVENT, "minItems": 1,
                       "maxItems": intake.MAX_EVENTS}]}}}}}


@router.post("/events", status_code=202, tags=["events"], openapi_extra=EVENTS_BODY,
             responses={**PROBLEMS, 409: PROBLEM})
def post_events(runtime: RuntimeDep, _: System,
                body: Annotated[Any, Body()]) -> dict[str, Any]:
    """One event or a list: each `accepted` or `duplicate`. A malformed (422) or refused
    (409) event stores nothing from the request."""
    items, locate = (body, intake.in_list) if isinstance(body, list) else ([body], intake.alone)
    events = intake.parse_batch(items, locate)
    outcomes = intake.ingest(runtime.store, runtime.planner, events, runtime.clock.now(),
                             locate, runtime.settings.email_domain_list)
    return {"results": [o.as_json() for o in outcomes]}


@router.post("/receipts", tags=["events"], responses={**PROBLEMS, 404: PROBLEM, 409: PROBLEM})
def post_receipt(runtime: RuntimeDep, _: System,
                 body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    """A Digital Post business receipt for a sent letter (by messageUUID = letter id)."""
    return accept_receipt(runtime.store, runtime.renderer.catalog, body, runtime.clock.now(),
                          paper_resend=runtime.settings.paper_resend_on_failure)


@router.get("/cases/{case_id}", tags=["cases"], responses={**PROBLEMS, 404: PROBLEM},
            dependencies=[case_read("case_timeline")])
def get_case(runtime: RuntimeDep, _: Caseworker, case_id: str) -> dict[str, Any]:
    """The case's state and its letter timeline."""
    return case_view(runtime, case_id)


@router.post("/cases/{case_id}/letters", status_code=201, tags=["letters"],
             responses={**PROBLEMS, 200: {"description": "Repeated request: the same letter"},
                        404: PROBLEM, 409: PROBLEM})
def post_letter(runtime: RuntimeDep, who: Caseworker, case_id: str,
                request: adhoc.LetterRequest, response: Response) -> dict[str, Any]:
    """An ad-hoc letter: any catalog kind for a citizen or employer, or `adhoc` free text."""
    view, created = adhoc.create_letter(runtime, case_id, request, by=who.label)
    response.status_code = 201 if created else 200
    response.headers["Location"] = f"/letters/{view['letter_id']}"
    return {"outcome": "created" if created else "duplicate", "letter": view}


@router.post("/letters/preview", tags=["letters"], response_class=HTMLResponse,
             responses={**PROBLEMS, 200: {"content": {"text/html": {}, PDF: {}}},
                        404: PROBLEM, 409: PROBLEM})
def post_preview(runtime: RuntimeDep, pdf: PdfDep, _: Caseworker,
                 request: adhoc.PreviewRequest,
                 reads: Annotated[Reader, Depends(reader())]) -> Response:
    """The letter rendered exactly as it would be sent; nothing is stored. With a
    `case_id` it holds the case's data, and the read is in the access log."""
    rendered = adhoc.preview(runtime, request)
    if request.case_id:
        reads.read(request.case_id, "preview")
    if request.format == "pdf":
        return Response(pdf.render(rendered), media_type=PDF)
    return HTMLResponse(rendered.html)


@router.get("/letters/{letter_id}", tags=["letters"], responses={**PROBLEMS, 404: PROBLEM},
            dependencies=[letter_read("letter")])
def get_letter(runtime: RuntimeDep, _: Caseworker, letter_id: str) -> dict[str, Any]:
    letter = find_letter(runtime.store, letter_id)
    return letter_view(letter, runtime.renderer.catalog, runtime.planner.calendar)


@router.get("/letters/{letter_id}/document", tags=["letters"], response_class=HTMLResponse,
            responses={**PROBLEMS, 200: {"content": {"text/html": {}, PDF: {},
                                                      "application/json": {}}},
                       404: PROBLEM, 409: PROBLEM},
            dependencies=[letter_read("document", sent_only=True)])
def get_document(runtime: RuntimeDep, pdf: PdfDep, _: Caseworker, letter_id: str,
                 fmt: Annotated[Literal["html", "pdf", "json"], Query(alias="format")] = "html",
                 ) -> Response:
    """The exact document that was sent (aktindsigt): HTML, PDF or JSON with the text."""
    document = stored_document(runtime.store, letter_id)
    if fmt == "pdf":
        return Response(pdf.sent(document), media_type=PDF)
    if fmt == "json":
        return JSONResponse(document)
    return HTMLResponse(document["html"])


@router.post("/letters/{letter_id}/cancel", tags=["letters"],
             responses={**PROBLEMS, 404: PROBLEM, 409: PROBLEM})
def post_cancel(runtime: RuntimeDep, who: Caseworker, letter_id: str,
                body: Annotated[CancelRequest | None, Body()] = None) -> dict[str, Any]:
    """Cancel a letter not yet being sent (409 once a worker has started it)."""
    letter, changed = cancel_letter(runtime.store, letter_id, runtime.clock.now(),
                                    by=who.label, reason=body.reason if body else None)
    view = letter_view(letter, runtime.renderer.catalog, runtime.planner.calendar)
    return {"outcome": "cancelled" if changed else "already_cancelled", "letter": view}


@router.post("/letters/{letter_id}/release", tags=["letters"],
             responses={**PROBLEMS, 404: PROBLEM, 409: PROBLEM})
def post_release(runtime: RuntimeDep, who: Caseworker, letter_id: str,
                 body: Annotated[CancelRequest | None, Body()] = None) -> dict[str, Any]:
    """Release a held stop decision: it is sent in the next send window (issue 11)."""
    from notifier.api.held import release_letter

    letter, changed = release_letter(runtime.store, runtime.planner.calendar, letter_id,
                                     runtime.clock.now(), by=who.label,
                                     reason=body.reason if body else None)
    view = letter_view(letter, runtime.renderer.catalog, runtime.planner.calendar)
    return {"outcome": "released" if changed else "already_released", "letter": view}


@router.get("/healthz", tags=["operations"])
def get_health(runtime: RuntimeDep) -> JSONResponse:
    """Redis reachable, dispatcher heartbeat age, queue depth. No token needed."""
    status, body = health(runtime.store, runtime.clock, runtime.settings)
    days = certificate_days_left(runtime.channels, runtime.clock.now())  # issue 12
    if days is not None:
        body["gateway_certificate_days_left"] = days
    return JSONResponse(body, status_code=status)


@router.get("/metrics", tags=["operations"], response_class=Response,
            responses={200: {"content": {"text/plain": {}}}})
def get_metrics(runtime: RuntimeDep, _: Anyone) -> Response:
    """Prometheus text format, from counters shared by every process."""
    days = certificate_days_left(runtime.channels, runtime.clock.now())  # issue 12
    expiry = certificate_expiry(runtime.channels, runtime.clock.now())  # issue 13
    return Response(render_metrics(runtime.store, runtime.clock, days,
                                   expiry.seconds_left if expiry else None),
                    media_type=CONTENT_TYPE)
