"""The CLI's side of the API: ``notifier event``, ``send``, ``cancel``, ``case`` and
``token``. They call the functions the HTTP handlers call, so validation and messages
are the same; errors reach ``cli.main`` as InputError (exit 2) or ConfigError (exit 3).

Heavy imports (the runtime, FastAPI) happen inside the commands, so ``notifier --help``
and the other commands stay quick.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from notifier.errors import ConfigError, FieldError, InputError
from notifier.settings import Settings

if TYPE_CHECKING:
    from notifier.api.security import Tokens
    from notifier.runtime import Runtime

CLI_USER = "cli"  # who did it, in cancelled_by / cause / the audit trail


def add_commands(sub: Any) -> None:
    case = sub.add_parser("case", help="a case's state and letter timeline (as GET /cases)")
    case.add_argument("case_id")
    case.add_argument("--json", action="store_true", help="the whole view as JSON")
    case.add_argument("--purpose", help="why you read it (kept in the access log)")
    case.set_defaults(func=cmd_case)

    event = sub.add_parser("event", help="apply events (a JSON list, or one per line)")
    event.add_argument("file", help="the events file ('-' for stdin)")
    event.add_argument("--api", metavar="URL", help="post to a running API instead of Redis")
    event.add_argument("--token-file", type=Path, help="with --api: file with a system token")
    event.set_defaults(func=cmd_event)

    send = sub.add_parser("send", help="plan an ad-hoc letter for a case")
    send.add_argument("kind", help="a catalog letter kind, or adhoc")
    send.add_argument("--case", required=True, dest="case_id", help="the case id")
    send.add_argument("--data", default="{}",
                      help="the request as JSON: a file, '-' for stdin, or inline {...}")
    send.set_defaults(func=cmd_send)

    cancel = sub.add_parser("cancel", help="cancel a letter that is not yet being sent")
    cancel.add_argument("letter_id")
    cancel.add_argument("--reason", help="for the audit trail")
    cancel.set_defaults(func=cmd_cancel)

    release = sub.add_parser("release", help="release a held stop decision (issue 11)")
    release.add_argument("letter_id")
    release.add_argument("--reason", help="for the audit trail")
    release.set_defaults(func=cmd_release)

    token = sub.add_parser(
        "token", help="make an API token (prints it once, and its entry); 'token list', "
        "'token revoke NAME'")
    token.add_argument("action", nargs="?", choices=["list", "revoke"],
                       help="list the tokens, or revoke every token of a name")
    token.add_argument("target", nargs="?", metavar="NAME", help="with revoke: whose tokens")
    token.add_argument("--role", choices=["system", "caseworker", "operator"])
    token.add_argument("--name", help="who holds it (shown in the audit trail)")
    token.add_argument("--days", type=int, help="expiry of a token kept in Redis "
                       "(default NOTIFIER_TOKEN_DAYS)")
    token.set_defaults(func=cmd_token)


def stored_runtime(settings: Settings) -> Runtime:
    """The runtime on the configured Redis: these commands act on real, shared state."""
    from notifier.runtime import build_runtime
    from notifier.store.schema import check_at_start

    if settings.embedded:
        raise ConfigError("NOTIFIER_REDIS_URL is not set: this command acts on the shared "
                          "store, and an embedded one would be empty and forgotten at exit")
    runtime = build_runtime(settings)
    check_at_start(runtime.client)
    return runtime


def cmd_event(settings: Settings, args: argparse.Namespace) -> int:
    from notifier.api import intake

    items, locate = _read_events(args.file)
    if args.api:
        return _post_events(args.api, args.token_file, items)
    events = intake.parse_batch(items, locate)
    runtime = stored_runtime(settings)
    outcomes = intake.ingest(runtime.store, runtime.planner, events, runtime.clock.now(), locate,
                             settings.email_domain_list)
    for outcome in outcomes:
        print(json.dumps(outcome.as_json(), ensure_ascii=False))
    return 0


def _read_events(name: str) -> tuple[list[Any], Any]:
    """A JSON list (or object) of events, or JSON lines; errors name the item or line."""
    from notifier.api import intake

    text = sys.stdin.read() if name == "-" else _read_file(Path(name), "file")
    if text.lstrip().startswith("["):
        return _json(text, "file"), intake.in_list
    try:  # one event, perhaps pretty-printed over several lines
        return [json.loads(text)], intake.alone
    except (json.JSONDecodeError, RecursionError):
        pass  # then it is JSON lines: one event per line
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1)
             if line.strip() and not line.lstrip().startswith("#")]
    items = [_json(line, f"line {n}") for n, line in lines]
    numbers = [n for n, _ in lines]
    return items, lambda index: f"line {numbers[index]}: "


def _post_events(url: str, token_file: Path | None, items: list[Any]) -> int:
    if not url.startswith(("http://", "https://")):
        raise InputError.single("--api", "must be an http:// or https:// URL")
    if token_file is None:
        raise InputError.single("--token-file", "required with --api (a system token)")
    token = _read_file(token_file, "--token-file").strip()
    request = urllib.request.Request(  # noqa: S310 - the scheme is checked above
        url.rstrip("/") + "/events", data=json.dumps(items).encode(), method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        problem = json.loads(exc.read() or b"{}")
        errors = [FieldError(e["field"], e["message"]) for e in problem.get("errors", [])]
        raise InputError(errors or [FieldError("--api", f"HTTP {exc.code}")]) from None
    except urllib.error.URLError as exc:
        raise InputError.single("--api", f"cannot reach {url}: {exc.reason}") from None
    for result in body["results"]:
        print(json.dumps(result, ensure_ascii=False))
    return 0


def cmd_send(settings: Settings, args: argparse.Namespace) -> int:
    from notifier.api.adhoc import LetterRequest, create_letter
    from notifier.intake.events import validate_model

    data = _request_data(args.data)
    request = validate_model(LetterRequest, {**data, "kind": args.kind})
    runtime = stored_runtime(settings)
    view, created = create_letter(runtime, args.case_id, request, by=CLI_USER)
    print(json.dumps({"outcome": "created" if created else "duplicate", "letter": view},
                     ensure_ascii=False))
    return 0


def _request_data(text: str) -> dict[str, Any]:
    if text.lstrip().startswith("{"):
        raw = _json(text, "--data")
    else:
        raw = _json(sys.stdin.read() if text == "-" else _read_file(Path(text), "--data"),
                    "--data")
    if not isinstance(raw, dict):
        raise InputError.single("--data", "must be a JSON object")
    return raw


def cmd_cancel(settings: Settings, args: argparse.Namespace) -> int:
    from notifier.api.letters import cancel_letter, letter_view

    runtime = stored_runtime(settings)
    letter, changed = cancel_letter(runtime.store, args.letter_id, runtime.clock.now(),
                                    by=CLI_USER, reason=args.reason)
    view = letter_view(letter, runtime.renderer.catalog, runtime.planner.calendar)
    print(json.dumps({"outcome": "cancelled" if changed else "already_cancelled",
                      "letter": view}, ensure_ascii=False))
    return 0


def cmd_release(settings: Settings, args: argparse.Namespace) -> int:
    from notifier.api.held import release_letter
    from notifier.api.letters import letter_view

    runtime = stored_runtime(settings)
    letter, changed = release_letter(runtime.store, runtime.planner.calendar, args.letter_id,
                                     runtime.clock.now(), by=CLI_USER, reason=args.reason)
    view = letter_view(letter, runtime.renderer.catalog, runtime.planner.calendar)
    print(json.dumps({"outcome": "released" if changed else "already_released",
                      "letter": view}, ensure_ascii=False))
    return 0


def cmd_case(settings: Settings, args: argparse.Namespace) -> int:
    from notifier.api.cases import case_view
    from notifier.records.access_log import cli_read

    runtime = stored_runtime(settings)
    view = case_view(runtime, args.case_id)
    cli_read(runtime, args.case_id, "case_timeline", args.purpose)  # issue 14, before shown
    if args.json:
        print(json.dumps(view, ensure_ascii=False))
        return 0
    print(f"{view['case_id']}  {view['status']}{'  standby' if view['standby'] else ''}  "
          f"{view['citizen']['name']}")
    for letter in view["letters"]:
        print("  ".join(str(letter[k] or "-") for k in (
            "letter_id", "send_at", "kind", "recipient", "channel", "status", "deadline")))
    return 0


def cmd_token(settings: Settings, args: argparse.Namespace) -> int:
    """Make a token (printed as before; also kept in Redis, revocable, when
    NOTIFIER_REDIS_URL is set), or list or revoke the tokens (issue 17)."""
    from notifier.api.auth import Principal, Role, hash_token, new_token

    if args.action is None:
        if not (args.role and args.name):
            raise InputError.single("--role/--name", "both are needed to make a token")
        token, entry = new_token(Role(args.role), args.name)
        print(f"token (give it to {args.name}; it is shown only this once): {token}")
        print(f"settings entry (add it to NOTIFIER_API_TOKENS, comma-separated): {entry}")
        if not settings.embedded:
            stored = _tokens(settings).add(hash_token(token), Principal(Role(args.role),
                                           args.name), args.days or settings.token_days)
            print(f"stored in Redis (revoke with `notifier token revoke {args.name}`); "
                  f"expires {stored.as_json(stored.created)['expires']}")
        return 0
    tokens = _tokens(settings)
    if args.action == "list":
        for row in tokens.listing():
            state = "revoked" if row["revoked"] else "expired" if row["expired"] else "valid"
            print(f"{row['name']}\t{row['role']}\t{row['source']}\t"
                  f"expires {row['expires'] or 'never'}\t{state}")
        return 0
    if not args.target:
        raise InputError.single("NAME", "whose tokens to revoke")
    count = tokens.revoke(args.target)
    if not count:
        raise InputError.single("NAME", f"no valid token is named {args.target!r}")
    print(f"revoked {count} token(s) of {args.target}; their sessions end at once")
    return 0


def _tokens(settings: Settings) -> Tokens:
    from notifier.api.auth import parse_tokens
    from notifier.api.security import Tokens
    from notifier.clock import SystemClock
    from notifier.runtime import redis_client

    if settings.embedded:
        raise ConfigError("NOTIFIER_REDIS_URL is not set: stored tokens live in Redis")
    return Tokens(parse_tokens(settings.api_tokens.get_secret_value()),
                  redis_client(settings), SystemClock())


def _read_file(path: Path, name: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError.single(name, f"cannot read {path}: {exc.strerror}") from None


def _json(text: str, name: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError.single(name, f"not valid JSON: {exc.msg} at column {exc.colno}"
                                ) from None
    except RecursionError:
        raise InputError.single(name, "not valid JSON: nested too deeply") from None
