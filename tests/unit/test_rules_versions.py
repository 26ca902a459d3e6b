"""Versioned rules and templates (issue 14): each letter records the rule set it was planned
under and the templates it was rendered with; rules with an effective date apply to cases
opened from that date; ``notifier rules diff`` shows and ``rules apply`` makes the changes
new rules bring to pending letters, atomically per case, with an audit entry per change.

The realistic change: from 2027-01-01 the information form's answer deadline is 10 days
instead of 8 (a made-up law change; SDL § 11, stk. 3 says 8 days today)."""

from __future__ import annotations

import json
import shutil
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import fakeredis
import pytest

from notifier.cli import main
from notifier.clock import SimulatedClock
from notifier.models import Letter, Status
from notifier.planning.rules import load_rules
from notifier.runtime import Runtime, build_planner, build_runtime
from notifier.settings import PACKAGE_DIR, load_settings
from notifier.store import DUE
from tests.conftest import local, opening_event

SHIPPED = PACKAGE_DIR / "schedules"
LAW_2027 = """# A law change on a known date: the information form's deadline becomes 10 days.
version = "2027.01"
effective_from = 2027-01-01

[letters.information_form]
recipient = "citizen"
on = ["sick_leave_reported"]
send = "now"
deadline = { from = "receipt_date", add = "10 days", roll = "forward" }
"""


def rules_copy(tmp_path: Path, name: str, *, law: bool = False,
               drop: str | None = None) -> Path:
    """The shipped rules, with the 2027 law file and/or one letter rule removed."""
    target = tmp_path / name
    shutil.copytree(SHIPPED, target)
    if law:
        (target / "2027-law.toml").write_text(LAW_2027, encoding="utf-8")
    if drop:
        path = target / "sygedagpenge.toml"
        text = path.read_text(encoding="utf-8")
        start = text.index(f"[letters.{drop}]")
        end = text.index("[letters.", start + 1)
        path.write_text(text[:start] + text[end:], encoding="utf-8")
    return target


def runtime_on(tmp_path: Path, rules_dir: Path, clock: SimulatedClock,
               client: fakeredis.FakeRedis | None = None) -> Runtime:
    settings = load_settings(outbox_dir=tmp_path / "outbox", rules_dir=rules_dir)
    return build_runtime(settings, clock=clock, client=client or fakeredis.FakeRedis())


def open_case(runtime: Runtime, case_id: str, at: str) -> dict[str, Letter]:
    runtime.clock.set(local(at))  # type: ignore[attr-defined]
    event = opening_event(case_id=case_id, event_id=f"evt-{case_id}",
                          occurred_at=local(at).isoformat())
    runtime.store.apply_event(event, runtime.planner, runtime.clock.now())
    return {x.kind: x for x in runtime.store.case_letters(case_id).values()}


def snapshot(runtime: Runtime) -> dict[str, Any]:
    client: Any = runtime.client
    return {key: client.dump(key) for key in sorted(client.keys("*"))}


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(local("2026-12-28 18:00"))


def test_letters_record_rules_and_template_versions(tmp_path: Path, clean_env: None,
                                                    clock: SimulatedClock) -> None:
    """A planned letter carries ``2026.12+<hash>``; once sent it also carries the hash of
    its templates; the API timeline shows both; a record without them still loads."""
    runtime = runtime_on(tmp_path, SHIPPED, clock)
    letters = open_case(runtime, "SDP-V-1", "2026-12-29 10:00")
    version = letters["information_form"].rules_version
    assert version is not None and version.startswith("2026.12+") and len(version) == 20
    runtime.store.claim_due(clock.now(), clock.now() + timedelta(minutes=5), 10)
    runtime.deliverer.deliver(letters["information_form"].letter_id)
    sent = runtime.store.letter(letters["information_form"].letter_id)
    assert sent is not None and sent.status is Status.SENT
    assert sent.template_version == runtime.renderer.template_version("information_form")
    assert runtime.store.document(sent.letter_id)["template_version"] == sent.template_version
    from notifier.api.cases import case_view

    view = next(x for x in case_view(runtime, "SDP-V-1")["letters"]
                if x["letter_id"] == sent.letter_id)
    assert (view["rules_version"], view["template_version"]) == (version,
                                                                 sent.template_version)
    raw = sent.to_hash()
    del raw["rules_version"], raw["template_version"]
    old = Letter.from_hash(sent.letter_id, raw)
    assert (old.rules_version, old.template_version) == (None, None)


