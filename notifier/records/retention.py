"""Retention (issue 14a): a closed case stays in Redis ``NOTIFIER_RETENTION_DAYS`` after its
``closed_on``, then it is archived first and purged after.

Per case, in order (each step safe to repeat, so a crash anywhere is finished by the next
run):
  1. judge: closed, its retention over (counted by the calendar in Europe/Copenhagen), no
     legal hold, every letter final, no Digital Post receipt awaited (a sent letter without
     one, younger than NOTIFIER_RETENTION_RECEIPT_WAIT_DAYS), no callback to send or dead;
  2. archive: the folder (``archive.py``): each sent document as PDF, rebuilt from the
     stored HTML and checked against the SHA-256 kept when it was sent (a mismatch is an
     error and the case stays), and as HTML; letter records with receipts and callbacks;
     the audit trail, the event log and the access log, as JSON;
  3. verify the folder against its checksums, index its letters;
  4. purge (``retention_store.Purger``): one Lua step that deletes every key the case
     owns, only if nothing changed since step 1.

CPR numbers are left out of the archive's JSON (the case id ties it to the case system,
which holds the person): data minimisation, GDPR art. 5(1)(c).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

from notifier.calendar import DanishCalendar, Offset, Unit
from notifier.clock import Clock
from notifier.delivery.pdf import PdfRenderer, sha256
from notifier.delivery.render import Rendered
from notifier.errors import ConflictError, RenderError
from notifier.logging import get_logger
from notifier.models import ChannelName, Letter, Status, parse_send_at
from notifier.records.archive import Archive, ArchiveError
from notifier.records.retention_store import CaseSnapshot, Purger, case_ids, read_case
from notifier.settings import Settings
from notifier.store import Store

log = get_logger(__name__)
CPR_MASK = "(udeladt)"
# A run stops after this many batches' worth of cases tried, purged or not: failures are
# retried next run, and a run stays bounded however many fail.
MAX_TRIED = 5
LOCK = "notifier:retention:lock"
LOCK_SECONDS = 6 * 3600  # a run that died lets the next one in after this


@dataclass(frozen=True)
class Verdict:
    case_id: str
    action: str  # purge | blocked | kept
    why: str
    closed_on: date | None = None
    purge_from: date | None = None
    letters: int = 0


@dataclass
class Report:
    dry_run: bool
    verdicts: list[Verdict] = field(default_factory=list)
    archived: list[str] = field(default_factory=list)
    purged: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)

    def lines(self) -> Iterator[str]:
        for v in self.verdicts:
            if v.action == "kept":
                continue
            shown = "would purge" if self.dry_run and v.action == "purge" else v.action
            yield (f"{shown:<12} {v.case_id:<24} closed {v.closed_on}  letters {v.letters:>3}"
                   f"  {v.why}")
        for case_id, why in sorted(self.failed.items()):
            yield f"{'FAILED':<12} {case_id:<24} {why}"
        kept = sum(1 for v in self.verdicts if v.action == "kept")
        going = sum(1 for v in self.verdicts if v.action == "purge")
        blocked = sum(1 for v in self.verdicts if v.action == "blocked")
        if self.dry_run:
            yield (f"dry run: {going} case(s) would be archived and purged, {blocked} "
                   f"blocked, {kept} kept (open or within retention)")
        else:
            yield (f"archived {len(self.archived)}, purged {len(self.purged)}, failed "
                   f"{len(self.failed)}, blocked {blocked}, kept {kept}")


class Retention:
    def __init__(self, store: Store, archive: Archive, pdf: PdfRenderer,
                 calendar: DanishCalendar, clock: Clock, settings: Settings) -> None:
        self.store = store
        self.archive = archive
        self.pdf = pdf
        self.calendar = calendar
        self.clock = clock
        self.days = settings.retention_days
        self.receipt_wait_days = settings.retention_receipt_wait_days
        self.batch = settings.retention_batch
        self.purger = Purger(store)

    # --- deciding -------------------------------------------------------------------------
    def due(self, case_raw: str, now: datetime) -> Verdict:
        """The first look, from the case JSON alone: kept (open, or within retention) or
        due; a due case is then judged on everything it owns."""
        case = json.loads(case_raw)
        if not case.get("closed"):
            return Verdict(case["case_id"], "kept", "open")
        closed_on = date.fromisoformat(str(case["facts"]["closed_on"]))
        purge_from = self.calendar.add(closed_on, Offset(self.days, Unit.DAYS))
        if self.calendar.local_date(now) < purge_from:
            return Verdict(case["case_id"], "kept", f"kept until {purge_from}", closed_on,
                           purge_from)
        return Verdict(case["case_id"], "purge", f"retention ended {purge_from}", closed_on,
                       purge_from)

    def judge(self, snapshot: CaseSnapshot, now: datetime) -> Verdict:
        first = self.due(snapshot.case_raw, now)
        if first.action != "purge":
            return replace(first, letters=len(snapshot.letters))
        blocked = self._blocker(snapshot, now)
        return replace(first, action="blocked" if blocked else "purge",
                       why=blocked or first.why, letters=len(snapshot.letters))

    def _blocker(self, snapshot: CaseSnapshot, now: datetime) -> str | None:
        if snapshot.hold:
            return (f"legal hold since {snapshot.hold.get('at', '?')[:10]} by "
                    f"{snapshot.hold.get('by', '?')}: {snapshot.hold.get('reason', '')}")
        for lid, raw in sorted(snapshot.letters.items()):
            letter = Letter.from_hash(lid, raw)
            if not letter.status.final:
                return f"letter {lid} is {letter.status.value}"
            if self._awaits_receipt(letter, now):
                return f"letter {lid} awaits its Digital Post receipt"
        if snapshot.callbacks_due:
            return f"callback {snapshot.callbacks_due[0]} is still to be sent"
        if snapshot.callbacks_dead:
            return (f"callback {snapshot.callbacks_dead[0]} is dead: replay it first "
                    "(notifier callbacks replay --case)")
        return None

    def _awaits_receipt(self, letter: Letter, now: datetime) -> bool:
        if (letter.status is not Status.SENT or letter.channel is not ChannelName.DIGITAL_POST
                or letter.receipt_status or letter.sent_at is None):
            return False
        waited_until = self.calendar.add(self.calendar.local_date(letter.sent_at),
                                         Offset(self.receipt_wait_days, Unit.DAYS))
        return self.calendar.local_date(now) < waited_until

    def _walk(self, report: Report, now: datetime) -> Iterator[CaseSnapshot]:
        """Every case: the kept ones go straight into the report; each due one is read
        whole, judged, reported, and yielded if it is to be purged."""
        ids = sorted(case_ids(self.store.redis))
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            raws = self.store.redis.mget([self.store.case_key(i) for i in chunk])
            for raw in raws:
                if raw is None:
                    continue
                first = self.due(raw.decode(), now)
                if first.action != "purge":
                    report.verdicts.append(first)
                    continue
                snapshot = read_case(self.store, first.case_id)
                if snapshot is None:
                    continue
                verdict = self.judge(snapshot, now)
                report.verdicts.append(verdict)
                if verdict.action == "purge":
                    yield snapshot

    def plan(self) -> Report:
        """What a run would do now, changing nothing."""
        report = Report(dry_run=True)
        for _ in self._walk(report, self.clock.now()):
            pass
        return report

    # --- doing ----------------------------------------------------------------------------
    def run(self) -> Report:
        """Archive and purge every case whose time has come (at most NOTIFIER_RETENTION_BATCH
        per run). A case that fails stays in Redis and is named in the report."""
        report = Report(dry_run=False)
        token = uuid.uuid4().hex
        # One run at a time (the scheduler's and a manual one): each clears tmp/ first.
        if not self.store.redis.set(LOCK, token, nx=True, ex=LOCK_SECONDS):
            raise ConflictError.single("retention", "another retention run is in progress")
        try:
            self.archive.clean_tmp()
            now = self.clock.now()
            # A case that fails stays and is tried again next run; it must not use up the
            # batch, or failing cases at the front of the walk would stop every later one.
            for tried, snapshot in enumerate(self._walk(report, now)):
                if len(report.purged) >= self.batch or tried >= MAX_TRIED * self.batch:
                    break
                try:
                    self._archive_and_purge(snapshot, now, report)
                except (ArchiveError, RenderError, OSError) as exc:
                    report.failed[snapshot.case_id] = str(exc)[:500]
                    log.error("retention.failed", case_id=snapshot.case_id,
                              error=str(exc)[:300])
        finally:
            if self.store.redis.get(LOCK) == token.encode():
                self.store.redis.delete(LOCK)
        log.info("retention.run", archived=len(report.archived), purged=len(report.purged),
                 failed=len(report.failed))
        return report

    def _archive_and_purge(self, snapshot: CaseSnapshot, now: datetime, report: Report
                           ) -> None:
        case_id = snapshot.case_id
        files = self.files(snapshot)
        stored = self.archive.store(case_id, files, {
            "archived_at": now.isoformat(), "closed_on": snapshot.case.facts["closed_on"],
            "letters": sorted(snapshot.letters),
            "events": sorted(snapshot.events)})
        if stored.written:
            self.purger.count_archived()
            report.archived.append(case_id)
        manifest = self.archive.verify(case_id)  # what is on disk, not what we meant to write
        self.archive.index_letters(case_id, manifest["letters"])
        result = self.purger.purge(snapshot, {"on": self.calendar.local_date(now).isoformat(),
                                              "folder": self.archive.relative(case_id)})
        if result == "ok":
            report.purged.append(case_id)
            log.info("retention.purged", case_id=case_id, letters=len(snapshot.letters))
        else:
            report.failed[case_id] = f"not purged: {result} (the next run tries again)"

    # --- the folder's files -------------------------------------------------------------
    def files(self, snapshot: CaseSnapshot) -> dict[str, bytes]:
        """Every file of the case's archive folder; ArchiveError if a sent PDF cannot be
        rebuilt exactly."""
        files: dict[str, bytes] = {
            "case.json": _json(without_cpr(snapshot.case.model_dump(mode="json"))),
            "audit.json": _json([json.loads(line) for line in snapshot.audit]),
            "events.json": _json(sorted((without_cpr(json.loads(p))
                                         for p in snapshot.events.values()),
                                        key=lambda e: (str(e.get("occurred_at")),
                                                       str(e.get("event_id"))))),
        }
        if snapshot.access is not None:
            files["access-log.json"] = _json([json.loads(line) for line in snapshot.access])
        for lid, raw in sorted(snapshot.letters.items()):
            folder = f"letters/{lid}/"
            files[folder + "letter.json"] = _json(letter_record(lid, raw))
            if snapshot.callbacks.get(lid):
                files[folder + "callbacks.json"] = _json(snapshot.callbacks[lid])
            document = snapshot.documents.get(lid)
            if document is not None:
                files.update(self._document_files(folder, lid, document))
        return files

    def _document_files(self, folder: str, lid: str, document: dict[str, str]
                        ) -> dict[str, bytes]:
        html = document["html"].encode()
        meta = {k: v for k, v in document.items() if k != "html"}
        meta["html_sha256"] = sha256(html)
        out = {folder + "document.html": html}
        kept = document.get("pdf_sha256")
        if kept:
            # Letters sent before issue 16 had WeasyPrint's PDF: rebuild finds that one.
            pdf = self.pdf.rebuild(Rendered(kind="document", title=document["title"],
                                            html=document["html"],
                                            text=document.get("text", "")), kept)
            if sha256(pdf) != kept:
                raise ArchiveError(f"letter {lid}: the PDF rebuilt from the stored HTML "
                                   f"differs from the one sent (SHA-256 {kept}); the case is "
                                   "not purged")
            out[folder + "document.pdf"] = pdf
        out[folder + "document.json"] = _json(meta)
        return out


def letter_record(letter_id: str, raw: dict[str, str]) -> dict[str, Any]:
    """The stored letter hash, readable: every field kept, times as ISO 8601."""
    record: dict[str, Any] = {"letter_id": letter_id, **raw}
    if "send_at" in raw:
        record["send_at"] = parse_send_at(raw["send_at"]).isoformat()
    if "params" in raw:
        record["params"] = without_cpr(json.loads(raw["params"]))
    return record


def without_cpr(value: Any) -> Any:
    """``value`` with every ``cpr`` field masked, at any depth."""
    if isinstance(value, dict):
        return {k: (CPR_MASK if k == "cpr" else without_cpr(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [without_cpr(v) for v in value]
    return value


def _json(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=2) + "\n").encode()


def build_retention(runtime: Any) -> Retention:
    """Retention for a runtime; ConfigError (from settings) if no archive is configured."""
    from notifier.errors import ConfigError

    settings = runtime.settings
    if settings.archive_dir is None:
        raise ConfigError("NOTIFIER_ARCHIVE_DIR is not set: retention archives every case "
                          "before purging it and needs a place to write")
    return Retention(runtime.store, Archive(settings.archive_dir), runtime.pdf,
                     runtime.planner.calendar, runtime.clock, settings)


RETENTION_JOB_ID = "notifier-retention"
RAN_KEY = "notifier:retention:ran:"  # + local date: one scheduler runs it that day


def daily_run(runtime: Any) -> Report | None:
    """The scheduler's daily job: the first scheduler to get here today runs retention
    (several may run at once); a Redis outage is logged, and tomorrow tries again."""
    import redis

    try:
        today = runtime.planner.calendar.local_date(runtime.clock.now()).isoformat()
        if not runtime.client.set(RAN_KEY + today, "1", nx=True, ex=2 * 86400):
            return None
        return build_retention(runtime).run()
    except ConflictError as exc:  # a manual run is going on
        log.warning("retention.skipped", why=str(exc))
        return None
    except redis.RedisError as exc:
        log.error("retention.unavailable", error=str(exc)[:300])
        return None


def schedule_daily(scheduler: Any, runtime: Any) -> None:
    """Add the daily run at NOTIFIER_RETENTION_RUN_AT, local time, to an APScheduler."""
    at = runtime.settings.retention_run_at
    build_retention(runtime)  # ConfigError now, not at 02:30, if the archive is not set
    scheduler.add_job(daily_run, "cron", args=[runtime], hour=at.hour, minute=at.minute,
                      timezone=runtime.settings.timezone, id=RETENTION_JOB_ID,
                      max_instances=1, coalesce=True, misfire_grace_time=6 * 3600)
