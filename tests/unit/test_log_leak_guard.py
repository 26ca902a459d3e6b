"""The suite's log-leak guard (tests/support/log_leak.py): a test whose logs carry a
CPR-shaped number fails; MeMo output, UUIDs, dates and epoch seconds do not trip it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.log_leak import is_log_record, leaks

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("line", [
    '{"event": "letter.sent", "cpr": "0706851234", "level": "info"}',
    '{"event": "citizen 070685-1234 opened", "level": "warning"}',
    "2026-11-22 11:38:44 [info     ] letter.sent    note=0706851234",
    "2026-11-22T11:38:44.123Z [error    ] failed         citizen=070685-1234",
])
def test_log_records_with_a_cpr_are_found_and_masked(line: str) -> None:
    """JSON and console log records with a CPR (with or without the dash) are reported,
    and the report masks the number."""
    found = leaks([("Captured stdout call", line)])
    assert len(found) == 1
    assert "0706851234" not in found[0] and "070685-1234" not in found[0]


@pytest.mark.parametrize("line", [
    '{"event": "letter.sent", "letter_id": "ab010190-1234-4f3e-8a6b-2c7d9e1f0a34"}',
    '{"event": "dispatcher.tick", "at": 1763811524.25, "when": "2026-11-22T11:38:44.123456Z"}',
    '{"event": "letter.sent", "cpr": "[CPR]"}',
    '{"event": "tick", "claimed": 3102901234}',  # ten digits, but 31 Feb is no birth date
    "<memo:ID>0706851234</memo:ID>",  # a MeMo message printed by a test is not a log
    '{"event": "HTTP Request: GET http://testserver/cases/0706851234 \\"HTTP/1.1 422\\"",'
    ' "logger": "httpx"}',  # the test's own TestClient request, refused by the API
])
def test_other_numbers_and_non_log_output_pass(line: str) -> None:
    """UUIDs (letter ids), timestamps, epoch seconds, masked values, impossible dates,
    the test client echoing the URL the test asked for, and output that is not a log
    record are left alone."""
    assert leaks([("Captured stdout call", line)]) == []


def test_captured_log_sections_are_read_whole() -> None:
    """pytest's "Captured log" section holds only log records, in any format."""
    assert leaks([("Captured log call", "WARNING  x:y.py:1 cpr 0706851234")])
    assert not is_log_record("WARNING  x:y.py:1 cpr 0706851234")


def test_the_plugin_fails_a_leaking_test_and_only_that(tmp_path: Path) -> None:
    """Run pytest with the plugin on three tests: one logs a CPR through structlog and
    fails with the number masked; one logs cleanly and one prints a MeMo message (not a
    log): both pass."""
    (tmp_path / "test_sample.py").write_text(
        "import structlog\n"
        "def test_leaks():\n"
        "    structlog.get_logger('x').info('citizen.found', cpr='0706851234')\n"
        "def test_clean():\n"
        "    structlog.get_logger('x').info('letter.sent', letter_id='evt-1')\n"
        "def test_prints_memo():\n"
        "    print('<memo:ID>0706851234</memo:ID>')\n", encoding="utf-8")
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.support.log_leak", "-p",
         "no:cacheprovider", "-q", "--show-capture=no", "-c", str(tmp_path / "pytest.ini"),
         "--rootdir", str(tmp_path), str(tmp_path / "test_sample.py")],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 failed, 2 passed" in result.stdout
    assert "FAILED" in result.stdout and "test_leaks" in result.stdout
    assert "CPR-shaped number" in result.stdout and "cpr=[CPR]" in result.stdout
    assert "0706851234" not in result.stdout
