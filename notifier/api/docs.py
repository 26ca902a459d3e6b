"""API documentation without a CDN (issue 17): Swagger UI from the ``swagger-ui-bundle``
package, served from this process, so the docs work on an offline network, and behind a
login: the OpenAPI document needs a bearer token (``/openapi.json``, any role); the
browsable page lives under the caseworker pages (``/ui/docs``), so it needs a session.
``NOTIFIER_API_DOCS=off`` serves neither.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import swagger_ui_bundle  # type: ignore[import-untyped]
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from notifier.api.access import Anyone
from notifier.api.ui import Who

ASSETS = Path(swagger_ui_bundle.swagger_ui_path)
router = APIRouter(include_in_schema=False)
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>notifier API</title>
<link rel="stylesheet" href="/ui/docs/assets/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/ui/docs/assets/swagger-ui-bundle.js"></script>
<script src="/ui/docs/init.js"></script></body></html>
"""
# An own file, not inline: the pages' Content-Security-Policy allows only our scripts.
INIT = """window.ui = SwaggerUIBundle({url: "/ui/docs/openapi.json", dom_id: "#swagger-ui",
  deepLinking: true, presets: [SwaggerUIBundle.presets.apis]});
"""


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/ui/docs/assets", StaticFiles(directory=ASSETS), name="docs-assets")


def _spec(request: Request) -> dict[str, Any]:
    spec: dict[str, Any] = request.app.openapi()
    return spec


@router.get("/openapi.json")
def openapi(request: Request, _: Anyone) -> JSONResponse:
    return JSONResponse(_spec(request))


@router.get("/docs")
def docs() -> RedirectResponse:
    return RedirectResponse("/ui/docs", status_code=307)


@router.get("/ui/docs")
def docs_page(_: Who) -> HTMLResponse:
    return HTMLResponse(PAGE)


@router.get("/ui/docs/openapi.json")
def docs_spec(request: Request, _: Who) -> JSONResponse:
    return JSONResponse(_spec(request))


@router.get("/ui/docs/init.js")
def docs_init(_: Who) -> Response:
    return Response(INIT, media_type="text/javascript")
