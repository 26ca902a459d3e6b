"""ASGI middleware: a request body limit, security headers and a redacted access log."""

from __future__ import annotations

import asyncio
import json
from time import perf_counter
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from notifier.api.security import client_address
from notifier.logging import get_logger, redact_text

log = get_logger("notifier.api")
# The caseworker pages show letters in sandboxed frames (srcdoc inherits this policy,
# and letters carry inline styles); no script but our own file runs.
UI_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
             "img-src 'self' data:; frame-ancestors 'self'; form-action 'self'; "
             "base-uri 'none'; object-src 'none'")


class BodyLimit:
    """Refuse bodies over ``limit`` bytes with 413, whether declared or streamed.

    The body is read here and replayed, so the limit holds before any parsing starts.
    """

    def __init__(self, app: ASGIApp, limit: int, timeout: float = 30.0) -> None:
        self.app = app
        self.limit = limit
        self.timeout = timeout  # for the whole body: a slow client gets 408 (issue 17)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        if not declared.isdigit() or int(declared) > self.limit:
            await _too_large(send, self.limit)
            return
        chunks: list[bytes] = []
        size = 0
        deadline = asyncio.get_running_loop().time() + self.timeout
        while True:
            try:
                message = await asyncio.wait_for(
                    receive(), max(deadline - asyncio.get_running_loop().time(), 0))
            except TimeoutError:
                await _problem(send, 408, f"request body not received within {self.timeout:g} "
                               "seconds", "too slow")
                return
            if message["type"] != "http.request":
                return  # the client went away
            size += len(message.get("body", b""))
            if size > self.limit:
                await _too_large(send, self.limit)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(b"".join(chunks), receive), send)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _too_large(send: Send, limit: int) -> None:
    await _problem(send, 413, f"request body larger than {limit} bytes", "too large")


async def _problem(send: Send, status: int, detail: str, message: str) -> None:
    body = json.dumps({"detail": detail,
                       "errors": [{"field": "(body)", "message": message}]}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class Hardening:
    """Security headers on every response, and a structured, redacted access log line
    (method, path, status, duration, who and from where: the principal's role and name,
    never a token, and the client address, a trusted proxy's X-Forwarded-For honoured;
    never headers or bodies)."""

    def __init__(self, app: ASGIApp, trusted_proxies: frozenset[str] = frozenset()) -> None:
        self.app = app
        self.trusted = trusted_proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = perf_counter()
        status: dict[str, Any] = {}
        path: str = scope["path"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message["headers"] = [*message.get("headers", []), *_headers(path)]
            await send(message)

        state = scope.setdefault("state", {})  # request.state: the principal lands here
        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            # The path is user input (a CPR typed into a case URL): masked here, not only
            # by the configured log pipeline, which a test or an embedding may not have.
            log.info("http.request", method=scope["method"], path=redact_text(path),
                     status=status.get("code", 500),
                     ms=round((perf_counter() - started) * 1000, 1),
                     principal=state.get("principal", "-"),
                     client=state.get("client") or self._client(scope))

    def _client(self, scope: Scope) -> str:
        peer = scope.get("client")
        forwarded = dict(scope["headers"]).get(b"x-forwarded-for", b"").decode("latin-1")
        return client_address(peer[0] if peer else None, forwarded or None, self.trusted)


def _headers(path: str) -> list[tuple[bytes, bytes]]:
    # same-origin, not no-referrer: with no-referrer a browser sends "Origin: null" on our
    # own form posts, and the pages' cross-site check needs the real origin.
    headers = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin"),
               (b"cache-control", b"no-store")]
    if path.startswith("/ui"):
        headers += [(b"content-security-policy", UI_POLICY.encode()),
                    (b"x-frame-options", b"SAMEORIGIN")]
    return headers
