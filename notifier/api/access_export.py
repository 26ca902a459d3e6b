"""The access log for the operator role (issue 14): per case, for a citizen's access
request (GDPR art. 15), and per user, for a security audit; JSON or CSV.

Exporting a case's log is itself a read of that case and is logged (``access_log``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response

from notifier.api.access import Operator, RuntimeDep, operator_token
from notifier.api.auth import NAME
from notifier.api.cases import find_case
from notifier.api.reads import Reader, reader
from notifier.errors import InputError
from notifier.records.access_log import access_log, export

router = APIRouter(prefix="/access-log", tags=["operations"])
Format = Annotated[Literal["json", "csv"], Query(alias="format")]
MEDIA = {"json": "application/json", "csv": "text/csv; charset=utf-8"}


@router.get("/cases/{case_id}")
def case_access_log(runtime: RuntimeDep, case_id: str,
                    reads: Annotated[Reader, Depends(reader(operator_token))],
                    fmt: Format = "json") -> Response:
    """Every logged read of the case's personal data, oldest first. An unknown case is a
    404 and a purged one a 410 naming its archive (its log is access-log.json there):
    neither writes an entry, which would bring back a key the purge removed."""
    find_case(runtime, case_id)
    entries = reads.log.for_case(case_id)  # read before our own entry: the log as found
    reads.read(case_id, "access_log")
    return Response(export(entries, fmt), media_type=MEDIA[fmt])


@router.get("/users/{name}")
def user_access_log(runtime: RuntimeDep, _: Operator, name: str, fmt: Format = "json"
                    ) -> Response:
    """Every logged read by one user (the token's name; the login name for the CLI)."""
    if not NAME.match(name):
        raise InputError.single("name", "must be 1-64 characters of A-Z, a-z, 0-9, . _ -")
    return Response(export(access_log(runtime).for_user(name), fmt), media_type=MEDIA[fmt])
