"""Issue 17, finding 7: API docs from packaged assets behind a login, and slow clients
timed out (a request head a byte at a time, a body that never ends)."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path
from typing import Any

import fakeredis
import pytest

from notifier.api.middleware import BodyLimit
from notifier.api.server import ApiServer
from notifier.clock import SimulatedClock
from notifier.runtime import build_runtime
from notifier.settings import load_settings
from tests.unit.test_api_helpers import BASE, CASEWORKER_TOKEN, SYSTEM, TOKENS, Api, make_api


@pytest.fixture
def api(tmp_path: Path, clean_env: None, clock: SimulatedClock) -> Api:
    return make_api(tmp_path, clock)


def test_docs_are_local_and_need_a_login(api: Api) -> None:
    """/docs was Swagger UI from a CDN, open to anyone. Now: /openapi.json needs a token;
    /docs leads to /ui/docs, which needs a caseworker session and loads only our own
    assets (the packaged swagger-ui-bundle), which are served."""
    assert api.client.get("/openapi.json").status_code == 401
    spec = api.client.get("/openapi.json", headers=SYSTEM)
    assert spec.status_code == 200 and spec.json()["info"]["title"] == "notifier"
    assert "/ui/docs" not in spec.json()["paths"] and "/openapi.json" not in spec.json()["paths"]
    docs = api.client.get("/docs", follow_redirects=False)
    assert docs.status_code == 307 and docs.headers["location"] == "/ui/docs"
    assert api.client.get("/ui/docs", follow_redirects=False).status_code == 303
    assert api.client.get("/ui/docs/openapi.json", follow_redirects=False).status_code == 303
    api.client.post("/ui/login", data={"token": CASEWORKER_TOKEN}, headers={"Origin": BASE})
    page = api.client.get("/ui/docs")
    assert page.status_code == 200
    assert "//" not in page.text.replace("<!doctype", "")  # no other host: no CDN
    for asset in ("/ui/docs/assets/swagger-ui-bundle.js", "/ui/docs/assets/swagger-ui.css",
                  "/ui/docs/init.js", "/ui/docs/openapi.json"):
        response = api.client.get(asset)
        assert response.status_code == 200 and len(response.content) > 50, asset
    assert "script-src 'self'" in page.headers["content-security-policy"]


def test_docs_off_serves_none(tmp_path: Path, clean_env: None, clock: SimulatedClock) -> None:
    """NOTIFIER_API_DOCS=off: neither the document nor the page exists."""
    api = make_api(tmp_path, clock, api_docs="off")
    assert api.client.get("/openapi.json", headers=SYSTEM).status_code == 404
    assert api.client.get("/docs", follow_redirects=False).status_code == 404


def test_a_body_that_never_ends_gets_408() -> None:
    """A client that starts a body and then sends nothing more is answered 408 when the
    body deadline passes (it was kept open indefinitely)."""
    sent: list[dict[str, Any]] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("the app must not be reached")

    async def receive() -> dict[str, Any]:
        if not sent and not getattr(receive, "started", False):
            receive.started = True  # type: ignore[attr-defined]
            return {"type": "http.request", "body": b"{", "more_body": True}
        await asyncio.sleep(60)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "headers": [(b"content-length", b"10")]}
    started = time.monotonic()
    asyncio.run(BodyLimit(app, limit=1000, timeout=0.3)(scope, receive, send))
    assert time.monotonic() - started < 5
    assert sent[0]["status"] == 408


def test_a_slow_request_head_is_cut_off(tmp_path: Path, clean_env: None,
                                        clock: SimulatedClock) -> None:
    """Real uvicorn: a connection that sends half a request head and then waits is closed
    after NOTIFIER_API_HEADER_TIMEOUT; a normal request on another connection is served."""
    settings = load_settings(outbox_dir=tmp_path / "outbox", api_tokens=TOKENS,
                             api_header_timeout=0.5)
    runtime = build_runtime(settings, clock=clock, client=fakeredis.FakeRedis())
    server = ApiServer(runtime, "127.0.0.1", 0)
    host, port = server.start().rsplit(":", 1)
    try:
        slow = socket.create_connection((host, int(port)), timeout=10)
        slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        assert slow.recv(100) == b""  # closed by the server, not answered
        assert time.monotonic() - started < 5
        slow.close()
        fine = socket.create_connection((host, int(port)), timeout=10)
        fine.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert fine.recv(100).startswith(b"HTTP/1.1 ")
        fine.close()
    finally:
        server.stop()
