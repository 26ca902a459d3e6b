"""Issue 14a: retention. A closed case is archived first (PDF rebuilt and checked, HTML,
records, audit, events, access log; manifest and checksums), then purged atomically; held,
open, recent and still-pending cases stay. Dates come from a simulated clock."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import fakeredis
import pytest

from notifier.clock import SimulatedClock
from notifier.delivery.pdf import sha256
from notifier.delivery.pending_document import keep_pending
from notifier.errors import ConfigError, ConflictError
from notifier.models import Status
from notifier.records.archive import Archive, ArchiveError
from notifier.records.retention import (
    RETENTION_JOB_ID,
    Retention,
    build_retention,
    daily_run,
    schedule_daily,
)
from notifier.records.retention_store import ACCESS_CASE, read_case, release_hold, set_hold
from notifier.runtime import Runtime, build_runtime
from notifier.settings import load_settings
from notifier.store import CALLBACKS_DUE, BatchRefused
from tests.conftest import CITIZEN_CPR, event, local, opening_event
from tests.unit.test_pipeline import deliver_due

CASE = "SDP-2026-0042"
SECRET = "whsec_" + base64.b64encode(b"r" * 32).decode()


@pytest.fixture
def runtime(tmp_path: Path, clean_env: None, clock: SimulatedClock) -> Runtime:
    settings = load_settings(outbox_dir=tmp_path / "outbox", archive_dir=tmp_path / "archive",
                             callback_url="http://127.0.0.1:9/cb", callback_secrets=SECRET)
    return build_runtime(settings, clock=clock, client=fakeredis.FakeRedis())


def closed_case(runtime: Runtime, case_id: str = CASE, *, opened: str = "2026-11-23 10:15",
                closed_on: str = "2026-11-24") -> list[str]:
    """A case opened, its first letters sent (PDF), then closed and its closing letter
    sent; callbacks delivered. Returns its letter ids."""
    clock: Any = runtime.clock
    clock.set(local(opened))
    runtime.store.apply_event(opening_event(case_id=case_id, event_id=f"{case_id}-open"),
                              runtime.planner, clock.now())
    deliver_due(runtime)
    clock.set(local(f"{closed_on} 10:00"))
    runtime.store.apply_event(
        event(f"{case_id}-close", "case_closed", f"{closed_on}T10:00:00+01:00",
              {"closed_on": closed_on, "reason": "recovered"}, case_id=case_id),
        runtime.planner, clock.now())
    deliver_due(runtime)
    runtime.client.delete(CALLBACKS_DUE)  # as if the case system accepted every callback
    return sorted(runtime.store.case_letters(case_id))


def retention(runtime: Runtime) -> Retention:
    return build_retention(runtime)


def all_keys(runtime: Runtime) -> dict[str, str]:
    """Every key in Redis with a text dump of its value."""
    out = {}
    for key in runtime.client.scan_iter(count=1000):
        kind = runtime.client.type(key).decode()
        value: Any = {
            "string": lambda k: runtime.client.get(k),
            "hash": lambda k: runtime.client.hgetall(k),
            "list": lambda k: runtime.client.lrange(k, 0, -1),
            "zset": lambda k: runtime.client.zrange(k, 0, -1),
            "set": lambda k: runtime.client.smembers(k),
        }[kind](key)
        out[key.decode()] = repr(value)
    return out


def test_archive_then_purge_leaves_no_key_of_the_case(runtime: Runtime) -> None:
    """After retention a closed case is gone from Redis: no key name and no value (but the
    purge tombstone) mentions the case or any of its letters, while another open case is
    untouched; the archive holds the PDFs matching the stored SHA-256, the HTML, records,
    audit, events and the access log, with no CPR number in its JSON."""
    letters = closed_case(runtime)
    runtime.client.rpush(ACCESS_CASE + CASE, json.dumps({"at": "x", "principal": "anna",
                                                         "case_id": CASE, "what": "case"}))
    runtime.store.apply_event(opening_event(case_id="OTHER-1", event_id="other-open"),
                              runtime.planner, runtime.clock.now())
    other_before = {k: v for k, v in all_keys(runtime).items() if "OTHER-1" in k}
    sent = [lid for lid in letters if runtime.store.letter(lid).status is Status.SENT]
    assert sent and runtime.store.document(sent[0])["pdf_sha256"]
    # A letter settled by its receipt keeps the document it handed over (issue 13).
    keep_pending(runtime.client, sent[0], runtime.store.document(sent[0]) or {})
    runtime.clock.set(local("2027-02-22 03:00"))  # closed_on + 90 days

    report = retention(runtime).run()

    assert report.purged == [CASE] and report.archived == [CASE] and not report.failed
    leftovers = {k: v for k, v in all_keys(runtime).items()
                 if k != "notifier:retention:purged"
                 and (CASE in k + v or any(lid in k + v for lid in letters))}
    assert leftovers == {}
    assert {k: v for k, v in all_keys(runtime).items() if "OTHER-1" in k} == other_before
    archive = Archive(runtime.settings.archive_dir)
    manifest = archive.verify(CASE)
    paths = {f["path"] for f in manifest["files"]}
    assert {"case.json", "audit.json", "events.json", "access-log.json"} <= paths
    for lid in sent:
        pdf = archive.read(CASE, f"letters/{lid}/document.pdf")
        assert pdf.startswith(b"%PDF")
        meta = json.loads(archive.read(CASE, f"letters/{lid}/document.json"))
        assert manifest_sha(manifest, f"letters/{lid}/document.pdf") == meta["pdf_sha256"]
        assert archive.find_letter(lid) == {"case_id": CASE, "folder": f"cases/{CASE}"}
    for path in paths:
        if path.endswith(".json"):
            assert CITIZEN_CPR not in archive.read(CASE, path).decode()
    assert runtime.store.stats()["retention_purged"] == 1
    assert runtime.store.stats()["retention_archived"] == 1


def manifest_sha(manifest: dict[str, Any], path: str) -> str:
    return str(next(f["sha256"] for f in manifest["files"] if f["path"] == path))


def test_dry_run_lists_what_would_go_and_changes_nothing(runtime: Runtime) -> None:
    """The dry run names the case that would go and the ones that stay, and writes
    nothing: not to Redis, not to the archive."""
    closed_case(runtime)
    closed_case(runtime, "RECENT-1", opened="2027-01-04 10:15", closed_on="2027-01-05")
    runtime.clock.set(local("2027-02-22 03:00"))
    before = all_keys(runtime)

    report = retention(runtime).plan()

    assert all_keys(runtime) == before
    assert not Path(runtime.settings.archive_dir).exists()
    actions = {v.case_id: (v.action, v.why) for v in report.verdicts}
    assert actions[CASE][0] == "purge"
    assert actions["RECENT-1"] == ("kept", "kept until 2027-04-05")
    assert any("would purge" in line and CASE in line for line in report.lines())


def test_a_hold_on_a_case_purged_meanwhile_writes_nothing(runtime: Runtime) -> None:
    """Given a case purged between the operator's page load and the hold request, when
    the hold is set (or lifted), then it is refused as a conflict naming case_id, and no
    hold key or audit list is left behind for the case that is gone."""
    closed_case(runtime)
    runtime.clock.set(local("2027-03-01 03:00"))
    assert retention(runtime).run().purged == [CASE]
    keys_before = sorted(runtime.client.keys("*"))
    now = runtime.clock.now()
    for change in (set_hold, release_hold):
        with pytest.raises(ConflictError) as refused:
            change(runtime.store, CASE, now, by="operator:ole", reason="klagesag")
        assert refused.value.errors[0].field == "case_id"
    assert sorted(runtime.client.keys("*")) == keys_before


def test_a_day_early_nothing_goes(runtime: Runtime) -> None:
    """The case stays until the local date reaches closed_on + the retention days."""
    closed_case(runtime)
    runtime.clock.set(local("2027-02-21 23:59"))
    report = retention(runtime).run()
    assert report.purged == [] and runtime.store.case(CASE) is not None


def test_legal_hold_stops_the_purge_until_released(runtime: Runtime) -> None:
    """A held case is never archived or purged; the hold and its release are in the audit
    trail naming who; once released the next run purges it."""
    closed_case(runtime)
    runtime.clock.set(local("2027-03-01 03:00"))
    now = runtime.clock.now()
    assert set_hold(runtime.store, CASE, now, by="operator:ole", reason="klagesag")
    assert not set_hold(runtime.store, CASE, now, by="operator:eva", reason="igen")

    report = retention(runtime).run()

    assert report.purged == [] and runtime.store.case(CASE) is not None
    assert report.verdicts[0].action == "blocked" and "operator:ole" in report.verdicts[0].why
    assert release_hold(runtime.store, CASE, now, by="operator:eva", reason="afsluttet")
    trail = [(a["what"], a.get("by")) for a in runtime.store.audit(CASE)]
    assert ("legal_hold", "operator:ole") in trail
    assert ("legal_hold_released", "operator:eva") in trail
    assert retention(runtime).run().purged == [CASE]


def test_pending_letter_receipt_or_callback_blocks(runtime: Runtime) -> None:
    """A letter not final, a Digital Post letter still awaiting its receipt, or a callback
    still to be sent keeps the case in Redis."""
    letters = closed_case(runtime)
    runtime.clock.set(local("2027-03-01 03:00"))
    sent = next(lid for lid in letters if runtime.store.letter(lid).status is Status.SENT)
    key = f"notifier:letter:{sent}"

    runtime.client.hset(key, "status", "uncertain")
    assert "is uncertain" in retention(runtime).plan().verdicts[0].why
    runtime.client.hset(key, "status", "sent")

    runtime.client.hset(key, "sent_at", runtime.clock.now().isoformat())
    assert "awaits its Digital Post receipt" in retention(runtime).plan().verdicts[0].why
    runtime.client.hset(key, "receipt_status", "delivered")
    runtime.client.hset(key, "callbacks", "1")
    runtime.client.hset(f"notifier:callback:{sent}.1", "type", "letter.sent")
    runtime.client.zadd(CALLBACKS_DUE, {f"{sent}.1": 0})
    assert "still to be sent" in retention(runtime).plan().verdicts[0].why
    assert retention(runtime).run().purged == []
    runtime.client.zrem(CALLBACKS_DUE, f"{sent}.1")
    assert retention(runtime).run().purged == [CASE]


def test_an_open_case_is_never_purged(runtime: Runtime) -> None:
    """An open case stays however old it is."""
    runtime.store.apply_event(opening_event(), runtime.planner, runtime.clock.now())
    runtime.clock.advance(timedelta(days=3650))
    report = retention(runtime).run()
    assert report.purged == [] and report.verdicts[0].why == "open"


def test_a_pdf_that_cannot_be_rebuilt_exactly_stops_the_purge(runtime: Runtime) -> None:
    """If the PDF rebuilt from the stored HTML differs from the SHA-256 kept when it was
    sent, the run reports an error and the case stays in Redis."""
    letters = closed_case(runtime)
    sent = next(lid for lid in letters if runtime.store.document(lid))
    runtime.client.hset(f"notifier:doc:{sent}", "pdf_sha256", "0" * 64)
    runtime.clock.set(local("2027-03-01 03:00"))
    report = retention(runtime).run()
    assert report.purged == [] and "differs from the one sent" in report.failed[CASE]
    assert runtime.store.case(CASE) is not None


def test_a_pdf_sent_before_typst_is_rebuilt_by_weasyprint_and_archived(
    runtime: Runtime
) -> None:
    """Given a letter whose kept SHA-256 is of the WeasyPrint PDF it was sent with (before
    issue 16), retention rebuilds that PDF, archives it with matching checksum, and purges
    (review of the merge: the Typst-only rebuild refused every older case)."""
    from notifier.delivery.pdf_weasyprint import WeasyPdfRenderer
    from notifier.delivery.render import Rendered
    from notifier.records.archive import Archive

    letters = closed_case(runtime)
    sent = next(lid for lid in letters if (runtime.store.document(lid) or {}).get("pdf_sha256"))
    stored = runtime.store.document(sent)
    assert stored is not None
    legacy = WeasyPdfRenderer(runtime.settings.letters_dir).render(Rendered(
        kind="document", title=stored["title"], html=stored["html"], text=stored["text"]))
    runtime.client.hset(f"notifier:doc:{sent}", "pdf_sha256", sha256(legacy))
    runtime.clock.set(local("2027-03-01 03:00"))
    report = retention(runtime).run()
    assert report.purged == [CASE] and not report.failed
    Archive(runtime.settings.archive_dir).verify(CASE)
    archived = [p for p in Path(runtime.settings.archive_dir).rglob("document.pdf")
                if sha256(p.read_bytes()) == sha256(legacy)]
    assert len(archived) == 1


def test_failing_cases_do_not_use_up_the_batch(runtime: Runtime, tmp_path: Path) -> None:
    """Given a case whose PDF cannot be rebuilt first in the walk and a batch of 1, the
    run still purges the next case: a failure is retried next run, not a blocked slot."""
    letters = closed_case(runtime)
    closed_case(runtime, "SECOND-1")
    sent = next(lid for lid in letters if runtime.store.document(lid))
    runtime.client.hset(f"notifier:doc:{sent}", "pdf_sha256", "0" * 64)
    runtime.clock.set(local("2027-03-01 03:00"))
    settings = runtime.settings.model_copy(update={"retention_batch": 1})
    job = Retention(runtime.store, Archive(tmp_path / "archive"), runtime.pdf,
                    runtime.planner.calendar, runtime.clock, settings)
    report = job.run()
    assert report.purged == ["SECOND-1"] and CASE in report.failed


def test_crash_between_archive_and_purge_is_finished_by_the_next_run(runtime: Runtime
                                                                     ) -> None:
    """A run that archived but died before purging (and left a half-written folder) is
    completed by the next run, which reuses the identical archive."""
    closed_case(runtime)
    runtime.clock.set(local("2027-03-01 03:00"))
    job = retention(runtime)
    job.purger.purge = lambda *a: "killed"  # type: ignore[method-assign]
    first = job.run()
    assert first.archived == [CASE] and first.purged == []
    assert runtime.store.case(CASE) is not None
    leftover = Path(runtime.settings.archive_dir) / "tmp" / "half"
    leftover.mkdir(parents=True)
    (leftover / "x").write_text("partial")

    second = retention(runtime).run()

    assert second.purged == [CASE] and second.archived == []  # same folder, not rewritten
    assert not leftover.exists()
    assert runtime.store.stats()["retention_archived"] == 1


def test_a_change_after_archiving_aborts_the_purge(runtime: Runtime) -> None:
    """If the case changes between archiving and purging (here a receipt's audit entry),
    nothing is deleted; the next run archives the new state and purges it."""
    closed_case(runtime)
    runtime.clock.set(local("2027-03-01 03:00"))
    job = retention(runtime)
    snapshot = read_case(runtime.store, CASE)
    assert snapshot is not None
    runtime.store.add_audit(CASE, runtime.clock.now(), "receipt", note="late")
    assert job.purger.purge(snapshot, {}) == "its audit trail grew since it was archived"
    assert runtime.store.case(CASE) is not None
    assert retention(runtime).run().purged == [CASE]
    audit = json.loads(Archive(runtime.settings.archive_dir).read(CASE, "audit.json"))
    assert audit[-1]["note"] == "late"


def test_tampered_archive_fails_verification(runtime: Runtime) -> None:
    """Reading back checks every file against the manifest: a changed, missing or extra
    file is an error naming it."""
    closed_case(runtime)
    runtime.clock.set(local("2027-03-01 03:00"))
    retention(runtime).run()
    archive = Archive(runtime.settings.archive_dir)
    folder = archive.folder(CASE)
    (folder / "audit.json").write_text("[]")
    with pytest.raises(ArchiveError, match=r"audit\.json: SHA-256 differs"):
        archive.verify(CASE)
    (folder / "audit.json").unlink()
    (folder / "extra.txt").write_text("x")
    with pytest.raises(ArchiveError,
                       match=r"audit\.json: missing.*extra\.txt: not in the manifest"):
        archive.verify(CASE)


def test_a_read_after_archiving_aborts_the_purge(runtime: Runtime) -> None:
    """An access-log entry written between archiving and purging (someone read the case)
    stops the purge: the archived access log would miss it."""
    closed_case(runtime)
    runtime.clock.set(local("2027-03-01 03:00"))
    snapshot = read_case(runtime.store, CASE)
    assert snapshot is not None
    runtime.client.rpush(ACCESS_CASE + CASE, '{"what": "case"}')
    assert retention(runtime).purger.purge(snapshot, {}) == \
        "its access log grew since it was archived"
    assert runtime.store.case(CASE) is not None


def test_a_run_purges_at_most_its_batch(runtime: Runtime, tmp_path: Path) -> None:
    """NOTIFIER_RETENTION_BATCH bounds one run; the next run takes the rest."""
    closed_case(runtime)
    closed_case(runtime, "SECOND-1")
    runtime.clock.set(local("2027-03-01 03:00"))
    settings = runtime.settings.model_copy(update={"retention_batch": 1})
    job = Retention(runtime.store, Archive(tmp_path / "archive"), runtime.pdf,
                    runtime.planner.calendar, runtime.clock, settings)
    assert len(job.run().purged) == 1
    assert len(job.run().purged) == 1
    assert job.run().purged == []


def test_the_daily_run_happens_once_a_day_whatever_the_schedulers(runtime: Runtime) -> None:
    """Two schedulers reaching the daily time: the first runs retention, the second skips;
    the next local day runs again. The job is a cron at NOTIFIER_RETENTION_RUN_AT local."""
    from apscheduler.schedulers.background import BackgroundScheduler

    closed_case(runtime)
    runtime.clock.set(local("2027-03-01 02:30"))
    first = daily_run(runtime)
    assert first is not None and first.purged == [CASE]
    assert daily_run(runtime) is None
    runtime.clock.set(local("2027-03-02 02:30"))
    assert daily_run(runtime) is not None
    scheduler = BackgroundScheduler(timezone="UTC")
    schedule_daily(scheduler, runtime)
    trigger = scheduler.get_job(RETENTION_JOB_ID).trigger
    assert "hour='2'" in str(trigger) and "minute='30'" in str(trigger)
    assert str(trigger.timezone) == "Europe/Copenhagen"


def test_retention_needs_an_archive_directory(tmp_path: Path, clean_env: None) -> None:
    """Turning retention on without NOTIFIER_ARCHIVE_DIR is a settings error: nothing may
    be purged without a place to archive it first."""
    with pytest.raises(ConfigError, match="NOTIFIER_ARCHIVE_DIR is required"):
        load_settings(outbox_dir=tmp_path, retention_enabled=True)


def test_one_run_at_a_time(runtime: Runtime) -> None:
    """While a run holds the lock, another (manual or scheduled) is refused and changes
    nothing; the lock is released when a run ends."""
    closed_case(runtime)
    runtime.clock.set(local("2027-03-01 03:00"))
    runtime.client.set("notifier:retention:lock", "other")
    with pytest.raises(ConflictError, match="in progress"):
        retention(runtime).run()
    assert runtime.store.case(CASE) is not None
    runtime.client.delete("notifier:retention:lock")
    assert retention(runtime).run().purged == [CASE]
    assert not runtime.client.exists("notifier:retention:lock")


def test_archive_paths_cannot_escape_the_archive(tmp_path: Path) -> None:
    """Case ids '.' and '..' (valid ids) get their own folders inside cases/; a letter id
    that is not a UUID is never turned into a path."""
    archive = Archive(tmp_path)
    assert archive.folder("..") == tmp_path / "cases" / "%2E%2E"
    assert archive.folder(".") == tmp_path / "cases" / "%2E"
    assert archive.folder(".x") == tmp_path / "cases" / ".x"
    (tmp_path / "secret.json").write_text('{"case_id": "x"}')
    assert archive.find_letter("../../secret") is None
    stored = archive.store("..", {"a.json": b"{}"}, {"closed_on": "2027-01-01"})
    assert stored.written and archive.verify("..")["case_id"] == ".."
    assert not archive.store("..", {"a.json": b"{}"}, {"closed_on": "2027-01-01"}).written


def test_the_store_never_reopens_a_purged_case(runtime: Runtime) -> None:
    """Inside the event transaction itself (not only in the API's check before it), an
    opening event for a purged case id is refused and writes nothing."""
    closed_case(runtime)
    runtime.clock.set(local("2027-03-01 03:00"))
    assert retention(runtime).run().purged == [CASE]
    before = all_keys(runtime)
    with pytest.raises(BatchRefused, match="archived and purged"):
        runtime.store.apply_event(opening_event(event_id="evt-again"), runtime.planner,
                                  runtime.clock.now())
    assert all_keys(runtime) == before