def test_the_rules_hash_follows_every_rule_file_and_the_catalog(tmp_path: Path,
                                                                clean_env: None) -> None:
    """Editing any schedule file (calendar too) or the catalog gives another version; the
    same files give the same one."""
    letters = tmp_path / "letters"
    shutil.copytree(PACKAGE_DIR / "letters" / "da", letters)
    rules = rules_copy(tmp_path, "r")

    def version() -> str | None:
        settings = load_settings(rules_dir=rules, letters_dir=letters)
        return build_planner(settings).rules.version

    first = version()
    assert version() == first
    seen = {first}
    for path in (rules / "calendar.toml", rules / "retssikkerhed.toml",
                 letters / "catalog.toml"):
        path.write_text(path.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
        seen.add(version())
    assert len(seen) == 4


def test_a_template_version_changes_with_its_templates_only(tmp_path: Path) -> None:
    """The hash covers the kind's template and what it extends (base.html), not the
    templates of other kinds."""
    from notifier.delivery.render import Renderer
    from notifier.planning.catalog import load_catalog
    from tests.conftest import CPH

    letters = tmp_path / "letters"
    shutil.copytree(PACKAGE_DIR / "letters" / "da", letters)

    def versions() -> tuple[str, str]:
        renderer = Renderer(letters, load_catalog(letters), CPH)
        return (renderer.template_version("information_form"),
                renderer.template_version("decision"))

    form, decision = versions()
    (letters / "decision.html").write_text(
        (letters / "decision.html").read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert versions()[0] == form and versions()[1] != decision
    (letters / "base.html").write_text(
        (letters / "base.html").read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert versions()[0] != form


def test_rules_with_an_effective_date_apply_to_cases_opened_from_it(
        tmp_path: Path, clean_env: None, clock: SimulatedClock) -> None:
    """With the 2027 law file deployed, a case opened on 30 December keeps 8 days; one
    opened on 4 January gets 10 days, and its letters name the 2027.01 rules."""
    runtime = runtime_on(tmp_path, rules_copy(tmp_path, "law", law=True), clock)
    before = open_case(runtime, "SDP-V-OLD", "2026-12-30 10:00")["information_form"]
    after = open_case(runtime, "SDP-V-NEW", "2027-01-04 10:00")["information_form"]
    assert before.deadline == date(2027, 1, 7)  # 30 Dec + 8 days
    assert after.deadline == date(2027, 1, 14)  # 4 Jan + 10 days
    assert before.rules_version is not None and before.rules_version.startswith("2026.12+")
    assert after.rules_version is not None and after.rules_version.startswith("2027.01+")


def test_two_rule_files_with_the_same_effective_date_are_refused(tmp_path: Path) -> None:
    """Which one wins would be an accident of file names: refused, naming the files."""
    from notifier.errors import ConfigError

    rules = rules_copy(tmp_path, "twice", law=True)
    (rules / "2027-law-b.toml").write_text(LAW_2027, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"2027-law.*same date"):
        load_rules(rules)


@pytest.fixture
def stale(tmp_path: Path, clean_env: None, clock: SimulatedClock,
          monkeypatch: pytest.MonkeyPatch) -> Runtime:
    """The law file was not deployed in time: two cases planned under the 2026 rules, one
    opened before 1 January, one after (evening: its form waits for the send window)."""
    runtime = runtime_on(tmp_path, SHIPPED, clock)
    open_case(runtime, "SDP-V-OLD", "2026-12-30 18:00")
    open_case(runtime, "SDP-V-NEW", "2027-01-04 18:00")
    clock.set(local("2027-01-04 18:30"))
    monkeypatch.setattr("notifier.api.commands.stored_runtime", lambda settings: runtime)
    return runtime


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    assert main(args) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_rules_diff_shows_the_change_and_changes_nothing(
        tmp_path: Path, stale: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    """Only the case opened after the effective date changes: its pending form's deadline
    (13 -> 15 January), the reminder and the caseworker's overdue alert move with it.
    Redis is byte for byte as before."""
    before = snapshot(stale)
    rows = run(["rules", "diff", str(rules_copy(tmp_path, "law", law=True)), "--json"],
               capsys)
    assert {r["case_id"] for r in rows} == {"SDP-V-NEW"}
    by_kind = {r["kind"]: r for r in rows}
    assert set(by_kind) == {"information_form", "information_form_reminder",
                            "information_form_overdue"}
    form = by_kind["information_form"]
    assert form["change"] == "changed"
    assert (form["before"]["deadline"], form["after"]["deadline"]) == ("2027-01-13",
                                                                       "2027-01-15")
    assert form["before"]["send_at"] == form["after"]["send_at"] == "2027-01-05T08:00:00+01:00"
    reminder = by_kind["information_form_reminder"]
    assert (reminder["before"]["send_at"], reminder["after"]["send_at"]) == (
        "2027-01-08T09:00:00+01:00", "2027-01-12T09:00:00+01:00")
    assert form["after"]["rules_version"].startswith("2027.01+")
    assert snapshot(stale) == before


def test_rules_apply_replans_with_an_audit_entry_per_change(
        tmp_path: Path, stale: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    """Apply writes what diff showed: new send times in the due set, new deadlines, the new
    rules version; one ``rules_applied`` audit entry per change; a second apply finds
    nothing to do; the older case keeps its plan."""
    new_dir = str(rules_copy(tmp_path, "law", law=True))
    old_case = {i: x for i, x in stale.store.case_letters("SDP-V-OLD").items()}
    rows = run(["rules", "apply", new_dir, "--json"], capsys)
    assert len(rows) == 3
    letters = {x.kind: x for x in stale.store.case_letters("SDP-V-NEW").values()}
    assert letters["information_form"].deadline == date(2027, 1, 15)
    reminder = letters["information_form_reminder"]
    assert reminder.send_at == local("2027-01-12 09:00")
    assert stale.client.zscore(DUE, reminder.letter_id) == reminder.send_at.timestamp()
    assert all((x.rules_version or "").startswith("2027.01+") for x in letters.values()
               if x.status is Status.SCHEDULED)
    audit = [e for e in stale.store.audit("SDP-V-NEW") if e["what"] == "rules_applied"]
    assert sorted(e["kind"] for e in audit) == sorted(r["kind"] for r in rows)
    assert all(e["change"] == "changed" and e["before"] and e["after"] for e in audit)
    # The older case keeps its plan; its letters now name the new rule files' hash (the
    # 2026.12 rules as they stand beside the law file).
    kept = stale.store.case_letters("SDP-V-OLD")
    assert {i: (x.send_at, x.deadline, x.status) for i, x in kept.items()} == {
        i: (x.send_at, x.deadline, x.status) for i, x in old_case.items()}
    assert {x.rules_version for x in kept.values()} == {
        "2026.12+" + letters["information_form"].rules_version.split("+")[1]}
    assert run(["rules", "apply", new_dir, "--json"], capsys) == []


def test_a_rule_added_or_removed_adds_or_cancels_pending_letters(
        tmp_path: Path, stale: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    """Rules without the reassessment alert cancel the pending ones (audited, and named as
    cancelled by the rules); rules that bring it back add it again where it is ahead."""
    without = str(rules_copy(tmp_path, "without", drop="reassessment_due"))
    rows = run(["rules", "apply", without, "--json"], capsys)
    assert {(r["case_id"], r["kind"], r["change"]) for r in rows} == {
        ("SDP-V-OLD", "reassessment_due", "cancelled"),
        ("SDP-V-NEW", "reassessment_due", "cancelled")}
    gone = next(x for x in stale.store.case_letters("SDP-V-OLD").values()
                if x.kind == "reassessment_due")
    assert gone.status is Status.CANCELLED and (gone.cancelled_by or "").startswith("rules:")
    assert stale.client.zscore(DUE, gone.letter_id) is None
    # The same letter id is planned again, but it exists (cancelled): it is not re-added.
    assert run(["rules", "diff", str(SHIPPED), "--json"], capsys) == []


def test_a_letter_the_old_rules_never_planned_is_added(
        tmp_path: Path, clean_env: None, clock: SimulatedClock,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A case planned without the reminder rule gains the reminder under rules with it."""
    runtime = runtime_on(tmp_path, rules_copy(tmp_path, "no-reminder",
                                              drop="information_form_reminder"), clock)
    open_case(runtime, "SDP-V-ADD", "2026-12-29 10:00")
    monkeypatch.setattr("notifier.api.commands.stored_runtime", lambda settings: runtime)
    rows = run(["rules", "apply", str(SHIPPED), "--json"], capsys)
    assert [(r["kind"], r["change"]) for r in rows] == [("information_form_reminder",
                                                          "added")]
    added = next(x for x in runtime.store.case_letters("SDP-V-ADD").values()
                 if x.kind == "information_form_reminder")
    assert added.status is Status.SCHEDULED
    assert runtime.client.zscore(DUE, added.letter_id) == added.send_at.timestamp()


def test_apply_gives_a_case_stored_before_issue_14_its_opening_day(
        tmp_path: Path, stale: Runtime, capsys: pytest.CaptureFixture[str]) -> None:
    """A case state without ``opened_on`` (stored before it existed) is re-planned by the
    day of its opening event, and keeps that day, so its letters' deadlines are later
    computed under the same rules the re-plan used."""
    key = stale.store.case_key("SDP-V-NEW")
    state = json.loads(stale.client.get(key))
    del state["opened_on"]
    stale.client.set(key, json.dumps(state))
    assert stale.store.case("SDP-V-NEW").opened_on is None  # type: ignore[union-attr]
    rows = run(["rules", "apply", str(rules_copy(tmp_path, "law", law=True)), "--json"],
               capsys)
    assert {r["case_id"] for r in rows} == {"SDP-V-NEW"}
    assert stale.store.case("SDP-V-NEW").opened_on == date(2027, 1, 4)  # type: ignore[union-attr]
