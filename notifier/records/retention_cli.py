"""``notifier retention``, ``notifier hold`` and ``notifier archive`` (issue 14a)."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path
from typing import Any

from notifier.errors import ConfigError, InputError
from notifier.settings import Settings


def register(sub: Any) -> None:
    retention = sub.add_parser(
        "retention", help="archive, then purge, closed cases whose retention has ended")
    retention.add_argument("--dry-run", action="store_true",
                           help="list what would be archived and purged; change nothing")
    retention.add_argument("--json", action="store_true", help="one JSON object")
    retention.set_defaults(func=cmd_retention)

    hold = sub.add_parser("hold", help="a case's legal hold: show, put on, or --release")
    hold.add_argument("case_id")
    hold.add_argument("--reason", help="why (for the audit trail); puts the hold on")
    hold.add_argument("--release", action="store_true", help="lift the hold (needs --reason)")
    hold.add_argument("--by", help="who, for the audit trail (default: the login name)")
    hold.set_defaults(func=cmd_hold)

    archive = sub.add_parser("archive", help="read purged cases back from the archive")
    archive_sub = archive.add_subparsers(dest="archive_command", required=True)
    show = archive_sub.add_parser("show", help="a case's archive, its checksums verified")
    show.add_argument("case_id")
    show.add_argument("--json", action="store_true", help="the manifest as JSON")
    show.set_defaults(func=cmd_archive_show)
    get = archive_sub.add_parser("get", help="one file of a case's archive, verified")
    get.add_argument("case_id")
    get.add_argument("path", help="e.g. letters/<letter id>/document.pdf")
    get.add_argument("-o", "--output", type=Path, help="file to write (default stdout)")
    get.set_defaults(func=cmd_archive_get)
    letter = archive_sub.add_parser("letter", help="which archived case holds a letter")
    letter.add_argument("letter_id")
    letter.set_defaults(func=cmd_archive_letter)


def cmd_retention(settings: Settings, args: argparse.Namespace) -> int:
    from notifier.api.commands import stored_runtime
    from notifier.records.retention import build_retention

    job = build_retention(stored_runtime(settings))
    report = job.plan() if args.dry_run else job.run()
    if args.json:
        print(json.dumps({
            "dry_run": report.dry_run,
            "cases": [{"case_id": v.case_id, "action": v.action, "why": v.why,
                       "closed_on": str(v.closed_on) if v.closed_on else None,
                       "letters": v.letters} for v in report.verdicts if v.action != "kept"],
            "kept": sum(1 for v in report.verdicts if v.action == "kept"),
            "archived": report.archived, "purged": report.purged, "failed": report.failed,
        }, ensure_ascii=False))
    else:
        for line in report.lines():
            print(line)
    return 1 if report.failed else 0


def cmd_hold(settings: Settings, args: argparse.Namespace) -> int:
    from notifier.api.commands import stored_runtime
    from notifier.api.legal_hold import hold_view, lift_hold, put_hold

    runtime = stored_runtime(settings)
    by = f"cli:{args.by or getpass.getuser()}"
    if args.release:
        if not args.reason:
            raise InputError.single("--reason", "say why the hold is lifted")
        view, changed = lift_hold(runtime, args.case_id, args.reason, by=by)
        print("released" if changed else "the case had no legal hold")
    elif args.reason:
        view, changed = put_hold(runtime, args.case_id, args.reason, by=by)
        print("held" if changed else f"already held by {view['by']} since {view['at']}")
    else:
        view = hold_view(runtime, args.case_id)
    print(json.dumps(view, ensure_ascii=False))
    return 0


def _archive(settings: Settings) -> Any:
    from notifier.records.archive import Archive

    if settings.archive_dir is None:
        raise ConfigError("NOTIFIER_ARCHIVE_DIR is not set")
    return Archive(settings.archive_dir)


def _verified(settings: Settings, case_id: str) -> tuple[Any, dict[str, Any]]:
    from notifier.api.cases import check_case_id
    from notifier.records.archive import ArchiveError

    archive = _archive(settings)
    check_case_id(case_id)
    try:
        return archive, archive.verify(case_id)
    except ArchiveError as exc:
        raise InputError.single("case_id", str(exc)) from None


def _log_archive_read(settings: Settings, case_id: str, what: str) -> None:
    """Reading the archive is a read of personal data: logged (to the archive's own list
    and the reader's) before anything is shown; without the shared Redis, nothing is."""
    from notifier.api.commands import stored_runtime
    from notifier.records.access_log import cli_read

    cli_read(stored_runtime(settings), case_id, what, archived=True)


def cmd_archive_show(settings: Settings, args: argparse.Namespace) -> int:
    archive, manifest = _verified(settings, args.case_id)
    _log_archive_read(settings, args.case_id, "archive")
    if args.json:
        print(json.dumps(manifest, ensure_ascii=False))
        return 0
    print(f"case {manifest['case_id']}  closed {manifest['closed_on']}  archived "
          f"{manifest['archived_at']}  {archive.folder(args.case_id)}")
    print(f"checksums: {len(manifest['files'])} files verified (SHA-256)")
    for letter_id in manifest["letters"]:
        record = json.loads(archive.read(args.case_id, f"letters/{letter_id}/letter.json"))
        files = [f["path"].rpartition("/")[2] for f in manifest["files"]
                 if f["path"].startswith(f"letters/{letter_id}/document")]
        print(f"  {letter_id}  {record.get('kind', ''):<28} {record.get('status', ''):<10} "
              f"sent {record.get('sent_at', '-')[:19]}  receipt "
              f"{record.get('receipt_status') or record.get('receipt') or '-'}  "
              f"{' '.join(files)}")
    return 0


def cmd_archive_get(settings: Settings, args: argparse.Namespace) -> int:
    from notifier.records.archive import ArchiveError

    archive, _ = _verified(settings, args.case_id)
    try:
        data = archive.read(args.case_id, args.path)
    except ArchiveError as exc:
        raise InputError.single("path", str(exc)) from None
    _log_archive_read(settings, args.case_id, f"archive:{args.path}"[:100])
    if args.output:
        args.output.write_bytes(data)
    else:
        sys.stdout.buffer.write(data)
    return 0


def cmd_archive_letter(settings: Settings, args: argparse.Namespace) -> int:
    from notifier.api.errors import NotFoundError

    found = _archive(settings).find_letter(args.letter_id)
    if found is None:
        raise NotFoundError.single("letter_id", "not in the archive")
    print(json.dumps(found, ensure_ascii=False))
    return 0
