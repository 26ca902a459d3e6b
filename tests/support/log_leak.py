"""Fails any test whose log output contains a CPR-shaped number (pytest plugin).

Registered by tests/conftest.py for the whole suite. After each phase of a test it looks at
what pytest captured: every line of the "Captured log" sections (stdlib records: dramatiq,
APScheduler and our structlog once configured), and those lines of captured stdout and
stderr that are log records (JSON with an "event", or structlog's console format). Other
output is not a log: a test may print a MeMo message, which must carry the recipient's CPR.

"CPR-shaped" is what the redaction masks (notifier.identifiers.looks_like_cpr: DDMMYY-SSSS
or ten digits with a valid date of birth), after removing UUIDs, whose hex groups can look
like DDMMYY-SSSS but are letter ids. Dates, times and epoch seconds do not match.

One kind of line is the test's own words, not the system's: httpx's "HTTP Request: GET
http://testserver/..." from Starlette's TestClient echoes the URL the test requested (an
API test sends a CPR in a path on purpose, to see it refused).
"""

from __future__ import annotations

import json
import re
from collections.abc import Generator, Iterable
from typing import Any

import pytest

from notifier.identifiers import looks_like_cpr
from notifier.logging import redact_text

UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
CONSOLE_LOG = re.compile(r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d\S* \[\s*\w+\s*\] ")
TEST_CLIENT = re.compile(r"HTTP Request: [A-Z]+ https?://testserver/")


def is_log_record(line: str) -> bool:
    if CONSOLE_LOG.match(line):
        return True
    if not line.startswith("{"):
        return False
    try:
        record = json.loads(line)
    except ValueError:
        return False
    return isinstance(record, dict) and "event" in record


def leaks(sections: Iterable[tuple[str, str]]) -> list[str]:
    """The log lines in pytest report ``sections`` that carry a CPR-shaped number, with
    the number masked (the failure report must not leak it either)."""
    found = []
    for title, text in sections:
        whole = title.startswith("Captured log")
        for line in text.splitlines():
            if TEST_CLIENT.search(line):
                continue
            if (whole or is_log_record(line)) and looks_like_cpr(UUID.sub("", line)):
                found.append(f"{title}: {redact_text(line)[:300]}")
    return found


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]
                              ) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if not report.passed or report.when == "setup":
        return
    # The call report carries setup's sections too; teardown's has all, so look at its own.
    phases = ("setup", "call") if report.when == "call" else ("teardown",)
    own = [(t, c) for t, c in report.sections if t.rsplit(" ", 1)[-1] in phases]
    found = leaks(own)
    if found:
        report.outcome = "failed"
        report.longrepr = ("log output contains a CPR-shaped number (masked here):\n  "
                           + "\n  ".join(found))
