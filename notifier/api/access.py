"""Who may call what: a FastAPI dependency checking the bearer token's role.

401 when no usable token is sent, 403 when the token's role may not do this. The
messages name the role needed and the token's name, never the token.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from notifier.api.auth import Principal, Role, TokenTable
from notifier.api.rendering import BoundedPdf
from notifier.runtime import Runtime

bearer = HTTPBearer(auto_error=False, description="A token from `notifier token`")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_pdf(request: Request) -> BoundedPdf:
    pdf: BoundedPdf = request.app.state.pdf
    return pdf


def get_tokens(request: Request) -> TokenTable:
    tokens: TokenTable = request.app.state.tokens
    return tokens


def identify(tokens: TokenTable, token: str | None, roles: tuple[Role, ...]) -> Principal:
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
        return identify(get_tokens(request), token, roles)

    return dependency


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(401, message, headers={"WWW-Authenticate": "Bearer"})


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
PdfDep = Annotated[BoundedPdf, Depends(get_pdf)]
System = Annotated[Principal, Depends(require(Role.SYSTEM))]
Caseworker = Annotated[Principal, Depends(require(Role.CASEWORKER))]
Anyone = Annotated[Principal, Depends(require(Role.SYSTEM, Role.CASEWORKER))]
