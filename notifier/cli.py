"""The ``notifier`` command. Settings are read once here and passed down explicitly."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import redis

from notifier.errors import ConfigError, InputError
from notifier.logging import configure_logging, get_logger
from notifier.settings import Settings, load_settings

log = get_logger("notifier.cli")
EXIT_INPUT = 2
EXIT_CONFIG = 3
EXIT_UNAVAILABLE = 4  # Redis unreachable, or a write no replica confirmed (issue 15)


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
    except (redis.ConnectionError, redis.TimeoutError) as exc:
        # One line for the operator, not a traceback; nothing was shown or promised.
        print(f"notifier: Redis unavailable, nothing done or shown; try again: {exc}",
              file=sys.stderr)
        return EXIT_UNAVAILABLE


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="notifier", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="API, scheduler and worker in one process")
    serve.add_argument("--threads", type=int, default=None, help="worker threads")
    _listen_args(serve)
    serve.set_defaults(func=cmd_serve)

    api = sub.add_parser("api", help="the HTTP API and caseworker pages only")
    _listen_args(api)
    api.set_defaults(func=cmd_api)

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
    render.add_argument("--format", choices=["html", "txt", "pdf", "memo"], default="txt")
    render.add_argument("-o", "--output", type=Path, help="file to write (default stdout)")
    render.set_defaults(func=cmd_render)

    letters = sub.add_parser("letters", help="letter template tools")
    letters_sub = letters.add_subparsers(dest="letters_command", required=True)
    check = letters_sub.add_parser("check", help="render every kind's sample strictly")
    check.set_defaults(func=cmd_letters_check)

    receipt = sub.add_parser("receipt", help="record Digital Post business receipts")
    receipt.add_argument("file", type=Path, help="JSON object per line, or a Beskedfordeler "
                         "ModtagBeskedInput XML document ('-' for stdin)")
    receipt.set_defaults(func=cmd_receipt)

    migrate = sub.add_parser("migrate", help="bring the data in Redis to this version's layout")
    migrate.add_argument("--dry-run", action="store_true", help="say what would change")
    migrate.set_defaults(func=cmd_migrate)

    from notifier.channels.digital_post_cli import register as register_digital_post  # issue 12

    register_digital_post(sub)

    from notifier.records.callbacks_cli import register as register_callbacks  # issue 13

    register_callbacks(sub)

    from notifier.records.access_log_cli import register as register_access_log  # issue 14

    register_access_log(sub)

    from notifier.planning.rules_cli import register as register_rules  # issue 14

    register_rules(sub)

    from notifier.records.retention_cli import register as register_retention  # issue 14a

    register_retention(sub)

    from notifier.api.commands import add_commands

    add_commands(sub)  # case, event, send, cancel, token: the API's operations from a shell
    return parser


def _listen_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="API bind address (default NOTIFIER_API_HOST, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="API port (default NOTIFIER_API_PORT, 8000)")


# --- commands --------------------------------------------------------------------------
def cmd_plan(settings: Settings, args: argparse.Namespace) -> int:
    from notifier.planning.simulation import Simulation, plan_row, read_events
    from notifier.runtime import build_planner

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
    return _run_parts(settings, "serve", dispatch=True, work=True, threads=args.threads,
                      listen=_listen(settings, args))


def cmd_api(settings: Settings, args: argparse.Namespace) -> int:
    return _run_parts(settings, "api", dispatch=False, work=False, threads=None,
                      listen=_listen(settings, args))


def _listen(settings: Settings, args: argparse.Namespace) -> tuple[str, int]:
    port = settings.api_port if args.port is None else args.port
    if not 0 <= port <= 65535:
        raise InputError.single("--port", "must be 0-65535")
    return args.host or settings.api_host, port


def cmd_scheduler(settings: Settings, args: argparse.Namespace) -> int:
    return _run_parts(settings, "scheduler", dispatch=True, work=False, threads=None)


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    return _run_parts(settings, "worker", dispatch=False, work=True, threads=args.threads)


def _run_parts(settings: Settings, name: str, *, dispatch: bool, work: bool,
               threads: int | None, listen: tuple[str, int] | None = None) -> int:
    """Run the dispatcher tick, a worker and/or the API until SIGINT/SIGTERM, then stop."""
    import dramatiq
    from apscheduler.schedulers.background import BackgroundScheduler

    from notifier import names
    from notifier.runtime import build_runtime
    from notifier.store.schema import check_at_start

    runtime = build_runtime(settings)
    check_at_start(runtime.client)  # SchemaError (a ConfigError) stops us here
    from notifier.operations.certificate import check_certificate  # issue 13

    check_certificate(runtime.channels, runtime.clock.now(), settings.certificate_warn_days)
    _announce(settings)
    api = None
    if listen is not None:
        from notifier.api.server import ApiServer

        api = ApiServer(runtime, *listen)  # ConfigError here (bad tokens) stops us early
        log.info("api.listening", address=api.start())
    scheduler = None
    if dispatch:
        scheduler = BackgroundScheduler(timezone="UTC")
        scheduler.add_job(runtime.dispatcher.safe_tick, "interval",
                          seconds=settings.dispatch_interval,
                          id=names.DISPATCH_JOB_ID, max_instances=1, coalesce=True)
        from notifier.operations.sweeper import Sweeper  # issue 13: stranded letters and callbacks

        scheduler.add_job(Sweeper(runtime.store, runtime.clock, settings,
                                  runtime.renderer.catalog).safe_sweep,
                          "interval", seconds=settings.sweep_interval, id="notifier-sweep",
                          max_instances=1, coalesce=True)
        if settings.retention_enabled:  # issue 14a: archive and purge closed cases daily
            from notifier.records.retention import schedule_daily

            schedule_daily(scheduler, runtime)
        scheduler.start()
    worker = None
    if work:
        worker = dramatiq.Worker(runtime.broker, worker_threads=threads or settings.worker_threads,
                                 worker_timeout=1000)
        worker.start()
    # Handlers first: whoever reads '.started' may signal us at once, and must get a clean
    # stop, not the default SIGTERM's kill (a SIGTERM while starting still kills).
    stop = stop_on_signal()
    log.info(f"{name}.started", dispatch=dispatch, threads=worker.worker_threads if worker else 0)
    stop.wait()
    if api is not None:
        api.stop()
    if scheduler is not None:
        scheduler.shutdown(wait=True)
    if worker is not None and not stop_worker(worker, settings.stop_seconds):
        # Its threads still hold connections (and may take stderr's lock): closing them or
        # a normal interpreter exit could block or abort. Leave now, as a SIGKILL would.
        log.info(f"{name}.stopped", letters_left_in_hand=True)
        exit_now(0)
    runtime.close()
    log.info(f"{name}.stopped")
    return 0


def cmd_render(settings: Settings, args: argparse.Namespace) -> int:
    from notifier.delivery.preview import render_kind

    output = render_kind(settings, args.kind, args.data, args.format)
    if args.output:
        args.output.write_bytes(output)
    else:
        sys.stdout.buffer.write(output)
    return 0


def cmd_letters_check(settings: Settings, args: argparse.Namespace) -> int:
    from notifier.delivery.preview import check_letters

    problems = check_letters(settings)
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{'FAILED' if problems else 'ok'}: letter templates checked", file=sys.stderr)
    return 1 if problems else 0


def cmd_receipt(settings: Settings, args: argparse.Namespace) -> int:
    """Each line: {"message_uuid", "status": delivered|read|failed, "received_at", "reason"}.

    Every line is checked, as input and against the letter it names, before any is
    recorded, so a bad file records nothing. Recording is idempotent: a run cut short
    (Redis gone mid-file) is finished by running the same file again.
    """
    from notifier.api.commands import stored_runtime
    from notifier.clock import SystemClock
    from notifier.records.receipts import accept_receipt, parse_receipt, receipt_letter

    raw = sys.stdin.buffer.read() if str(args.file) == "-" else args.file.read_bytes()
    receipts = _receipt_lines(raw)
    now = SystemClock().now()  # the clock build_runtime gives the runtime below
    for number, data in receipts:  # the file first: no Redis needed to refuse it
        with _at_line(number):
            parse_receipt(data, now)
    runtime = stored_runtime(settings)
    for number, data in receipts:
        with _at_line(number):
            receipt_letter(runtime.store, parse_receipt(data, now))
    for _, data in receipts:
        print(json.dumps(accept_receipt(runtime.store, runtime.renderer.catalog, data, now,
                                        paper_resend=settings.paper_resend_on_failure)))
    return 0


@contextlib.contextmanager
def _at_line(number: int) -> Iterator[None]:
    try:
        yield
    except InputError as exc:  # ConflictError is one too
        raise exc.located(f"line {number}") from None


def _receipt_lines(raw: bytes) -> list[tuple[int, Any]]:
    """(line number, receipt JSON) for a JSON-lines file, or the one receipt in a
    Beskedfordeler PKO_PostStatus message (issue 12)."""
    if raw.lstrip().startswith(b"<"):
        from notifier.records.beskedfordeler import parse_modtag_besked

        return [(1, parse_modtag_besked(raw).receipt())]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError.single("receipt", f"not UTF-8 text (byte {exc.start})") from None
    receipts: list[tuple[int, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                receipts.append((number, json.loads(line)))
            except json.JSONDecodeError as exc:
                raise InputError.single("receipt", f"not JSON: {exc.msg}",
                                        where=f"line {number}") from None
    return receipts


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    """Upgrade the data layout in place (stop every other notifier process first)."""
    from notifier.runtime import redis_client
    from notifier.store.schema import migrate

    if settings.embedded:
        raise ConfigError("NOTIFIER_REDIS_URL is not set: an embedded store starts empty, "
                          "there is nothing to migrate")
    for line in migrate(redis_client(settings), dry_run=args.dry_run):
        print(line)
    return 0


# --- helpers ---------------------------------------------------------------------------
def _announce(settings: Settings) -> None:
    if settings.embedded:
        print("notifier: NOTIFIER_REDIS_URL is not set: running on an embedded in-memory "
              "store; NOTHING IS PERSISTED and other processes cannot see it.", file=sys.stderr)


def stop_worker(worker: Any, seconds: float) -> bool:
    """Stop a Dramatiq worker within ``seconds``; False if it had not stopped by then.

    Dramatiq's own stop waits up to ten minutes, and a worker thread whose acknowledgement
    cannot reach Redis retries it for ever, so with Redis gone a SIGTERM never ended the
    process. Past ``seconds`` the worker is left to the process's exit (its threads are
    daemons): what it held is taken again after its lease, as after a SIGKILL, but the
    supervisor gets a clean, bounded stop."""
    # Dramatiq waits for its worker threads, then again for its consumers, and only then
    # puts prefetched messages back: it gets three quarters, so a stop whose letters finish
    # in time also requeues what was prefetched within ``seconds``.
    stopping = threading.Thread(target=worker.stop, args=(int(seconds * 750),),
                                name="worker-stop", daemon=True)
    deadline = time.monotonic() + seconds
    stopping.start()
    stopping.join(seconds)
    # Dramatiq's stop may return with worker threads still busy (its waits timed out):
    # they get the rest of the time.
    for thread in worker.workers:
        thread.join(max(deadline - time.monotonic(), 0))
    busy = [thread for thread in worker.workers if thread.is_alive()]
    if stopping.is_alive() or busy:
        log.warning("worker.stop_timed_out", seconds=seconds, busy_threads=len(busy),
                    why="letters in hand did not finish (Redis or a channel unreachable?); "
                        "they are taken again after their lease")
        return False
    return True


def exit_now(code: int) -> None:
    """End the process at once (no interpreter shutdown) once its output is flushed."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def stop_on_signal() -> threading.Event:
    """An event SIGINT or SIGTERM sets (from now on), for the caller to wait on."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
