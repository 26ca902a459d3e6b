"""The ``notifier`` command. Settings are read once here and passed down explicitly."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from notifier.errors import ConfigError, InputError
from notifier.logging import configure_logging, get_logger
from notifier.settings import Settings, load_settings

log = get_logger("notifier.cli")
EXIT_INPUT = 2
EXIT_CONFIG = 3


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    overrides = {"outbox_dir": args.outbox} if getattr(args, "outbox", None) else {}
    try:
        settings = load_settings(**overrides)
    except ConfigError as exc:
        print(f"notifier: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    configure_logging(settings.log_level, settings.log_format)
    try:
        return int(args.func(settings, args))
    except InputError as exc:
        print(f"notifier: {exc}", file=sys.stderr)
        return EXIT_INPUT
    except ConfigError as exc:
        print(f"notifier: {exc}", file=sys.stderr)
        return EXIT_CONFIG


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="notifier", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="scheduler and worker in one process")
    serve.add_argument("--threads", type=int, default=None, help="worker threads")
    serve.set_defaults(func=cmd_serve)

    sched = sub.add_parser("scheduler", help="the dispatcher tick only (run one or more)")
    sched.set_defaults(func=cmd_scheduler)

    worker = sub.add_parser("worker", help="a Dramatiq worker that delivers letters")
    worker.add_argument("--threads", type=int, default=None, help="worker threads")
    worker.set_defaults(func=cmd_worker)

    demo = sub.add_parser("demo", help="run the example cases on a simulated clock")
    demo.add_argument("--outbox", type=Path, help="where letters go (default ./outbox)")
    demo.add_argument("--events", type=Path, help="a JSON-lines file instead of the demo cases")
    demo.set_defaults(func=cmd_demo)

    plan = sub.add_parser("plan", help="dry run: which letters a file of events produces")
    plan.add_argument("events", type=Path, help="one JSON event per line ('-' for stdin)")
    plan.add_argument("--json", action="store_true", help="JSON lines (the DESIGN.md contract)")
    plan.set_defaults(func=cmd_plan)

    render = sub.add_parser("render", help="render one letter kind from a data file")
    render.add_argument("kind")
    render.add_argument("--data", type=Path, help="JSON context (default: the catalog sample)")
    render.add_argument("--format", choices=["html", "txt", "memo"], default="txt")
    render.add_argument("-o", "--output", type=Path, help="file to write (default stdout)")
    render.set_defaults(func=cmd_render)

    letters = sub.add_parser("letters", help="letter template tools")
    letters_sub = letters.add_subparsers(dest="letters_command", required=True)
    check = letters_sub.add_parser("check", help="render every kind's sample strictly")
    check.set_defaults(func=cmd_letters_check)

    case = sub.add_parser("case", help="a case's letters and their states")
    case.add_argument("case_id")
    case.add_argument("--json", action="store_true")
    case.set_defaults(func=cmd_case)
    return parser


# --- commands --------------------------------------------------------------------------
def cmd_plan(settings: Settings, args: argparse.Namespace) -> int:
    from notifier.runtime import build_planner
    from notifier.simulation import Simulation, plan_row, read_events

    text = sys.stdin.read() if str(args.events) == "-" else _read(args.events)
    planner = build_planner(settings)
    letters = Simulation(planner).run(read_events(text.splitlines()))
    rows = [plan_row(letter, planner.calendar) for letter in letters]
    for row in rows:
        if args.json:
            print(json.dumps(row, ensure_ascii=False))
        else:
            print(f"{row['send_at'][:16].replace('T', ' ')}  {row['case_id']:<16} "
                  f"{row['kind']:<30} {row['channel']:<12} {row['status']:<10} "
                  f"{row['deadline'] or '':<10} {row['cancelled_by'] or ''}")
    return 0


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError.single("events", f"cannot read {path}: {exc.strerror}") from None


def cmd_demo(settings: Settings, args: argparse.Namespace) -> int:
    from notifier.demo import run_demo

    if "NOTIFIER_LOG_LEVEL" not in os.environ:  # keep the printed timeline readable
        configure_logging("warning", settings.log_format)

    return run_demo(settings, args.events)


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    return _run_parts(settings, "serve", dispatch=True, work=True, threads=args.threads)


def cmd_scheduler(settings: Settings, args: argparse.Namespace) -> int:
    return _run_parts(settings, "scheduler", dispatch=True, work=False, threads=None)


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    return _run_parts(settings, "worker", dispatch=False, work=True, threads=args.threads)


def _run_parts(settings: Settings, name: str, *, dispatch: bool, work: bool,
               threads: int | None) -> int:
    """Run the dispatcher tick and/or a worker until SIGINT/SIGTERM, then stop cleanly."""
    import dramatiq
    from apscheduler.schedulers.background import BackgroundScheduler

    from notifier import names
    from notifier.runtime import build_runtime

    runtime = build_runtime(settings)
    _announce(settings)
    scheduler = None
    if dispatch:
        scheduler = BackgroundScheduler(timezone="UTC")
        scheduler.add_job(runtime.dispatcher.tick, "interval", seconds=settings.dispatch_interval,
                          id=names.DISPATCH_JOB_ID, max_instances=1, coalesce=True)
        scheduler.start()
    worker = None
    if work:
        worker = dramatiq.Worker(runtime.broker, worker_threads=threads or settings.worker_threads,
                                 worker_timeout=1000)
        worker.start()
    log.info(f"{name}.started", dispatch=dispatch, threads=worker.worker_threads if worker else 0)
    _wait_for_signal()
    if scheduler is not None:
        scheduler.shutdown(wait=True)
    if worker is not None:
        worker.stop()
    log.info(f"{name}.stopped")
    return 0


def cmd_render(settings: Settings, args: argparse.Namespace) -> int:
    from notifier.preview import render_kind

    output = render_kind(settings, args.kind, args.data, args.format)
    if args.output:
        args.output.write_bytes(output)
    else:
        sys.stdout.buffer.write(output)
    return 0


def cmd_letters_check(settings: Settings, args: argparse.Namespace) -> int:
    from notifier.preview import check_letters

    problems = check_letters(settings)
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{'FAILED' if problems else 'ok'}: letter templates checked", file=sys.stderr)
    return 1 if problems else 0


def cmd_case(settings: Settings, args: argparse.Namespace) -> int:
    from notifier.runtime import build_runtime

    runtime = build_runtime(settings)
    case = runtime.store.case(args.case_id)
    if case is None:
        raise InputError.single("case_id", "unknown case")
    letters = sorted(runtime.store.case_letters(args.case_id).values(), key=lambda x: x.send_at)
    calendar = runtime.planner.calendar
    for letter in letters:
        row: dict[str, Any] = {
            "letter_id": letter.letter_id, "kind": letter.kind, "status": letter.status.value,
            "channel": letter.channel.value,
            "send_at": calendar.local(letter.send_at).isoformat(),
            "deadline": letter.deadline.isoformat() if letter.deadline else None,
        }
        print(json.dumps(row, ensure_ascii=False) if args.json else "  ".join(
            str(v or "") for v in row.values()))
    return 0


# --- helpers ---------------------------------------------------------------------------
def _announce(settings: Settings) -> None:
    if settings.embedded:
        print("notifier: NOTIFIER_REDIS_URL is not set: running on an embedded in-memory "
              "store; NOTHING IS PERSISTED and other processes cannot see it.", file=sys.stderr)


def _wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    stop.wait()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
