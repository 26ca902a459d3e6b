"""Logging: JSON lines on stderr, and no CPR number in any of them.

A CPR number is 10 digits (DDMMYYSSSS, or DDMMYY-SSSS) whose first six form a valid date.
"0101901234" (1 Jan 1990) is one; "3213991234" (day 32, month 13) is not; a CVR has 8 digits.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from notifier.logging import MASK, configure_logging, get_logger, redact_text

CPR = "0101901234"
CPR_DASHED = "010190-1234"
CPR_DIGITS = ("0101901234", "010190-1234", "101901234")  # none of these may ever be printed
CVR = "12345674"
NOT_A_CPR = "3213991234"


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """configure_logging changes the root logger and structlog globally: undo it."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in ("dramatiq", "apscheduler")}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, value in levels.items():
        logging.getLogger(name).setLevel(value)
    structlog.reset_defaults()


def json_lines(err: str) -> list[dict[str, Any]]:
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines, "nothing was logged"
    return [json.loads(line) for line in lines]  # every line must be valid JSON


def assert_no_cpr(text: str) -> None:
    for digits in CPR_DIGITS:
        assert digits not in text, f"{digits} leaked: {text}"


def test_structlog_message_kwargs_and_nested_values_are_redacted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A CPR in the event text, a keyword value and a nested dict/list is masked."""
    configure_logging(fmt="json")
    log = get_logger("notifier.test")
    log.info(f"citizen {CPR} and {CPR_DASHED}")
    log.info("lookup", cpr=CPR, dashed=CPR_DASHED)
    log.warning("nested", citizen={"name": "Mette", "ids": {"cpr": CPR_DASHED}},
                many=[CPR, {"deep": f"x {CPR} y"}])
    err = capsys.readouterr().err
    rows = json_lines(err)
    assert_no_cpr(err)
    assert len(rows) == 3
    assert rows[0]["event"] == f"citizen {MASK} and {MASK}"
    assert (rows[1]["cpr"], rows[1]["dashed"]) == (MASK, MASK)
    assert rows[2]["citizen"] == {"name": "Mette", "ids": {"cpr": MASK}}
    assert rows[2]["many"] == [MASK, {"deep": f"x {MASK} y"}]


def test_exception_traceback_is_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    """log.exception inside except: the formatted traceback carries the masked message."""
    configure_logging(fmt="json")
    log = get_logger("notifier.test")
    try:
        raise ValueError(f"no citizen with cpr {CPR} ({CPR_DASHED})")
    except ValueError:
        log.exception("lookup failed", case_id="SDP-1")
    err = capsys.readouterr().err
    assert_no_cpr(err)
    (row,) = json_lines(err)
    assert "Traceback" in row["exception"]
    assert f"ValueError: no citizen with cpr {MASK} ({MASK})" in row["exception"]
    assert row["case_id"] == "SDP-1"
    assert row["level"] == "error"


def test_stdlib_dramatiq_logger_is_redacted(capsys: pytest.CaptureFixture[str]) -> None:
    """A library logging through the stdlib (dramatiq) goes through the same redaction: the
    message, %-arguments and an exception traceback."""
    configure_logging(fmt="json")
    lib = logging.getLogger("dramatiq")
    lib.warning(f"message for {CPR}")
    lib.error("actor failed for %s", CPR_DASHED)
    try:
        raise RuntimeError(f"bad payload {CPR}")
    except RuntimeError:
        lib.exception("retrying %s", CPR)
    err = capsys.readouterr().err
    assert_no_cpr(err)
    rows = json_lines(err)
    assert [r["logger"] for r in rows] == ["dramatiq"] * 3
    assert rows[0]["event"] == f"message for {MASK}"
    assert rows[1]["event"] == f"actor failed for {MASK}"
    assert rows[2]["event"] == f"retrying {MASK}"
    assert f"RuntimeError: bad payload {MASK}" in rows[2]["exception"]


def test_non_cpr_numbers_are_kept(capsys: pytest.CaptureFixture[str]) -> None:
    """An 8-digit CVR and a 10-digit number without a valid date are not masked."""
    configure_logging(fmt="json")
    log = get_logger("notifier.test")
    log.info(f"employer {CVR} ref {NOT_A_CPR}", cvr=CVR, ref=NOT_A_CPR, phone="70 10 20 30")
    logging.getLogger("dramatiq").warning("ref %s cvr %s", NOT_A_CPR, CVR)
    err = capsys.readouterr().err
    rows = json_lines(err)
    assert MASK not in err
    assert rows[0]["event"] == f"employer {CVR} ref {NOT_A_CPR}"
    assert (rows[0]["cvr"], rows[0]["ref"], rows[0]["phone"]) == (CVR, NOT_A_CPR, "70 10 20 30")
    assert rows[1]["event"] == f"ref {NOT_A_CPR} cvr {CVR}"


def test_json_lines_carry_level_logger_and_timestamp(capsys: pytest.CaptureFixture[str]) -> None:
    """Each line is one JSON object with event, level, logger and an ISO UTC timestamp."""
    configure_logging(fmt="json")
    get_logger("notifier.test").info("hello", n=3)
    (row,) = json_lines(capsys.readouterr().err)
    assert row["event"] == "hello"
    assert row["level"] == "info"
    assert row["logger"] == "notifier.test"
    assert row["n"] == 3
    assert row["timestamp"].endswith("Z")


def test_console_format_is_redacted_too(capsys: pytest.CaptureFixture[str]) -> None:
    """The console renderer gets the same masking."""
    configure_logging(fmt="console")
    get_logger("notifier.test").info(f"cpr {CPR}", cpr=CPR_DASHED)
    err = capsys.readouterr().err
    assert_no_cpr(err)
    assert MASK in err


def test_redact_text() -> None:
    """redact_text masks valid CPR shapes only, not longer digit runs or invalid dates."""
    assert redact_text(f"a {CPR} b {CPR_DASHED} c") == f"a {MASK} b {MASK} c"
    assert redact_text(NOT_A_CPR) == NOT_A_CPR
    assert redact_text(CVR) == CVR
    assert redact_text(f"x{CPR}") == f"x{MASK}"


class _Citizen:
    def __repr__(self) -> str:
        return f"Citizen(cpr={CPR!r})"


@pytest.mark.parametrize(
    ("kwargs"),
    [
        pytest.param({"error": ValueError(f"bad cpr {CPR_DASHED}")}, id="exception-as-kwarg"),
        pytest.param({"by_cpr": {CPR: "Mette"}}, id="cpr-as-dict-key"),
        pytest.param({"citizen": _Citizen()}, id="object-repr"),
        pytest.param({"cpr": 101901234}, id="int-lost-leading-zero"),
    ],
)
def test_cpr_in_values_of_other_types_is_redacted(
    capsys: pytest.CaptureFixture[str], kwargs: dict[str, Any]
) -> None:
    """A CPR carried by a non-string value (an exception passed as error=exc, a dict key, an
    object rendered by repr, or 0101901234 as an int that lost its leading zero) must not
    reach the log line either.

    Exposes a bug: redact_processor only walks str/dict values/list/int, so the JSON
    renderer's repr() fallback, dict keys and 9-digit ints print the number."""
    configure_logging(fmt="json")
    get_logger("notifier.test").warning("failed", **kwargs)
    err = capsys.readouterr().err
    json_lines(err)
    assert_no_cpr(err)


def test_records_go_to_stderr_as_it_is_when_they_come(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Given logging configured while one stream was sys.stderr, when that stream is
    closed and replaced (as pytest does after a test that captured output), then a later
    record, e.g. from a server thread, goes to the new sys.stderr and raises nothing."""
    import io

    first = io.StringIO()
    monkeypatch.setattr("sys.stderr", first)
    configure_logging(fmt="json")
    first.close()
    second = io.StringIO()
    monkeypatch.setattr("sys.stderr", second)
    logging.getLogger("mail.log").warning("connection lost")
    assert json_lines(second.getvalue())[0]["event"] == "connection lost"
