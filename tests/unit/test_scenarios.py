"""`notifier plan EVENTS --json` on the scenario files in tests/scenarios/.

Each ``<name>.jsonl`` holds events; ``<name>.expected.jsonl`` the expected plan. The expected
files were produced by running the command and then checked by hand, date by date, against a
printed calendar and RULES.md (see each scenario's first-line comment); they are the contract.
Also: bad or refused input exits 2 naming the line and the field.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import structlog

from notifier.cli import main

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
REQUIRED = {
    "basic_form_returned", "year_end", "easter", "ascension_bank_days", "whitsun",
    "grundlovsdag", "dst_spring", "standby_mid_reminder_chain", "reschedule_twice",
    "decision_friday_before_holiday", "exempt_citizen_print", "early_followup_employer_accepted",
    "early_followup_unanswered", "case_closed_cancels_all",
    # issue 11
    "standby_revival", "held_decision", "hearing_paper_christmas", "complaint", "paper_easter",
    "second_stop",
}
ROW_KEYS = {"letter_id", "case_id", "kind", "recipient", "channel", "send_at", "deadline",
            "status", "cause", "cancelled_by"}


def scenario_names() -> list[str]:
    return sorted(p.name.removesuffix(".jsonl") for p in SCENARIOS.glob("*.jsonl")
                  if not p.name.endswith(".expected.jsonl"))


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No NOTIFIER_* from the environment; restore logging that main() configures."""
    for name in list(os.environ):
        if name.upper().startswith("NOTIFIER_"):
            monkeypatch.delenv(name)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def run_plan(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["plan", str(path), "--json"])
    out, err = capsys.readouterr()
    return code, out, err


def test_every_required_scenario_exists() -> None:
    """Each scenario the plan calls for has an events file and an expected file."""
    names = set(scenario_names())
    assert names >= REQUIRED, f"missing: {sorted(REQUIRED - names)}"
    for name in names:
        assert (SCENARIOS / f"{name}.expected.jsonl").is_file(), name


@pytest.mark.parametrize("name", scenario_names())
def test_scenario_plan_matches_expected(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """`notifier plan <name>.jsonl --json` prints exactly the hand-checked expected rows."""
    code, out, err = run_plan(SCENARIOS / f"{name}.jsonl", capsys)
    assert code == 0, err
    actual = [json.loads(line) for line in out.splitlines() if line.strip()]
    expected_text = (SCENARIOS / f"{name}.expected.jsonl").read_text(encoding="utf-8")
    expected = [json.loads(line) for line in expected_text.splitlines() if line.strip()]
    assert len(actual) == len(expected), (
        f"{len(actual)} rows, expected {len(expected)}:\n{out}")
    for number, (got, want) in enumerate(zip(actual, expected, strict=True), start=1):
        assert got == want, f"{name}: row {number} differs"


@pytest.mark.parametrize("name", scenario_names())
def test_scenario_rows_follow_the_contract(name: str) -> None:
    """Every expected row has exactly the DESIGN.md keys and values, ordered by send_at."""
    text = (SCENARIOS / f"{name}.expected.jsonl").read_text(encoding="utf-8")
    rows: list[dict[str, Any]] = [json.loads(line) for line in text.splitlines() if line]
    assert rows
    instants = []
    for row in rows:
        assert set(row) == ROW_KEYS
        assert row["recipient"] in {"citizen", "employer", "caseworker"}
        assert row["channel"] in {"digital_post", "print", "mail"}
        assert row["status"] in {"sent", "cancelled", "suppressed", "held"}
        assert (row["cancelled_by"] is not None) == (row["status"] == "cancelled")
        sent_at = datetime.fromisoformat(row["send_at"])
        assert sent_at.utcoffset() is not None
        instants.append(sent_at)
    assert instants == sorted(instants)
    assert len({row["letter_id"] for row in rows}) == len(rows)


def test_scenario_plan_is_stable_across_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """Running the same file twice prints identical output (deterministic letter ids)."""
    path = SCENARIOS / "reschedule_twice.jsonl"
    first = run_plan(path, capsys)
    second = run_plan(path, capsys)
    assert first == second


# --- bad and refused input -----------------------------------------------------------------


OPEN = {
    "event_id": "x-1", "type": "sick_leave_reported", "case_id": "SDP-BAD",
    "occurred_at": "2026-02-02T10:00:00+01:00",
    "data": {
        "first_absence_day": "2026-01-30",
        "citizen": {"cpr": "0706851234", "name": "Mette Hansen",
                    "address": {"street": "Vestergade 12", "postcode": "2630", "city": "Taastrup"},
                    "digital_post": True},
        "caseworker": {"id": "cw-1", "name": "Lise Jensen", "email": "lise@eksempel.dk"},
    },
}


def write_lines(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_bad_event_on_line_3_exits_2_naming_line_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A malformed field on line 3 (after a comment and a good event): exit 2, the message
    names 'line 3' and the dotted field; nothing is printed on stdout."""
    bad = {"event_id": "x-2", "type": "information_form_returned", "case_id": "SDP-BAD",
           "occurred_at": "2026-02-04T10:00:00+01:00", "data": {"returned_on": "yesterday"}}
    path = write_lines(tmp_path, "# a comment", json.dumps(OPEN), json.dumps(bad))
    code, out, err = run_plan(path, capsys)
    assert code == 2
    assert out == ""
    assert "line 3" in err
    assert "data.returned_on" in err


def test_invalid_json_on_line_3_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A line that is not JSON: exit 2 naming the line."""
    path = write_lines(tmp_path, json.dumps(OPEN), "", '{"event_id": ')
    code, _out, err = run_plan(path, capsys)
    assert code == 2
    assert "line 3" in err


def test_refused_event_exits_2_naming_line_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """meeting_cancelled for a meeting the case never booked (line 3): exit 2, names the line
    and data.meeting_id."""
    cancel = {"event_id": "x-3", "type": "meeting_cancelled", "case_id": "SDP-BAD",
              "occurred_at": "2026-02-04T10:00:00+01:00", "data": {"meeting_id": "ghost"}}
    path = write_lines(tmp_path, json.dumps(OPEN), "", json.dumps(cancel))
    code, out, err = run_plan(path, capsys)
    assert code == 2
    assert out == ""
    assert "line 3" in err
    assert "data.meeting_id" in err


def test_refused_event_line_is_its_file_line_even_when_sorted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Events are applied in occurred_at order, but errors still name the line in the file:
    an event for an unknown case on line 1 (applied second) is reported as line 1."""
    stray = {"event_id": "x-9", "type": "information_form_returned", "case_id": "SDP-NONE",
             "occurred_at": "2026-02-05T10:00:00+01:00", "data": {"returned_on": "2026-02-05"}}
    path = write_lines(tmp_path, json.dumps(stray), json.dumps(OPEN))
    code, _out, err = run_plan(path, capsys)
    assert code == 2
    assert "line 1" in err
    assert "case_id" in err


def test_error_message_does_not_echo_a_cpr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A case id made of a CPR number is refused without printing the number."""
    raw = dict(OPEN, case_id="0101901234")
    path = write_lines(tmp_path, json.dumps(raw))
    code, out, err = run_plan(path, capsys)
    assert code == 2
    assert "line 1" in err
    assert "case_id" in err
    assert "0101901234" not in err + out
