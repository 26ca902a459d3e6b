"""``notifier rules diff NEW_DIR`` and ``notifier rules apply NEW_DIR`` (issue 14; the
policy is in docs/versioned-rules.md, the work in rules_change.py)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from notifier.errors import InputError
from notifier.settings import Settings


def register(sub: Any) -> None:
    rules = sub.add_parser("rules", help="what new rules would change in pending letters; "
                           "apply them")
    rules_sub = rules.add_subparsers(dest="rules_command", required=True)
    for name, help_text in (
            ("diff", "show, per open case, what NEW_DIR's rules would change (changes nothing)"),
            ("apply", "re-plan pending letters under NEW_DIR's rules, atomically per case")):
        command = rules_sub.add_parser(name, help=help_text)
        command.add_argument("new_dir", type=Path, help="a directory of rule files (*.toml)")
        command.add_argument("--json", action="store_true", help="one JSON object per change")
        command.set_defaults(func=cmd_rules, apply=name == "apply")


def cmd_rules(settings: Settings, args: argparse.Namespace) -> int:
    from notifier.api.commands import stored_runtime
    from notifier.planning.rules_change import apply_case, diff_cases, open_cases
    from notifier.runtime import build_planner

    if not args.new_dir.is_dir():
        raise InputError.single("NEW_DIR", f"{args.new_dir} is not a directory")
    planner = build_planner(settings.model_copy(update={"rules_dir": args.new_dir}))
    runtime = stored_runtime(settings)
    now = runtime.clock.now()
    results = ([apply_case(runtime.store, planner, c, now) for c in open_cases(runtime.store)]
               if args.apply else list(diff_cases(runtime.store, planner, now)))
    calendar = planner.calendar
    counts = dict.fromkeys(("changed", "added", "cancelled", "missed", "failed"), 0)
    for result in results:
        if result.error:
            counts["failed"] += 1
            print(json.dumps({"case_id": result.case_id, "error": result.error})
                  if args.json else f"{result.case_id}  NOT RE-PLANNED: {result.error}")
        for change in result.changes:
            counts[change.change] += 1
            row = change.as_json(calendar)
            print(json.dumps(row, ensure_ascii=False) if args.json else _line(row))
    verb = "applied" if args.apply else "would change (nothing was changed)"
    summary = ", ".join(f"{n} {k}" for k, n in counts.items())
    print(f"rules {planner.rules.version}: {len(results)} open cases; {verb}: {summary}",
          file=sys.stderr)
    return 0


def _line(row: dict[str, Any]) -> str:
    def times(side: dict[str, Any] | None) -> str:
        if side is None:
            return "-"
        send = str(side["send_at"])[:16].replace("T", " ")
        return f"{send} (frist {side['deadline']})" if side["deadline"] else send

    return (f"{row['case_id']}  {row['kind']}  {row['letter_id']}  {row['change']}: "
            f"{times(row['before'])} -> {times(row['after'])}")
