"""Who may call what: a FastAPI dependency checking the bearer token's role.

401 when no usable token is sent, 403 when the token's role may not do this. The
messages name the role needed and the token's name, never the token. A wrong token counts
as a failed login of the client's address; after a burst the address gets 429 (issue 17).
The caller is put on the request's state for the access log (name and role only).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from notifier.api.auth import Principal, Role
from notifier.api.rendering import BoundedPdf
from notifier.api.security import LoginGuard, Tokens, client_address
from notifier.logging import get_logger
from notifier.runtime import Runtime

log = get_logger("notifier.api")
bearer = HTTPBearer(auto_error=False, description="A token from `notifier token`")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_pdf(request: Request) -> BoundedPdf:
    pdf: BoundedPdf = request.app.state.pdf
    return pdf


def get_tokens(request: Request) -> Tokens:
    tokens: Tokens = request.app.state.tokens
    return tokens


def client_of(request: Request) -> str:
    """The client's address (a trusted proxy's X-Forwarded-For honoured), once per request."""
    state = request.state
    if not hasattr(state, "client"):
        trusted = get_runtime(request).settings.trusted_proxy_list
        state.client = client_address(request.client.host if request.client else None,
                                      request.headers.get("x-forwarded-for"), trusted)
    address: str = state.client
    return address


def authenticate(request: Request, token: str | None, roles: tuple[Role, ...],
                 what: str = "bearer") -> Principal:
    """``identify`` with the failed-login limit and log; the principal goes on the state."""
    guard: LoginGuard = request.app.state.guard
    address = client_of(request)
    wait = guard.blocked(address)
    if wait:
        log.warning("auth.rate_limited", via=what, client=address)
        raise HTTPException(429, "too many failed logins from this address; try again later",
                            headers={"Retry-After": str(wait)})
    try:
        principal = identify(get_tokens(request), token, roles)
    except HTTPException as exc:
        if exc.status_code == 401:
            guard.failed(address)
        log.warning("auth.failed", via=what, client=address, status=exc.status_code)
        raise
    request.state.principal = principal.label
    return principal


def identify(tokens: Tokens, token: str | None, roles: tuple[Role, ...]) -> Principal:
    """The caller, or HTTPException 401/403 saying what is wrong."""
    if not token:
        raise _unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
    principal = tokens.identify(token)
    if principal is None:
        hint = "" if len(tokens) else " (no tokens are configured: see `notifier token`)"
        raise _unauthorized("unknown or revoked token" + hint)
    if principal.role not in roles:
        needed = " or ".join(r.value for r in roles)
        raise HTTPException(403, f"this needs a {needed} token; token '{principal.name}' has "
                                 f"role {principal.role.value}")
    return principal


def require(*roles: Role) -> Callable[[Request, HTTPAuthorizationCredentials | None], Principal]:
    def dependency(request: Request, credentials: Credentials) -> Principal:
        token = credentials.credentials if credentials else None
        return authenticate(request, token, roles)

    return dependency


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
PdfDep = Annotated[BoundedPdf, Depends(get_pdf)]
System = Annotated[Principal, Depends(require(Role.SYSTEM))]
# One dependency object, so a route's access-log dependency (reads.py) shares its result.
caseworker_token = require(Role.CASEWORKER)
Caseworker = Annotated[Principal, Depends(caseworker_token)]
operator_token = require(Role.OPERATOR)  # issue 14
Operator = Annotated[Principal, Depends(operator_token)]
Anyone = Annotated[Principal, Depends(require(Role.SYSTEM, Role.CASEWORKER, Role.OPERATOR))]
