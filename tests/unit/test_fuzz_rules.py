"""Fuzzing the TOML rules (hypothesis): a damaged ``schedules/*.toml`` is refused at load
time with a ConfigError naming the file (and the rule and field where it can), never another
exception; a damaged file that still loads plans the demo cases without crashing."""

from __future__ import annotations

import contextlib
import json
import math
import re
import shutil
import tomllib
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifier.calendar import DanishCalendar
from notifier.errors import ConfigError, NotifierError
from notifier.planning.planner import Planner
from notifier.planning.rules import RuleSet, load_rules
from notifier.planning.simulation import Simulation, read_events
from notifier.settings import PACKAGE_DIR
from tests.support.fuzz import HOSTILE_TEXT, damaged

SHIPPED = PACKAGE_DIR / "schedules"
FILE = "sygedagpenge.toml"
SHIPPED_DOC = tomllib.loads((SHIPPED / FILE).read_text(encoding="utf-8"))
DEMO = (PACKAGE_DIR / "scenarios" / "demo.jsonl").read_text(encoding="utf-8").splitlines()
FUZZ = settings(deadline=None, max_examples=300,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
# What a rule error must start with: the file, then where in it. A rule in the other shipped
# file (retssikkerhed.toml, issue 11) that refers to a letter the damage removed is blamed.
WHERE = re.compile(rf"^({re.escape(FILE)}|retssikkerhed\.toml): "
                   r"(not valid TOML|unknown top-level keys|letters(\.\S+|:)"
                   r"|version:|effective_from:)")  # the last two: issue 14


def toml_value(value: object) -> str:
    """A TOML literal (TOML has no null: None is left to the caller)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if (
            math.isinf(value)) else repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value if v is not None) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {toml_value(v)}"
                               for k, v in value.items() if v is not None) + "}"
    return json.dumps(str(value))  # dates from tomllib and anything else: as a string


def to_toml(doc: dict[str, Any]) -> str:
    lines = [f"{json.dumps(str(k))} = {toml_value(v)}" for k, v in doc.items()
             if k != "letters" and v is not None]
    letters = doc.get("letters", {})
    if letters is None:
        return "\n".join(lines) + "\n"
    if not isinstance(letters, dict):
        return "\n".join([*lines, f"letters = {toml_value(letters)}"]) + "\n"
    for kind, rule in letters.items():
        if not isinstance(rule, dict):
            lines.append(f"letters.{json.dumps(str(kind))} = {toml_value(rule)}")
            continue
        lines.append(f"\n[letters.{json.dumps(str(kind))}]")
        lines += [f"{json.dumps(str(k))} = {toml_value(v)}" for k, v in rule.items()
                  if v is not None]
    return "\n".join(lines) + "\n"


def load(directory: Path, text: str) -> RuleSet:
    (directory / FILE).write_text(text, encoding="utf-8")
    return load_rules(directory)


@pytest.fixture(scope="module")
def rules_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("rules") / "schedules"
    shutil.copytree(SHIPPED, target)
    return target


def test_the_emitter_round_trips_the_shipped_rules(rules_dir: Path) -> None:
    """The fuzzer's TOML writer is faithful: the shipped rules, re-written, load to the
    same rule set (so what the fuzz tests feed the loader is what they meant to)."""
    assert tomllib.loads(to_toml(SHIPPED_DOC)) == SHIPPED_DOC
    assert load(rules_dir, to_toml(SHIPPED_DOC)) == load_rules(SHIPPED)


def _plans_the_demo_or_refuses(rules: RuleSet) -> None:
    """Rules that loaded must plan the demo cases; a rule that cannot be applied to a case
    may refuse it with one of our errors, never crash with another exception."""
    planner = Planner(rules, DanishCalendar(ZoneInfo("Europe/Copenhagen")))
    with contextlib.suppress(NotifierError):
        Simulation(planner).run(read_events(DEMO))


@FUZZ
@given(data=st.data())
def test_damaged_rules_are_refused_naming_file_rule_and_field(rules_dir: Path,
                                                              data: st.DataObject) -> None:
    """Given the shipped rules damaged in 1-3 places (wrong types, hostile strings, unknown
    keys, deleted keys), loading raises a ConfigError that starts with the file name and
    the rule (letters.<kind>.<field>) or says the TOML is invalid, or it loads and plans."""
    doc, touched = data.draw(damaged(SHIPPED_DOC))
    try:
        rules = load(rules_dir, to_toml(doc))
    except ConfigError as exc:
        assert WHERE.match(str(exc)), (str(exc), touched)
        return
    _plans_the_demo_or_refuses(rules)


@FUZZ
@given(data=st.data())
def test_garbled_rule_text_is_refused_or_loads(rules_dir: Path, data: st.DataObject) -> None:
    """Given the shipped file's text with a slice cut out, a hostile snippet pasted in or
    a line doubled, loading raises a ConfigError naming the file, or loads and plans."""
    text = (SHIPPED / FILE).read_text(encoding="utf-8")
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, min(len(text), start + 200)))
    edit = data.draw(st.sampled_from(["cut", "paste", "double"]))
    if edit == "cut":
        text = text[:start] + text[end:]
    elif edit == "paste":
        text = text[:start] + data.draw(st.sampled_from([*HOSTILE_TEXT, "[[", "= =", "\""]))
        text += (SHIPPED / FILE).read_text(encoding="utf-8")[start:]
    else:
        lines = text.splitlines(keepends=True)
        index = data.draw(st.integers(0, len(lines) - 1))
        text = "".join(lines[:index + 1] + lines[index:])
    try:
        rules = load(rules_dir, text)
    except ConfigError as exc:
        # or the other shipped file, whose rule refers to a letter the damage removed
        assert str(exc).startswith((f"{FILE}: ", "retssikkerhed.toml: ")), str(exc)
        return
    _plans_the_demo_or_refuses(rules)


# What the fuzzer found: each crashed the loader with a TypeError/AttributeError, or (the
# last two) loaded and then crashed the planner. Kept as plain regression cases.
FINDINGS = [
    ('[letters]\nfoo = 3\n', "letters.foo: must be a table"),
    ('letters = "x"\n', "letters: must be a table"),
    ('[letters.x]\nrecipient = "citizen"\non = "case_closed"\nsend = "now"\nscope = ["a"]\n',
     "letters.x.scope: "),
    ('[letters.x]\nrecipient = "citizen"\non = "case_closed"\nsend = "now"\n'
     'cancel_on = [{}]\n', "letters.x.cancel_on[0]: "),
    ('[letters.x]\nrecipient = "citizen"\non = [{event = []}]\nsend = "now"\n',
     "letters.x.on[0].event: "),
    ('[letters.x]\nrecipient = "citizen"\non = [{event = "case_closed", when = 3}]\n'
     'send = "now"\n', "letters.x.on[0].when: "),
    ('[letters.x]\nrecipient = "citizen"\non = "case_closed"\n'
     'send = {from = "fact.first_absence_day", add = true}\n', "letters.x.send.add: "),
    ('[letters.x]\nrecipient = "citizen"\non = "case_closed"\nsend = "now"\n'
     'extra_deadlines = "x"\n', "letters.x.extra_deadlines: "),
    ('[letters.x]\nrecipient = "citizen"\non = "case_closed"\nsend = "now"\n'
     'only_after = ["letter.x.letter.y.send_at"]\n', "letters.x.only_after[0]: "),
    ('[letters.x]\nrecipient = "citizen"\non = "case_closed"\n'
     'send = {from = "letter.x.y.deadline"}\n', "letters.x.send.from: "),
]


@pytest.mark.parametrize(("text", "where"), FINDINGS)
def test_fuzz_findings_are_config_errors(rules_dir: Path, text: str, where: str) -> None:
    """Each rule file the fuzzer found crashing the loader or the planner is now refused
    at load time with a ConfigError naming the file, the rule and the field."""
    with pytest.raises(ConfigError) as info:
        load(rules_dir, "version = 1\n" + text)
    assert str(info.value).startswith(f"{FILE}: {where}"), str(info.value)
