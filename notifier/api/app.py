"""The FastAPI application: ``create_app(runtime)`` wires routes, pages, errors and limits.

Errors become one JSON shape, ``{"detail": ..., "errors": [{"field", "message"}]}``:
InputError 422, ConflictError 409, NotFoundError 404, an unreachable Redis 503. The
caseworker pages get the same errors as HTML.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import redis
from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from notifier.api import access_export, docs, legal_hold, operations_api, ui, ui_hold, ui_operations
from notifier.api.auth import parse_tokens
from notifier.api.errors import NotFoundError
from notifier.api.middleware import BodyLimit, Hardening
from notifier.api.rendering import BoundedPdf
from notifier.api.routes import router
from notifier.api.security import LoginGuard, Sessions, Tokens
from notifier.errors import ConflictError, FieldError, InputError
from notifier.intake.events import field_errors
from notifier.logging import get_logger
from notifier.runtime import Runtime

log = get_logger("notifier.api")
Handler = Callable[[Request, Any], Awaitable[Response]]


def create_app(runtime: Runtime) -> FastAPI:
    """The application for ``runtime``. ConfigError if the token setting is malformed."""
    # The framework's docs load Swagger UI from a CDN and are open to anyone: off; our
    # own (``docs.py``) serve packaged assets behind a login (issue 17).
    app = FastAPI(
        docs_url=None, redoc_url=None, openapi_url=None,
        title="notifier",
        summary="Digital Post letters for sygedagpengeopfølgning: events in, letters out",
        version="1",
        openapi_tags=[{"name": "events", "description": "The case system (role system)"},
                      {"name": "cases", "description": "Caseworkers (role caseworker)"},
                      {"name": "letters", "description": "Caseworkers (role caseworker)"},
                      {"name": "operations", "description": "Health and metrics"}],
    )
    app.state.runtime = runtime
    settings = runtime.settings
    app.state.tokens = Tokens(parse_tokens(settings.api_tokens.get_secret_value()),
                              runtime.client, runtime.clock)
    app.state.sessions = Sessions(app.state.tokens, settings)
    app.state.guard = LoginGuard(runtime.client, settings)
    app.state.pdf = BoundedPdf(runtime.pdf, runtime.settings.render_timeout,
                               runtime.settings.pdf_cache_entries)
    app.include_router(router)
    app.include_router(access_export.router)  # issue 14
    app.include_router(legal_hold.router)  # issue 14a
    if runtime.settings.api_docs == "token":
        docs.install(app)
    app.include_router(ui.router)
    app.include_router(ui_operations.router)  # issue 13
    app.include_router(operations_api.router)
    app.include_router(ui_hold.router)  # issue 14a
    app.mount("/ui/static", StaticFiles(directory=ui.STATIC), name="static")
    for error, handler in _handlers().items():
        app.add_exception_handler(error, handler)
    app.add_middleware(BodyLimit, limit=settings.api_max_body_bytes,
                       timeout=settings.api_body_timeout)
    app.add_middleware(Hardening, trusted_proxies=settings.trusted_proxy_list)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/ui", status_code=303)

    return app


def _handlers() -> dict[type[Exception], Handler]:
    async def input_error(request: Request, exc: Any) -> Response:
        if isinstance(exc, NotFoundError):  # issue 14a: 410 naming where it was archived
            exc = legal_hold.archived_instead(request.app.state.runtime,
                                              request.path_params) or exc
        status = _status(exc)
        if ui.is_page(request):
            return ui.error_page(request, status, exc.errors)
        return _problem(status, str(exc), exc.errors)

    async def validation_error(request: Request, exc: Any) -> Response:
        errors = field_errors(_without_location(err) for err in exc.errors())
        if ui.is_page(request):
            return ui.error_page(request, 422, errors)
        return _problem(422, "; ".join(str(e) for e in errors), errors)

    async def http_error(request: Request, exc: Any) -> Response:
        """Auth (401/403), unknown routes (404), the login redirect of the pages (303)."""
        headers = getattr(exc, "headers", None)
        if ui.is_page(request) and exc.status_code in (401, 403, 404):
            return ui.error_page(request, exc.status_code, [FieldError("(side)", exc.detail)])
        if exc.status_code < 400:
            return Response(status_code=exc.status_code, headers=headers)
        response = _problem(exc.status_code, str(exc.detail), [FieldError("(request)",
                                                                          str(exc.detail))])
        response.headers.update(headers or {})
        return response

    async def store_down(request: Request, exc: Any) -> Response:
        log.error("api.store_unavailable", error=type(exc).__name__)
        message = "the store (Redis) is unavailable; try again shortly"
        return _problem(503, message, [FieldError("(store)", "unavailable")])

    async def out_of_range(request: Request, exc: Any) -> Response:
        """A safety net (issue 17): input is range-checked, so this means a check is
        missing; the client still gets a 422, never a 500."""
        log.warning("api.arithmetic_error", error=type(exc).__name__)
        errors = [FieldError("(date)", "a date or number is out of the range this service "
                             "handles")]
        if ui.is_page(request):
            return ui.error_page(request, 422, errors)
        return _problem(422, str(errors[0]), errors)

    return {InputError: input_error, RequestValidationError: validation_error,
            HTTPException: http_error, redis.RedisError: store_down,
            ArithmeticError: out_of_range}


def _status(exc: InputError) -> int:
    if isinstance(exc, legal_hold.ArchivedError):
        return 410
    if isinstance(exc, NotFoundError):
        return 404
    return 409 if isinstance(exc, ConflictError) else 422


def _without_location(err: Any) -> Any:
    """FastAPI prefixes where a value came from ("body", "path", "query"): drop it."""
    loc = tuple(err.get("loc", ()))
    return {**err, "loc": loc[1:] if loc and loc[0] in ("body", "path", "query") else loc}


def _problem(status: int, detail: str, errors: list[FieldError]) -> JSONResponse:
    return JSONResponse(
        {"detail": detail, "errors": [{"field": e.field, "message": e.message} for e in errors]},
        status_code=status)
