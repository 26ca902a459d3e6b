"""Reads of personal data through the API and /ui, logged in one place (issue 14).

A route that shows a case's data declares ``case_read(what)`` or ``letter_read(what)``
(or, when the case is only known from the body, takes a ``Reader``); the dependency
identifies the caller with the route's own login, checks that the thing exists, and
appends the access-log entry BEFORE the handler runs: if the entry cannot be written, the
data is not shown. ``tests/unit/test_access_log.py`` fails for any route that takes a
``case_id`` or ``letter_id`` and has neither, unless it is listed there as no read.

A purpose may be given as the ``purpose`` query parameter or the ``X-Purpose`` header.
"""

# No "from __future__ import annotations": FastAPI must see the dependencies built in
# the factories below, which string annotations would hide in the closures.
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Header, Query, Request

from notifier.api.access import caseworker_token, get_runtime
from notifier.api.auth import Principal
from notifier.api.cases import find_case
from notifier.api.errors import NotFoundError
from notifier.api.letters import find_letter
from notifier.models import Status
from notifier.records.access_log import AccessLog, Via, access_log, check_purpose

LOGGED = "access_logged"  # attribute naming what a dependency logs (for the coverage test)
Who = Callable[..., Principal]
PURPOSE = "Why the data is read (kept in the access log; one line, at most 200 characters)"


@dataclass(frozen=True)
class Reader:
    """Records reads for one request: who, how (api/ui) and the purpose given."""

    log: AccessLog
    principal: Principal
    via: Via
    purpose: str | None

    def read(self, case_id: str, what: str, letter_id: str | None = None) -> None:
        self.log.record(principal=self.principal.name, role=self.principal.role.value,
                        case_id=case_id, what=what, via=self.via, purpose=self.purpose,
                        letter_id=letter_id)


def reader(who: Who = caseworker_token, via: Via = Via.API) -> Callable[..., Reader]:
    """A dependency giving the handler a Reader for the caller ``who`` identifies."""
    def dependency(request: Request, principal: Annotated[Principal, Depends(who)],
                   purpose: Annotated[str | None, Query(description=PURPOSE)] = None,
                   x_purpose: Annotated[str | None, Header(description=PURPOSE)] = None,
                   ) -> Reader:
        return Reader(access_log(get_runtime(request)), principal, via,
                      check_purpose(purpose or x_purpose))

    setattr(dependency, LOGGED, "by the handler")
    return dependency


def case_read(what: str, who: Who = caseworker_token, via: Via = Via.API) -> Any:
    """Log ``what`` of the path's ``case_id`` (an unknown case: 404, nothing logged)."""
    def dependency(request: Request, case_id: str,
                   reads: Annotated[Reader, Depends(reader(who, via))]) -> None:
        find_case(get_runtime(request), case_id)
        reads.read(case_id, what)

    setattr(dependency, LOGGED, what)
    return Depends(dependency)


def letter_read(what: str, who: Who = caseworker_token, via: Via = Via.API, *,
                sent_only: bool = False) -> Any:
    """Log ``what`` of the path's ``letter_id`` under its case; with ``sent_only`` a letter
    with no sent document is a 404 and logs nothing (there was nothing to read)."""
    def dependency(request: Request, letter_id: str,
                   reads: Annotated[Reader, Depends(reader(who, via))]) -> None:
        letter = find_letter(get_runtime(request).store, letter_id)
        if sent_only and letter.status is not Status.SENT:
            raise NotFoundError.single(
                "letter_id", f"no document: the letter has not been sent (status {letter.status})")
        reads.read(letter.case_id, what, letter_id)

    setattr(dependency, LOGGED, what)
    return Depends(dependency)
