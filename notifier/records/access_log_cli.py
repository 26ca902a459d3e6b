"""``notifier access-log``: the access log of a case (GDPR art. 15) or a user (issue 14)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from notifier.errors import InputError
from notifier.settings import Settings


def register(sub: Any) -> None:
    parser = sub.add_parser("access-log", help="who read a case's data (or what a user read)")
    parser.add_argument("case_id", nargs="?", help="the case (or --user)")
    parser.add_argument("--user", help="a user's reads instead: token name, or login name "
                        "for the CLI")
    parser.add_argument("--format", choices=["csv", "json"], default="csv")
    parser.add_argument("--purpose", help="why you read it (kept in the access log)")
    parser.set_defaults(func=cmd_access_log)


def cmd_access_log(settings: Settings, args: argparse.Namespace) -> int:
    from notifier.api.auth import NAME
    from notifier.api.cases import find_case
    from notifier.api.commands import stored_runtime
    from notifier.records.access_log import access_log, cli_read, export

    if (args.case_id is None) == (args.user is None):
        raise InputError.single("case_id", "give a case id or --user NAME (one of them)")
    runtime = stored_runtime(settings)
    log = access_log(runtime)
    if args.user is not None:
        if not NAME.match(args.user):
            raise InputError.single("--user", "must be 1-64 characters of A-Z, a-z, 0-9, . _ -")
        entries = log.for_user(args.user)
    else:
        find_case(runtime, args.case_id)  # unknown or purged: an error, nothing written
        entries = log.for_case(args.case_id)
        # Exporting a case's log is a read of that case too (the entry follows the export).
        cli_read(runtime, args.case_id, "access_log", args.purpose)
    sys.stdout.write(export(entries, args.format))
    return 0
