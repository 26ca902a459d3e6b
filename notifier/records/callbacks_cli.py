"""``notifier callbacks status`` and ``notifier callbacks replay`` (issue 13)."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any

from notifier.errors import ConfigError, InputError
from notifier.settings import Settings


def register(sub: Any) -> None:
    callbacks = sub.add_parser("callbacks", help="signed status callbacks to the case system")
    callbacks_sub = callbacks.add_subparsers(dest="callbacks_command", required=True)
    status = callbacks_sub.add_parser("status", help="pending and dead callbacks")
    status.add_argument("--json", action="store_true", help="one JSON object")
    status.set_defaults(func=cmd_status)
    replay = callbacks_sub.add_parser(
        "replay", help="send a letter's, a case's or a time range's callbacks again "
                       "(same webhook-id: the receiver de-duplicates)")
    which = replay.add_mutually_exclusive_group()
    which.add_argument("--letter", metavar="ID", help="one letter's callbacks")
    which.add_argument("--case", metavar="ID", help="every callback of a case's letters")
    replay.add_argument("--since", metavar="TIME", help="status changes at or after this "
                        "ISO 8601 time (with an offset)")
    replay.add_argument("--until", metavar="TIME", help="... and before this one")
    replay.set_defaults(func=cmd_replay)


def _outbox(settings: Settings) -> tuple[Any, Any]:
    from notifier.api.commands import stored_runtime
    from notifier.records.callbacks import CallbackOutbox

    if settings.callback_url is None and settings.file_drop_dir is None:
        raise ConfigError("NOTIFIER_CALLBACK_URL (or NOTIFIER_FILE_DROP_DIR) is not set: no "
                          "callbacks are written")
    runtime = stored_runtime(settings)
    return runtime, CallbackOutbox(runtime.store)


def cmd_status(settings: Settings, args: argparse.Namespace) -> int:
    _, outbox = _outbox(settings)
    counts = outbox.counts()
    dead = [{k: item.get(k) for k in ("item_id", "type", "letter_id", "at", "dead_at",
                                       "last_error", "attempts")}
            for item in outbox.dead_items()]
    if args.json:
        print(json.dumps({**counts, "dead_items": dead}, ensure_ascii=False))
        return 0
    print(f"pending {counts['pending']}  dead {counts['dead']}")
    for item in dead:
        print(f"dead  {item['item_id']}  {item['type']}  since {item['dead_at']}  "
              f"{item['last_error']}")
    return 0


def cmd_replay(settings: Settings, args: argparse.Namespace) -> int:
    runtime, outbox = _outbox(settings)
    since, until = _instant(args.since, "--since"), _instant(args.until, "--until")
    if not (args.letter or args.case or since or until):
        raise InputError.single("replay", "name --letter, --case or a time range")
    if args.letter:
        letter_ids = [args.letter]
    elif args.case:
        letter_ids = sorted(runtime.store.case_letters(args.case))
    else:
        letter_ids = outbox.letters_with_items()
    item_ids = [i for letter_id in letter_ids for i in outbox.letter_items(letter_id)]
    if since or until:
        item_ids = [i for i in item_ids if _within(outbox.item(i), since, until)]
    count = outbox.replay(item_ids, runtime.clock.now())
    print(f"replayed {count} callback(s)")
    return 0


def _instant(text: str | None, name: str) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InputError.single(name, "must be an ISO 8601 time") from None
    if value.tzinfo is None:
        raise InputError.single(name, "must have an offset (e.g. +01:00 or Z)")
    return value


def _within(item: dict[str, str] | None, since: datetime | None, until: datetime | None
            ) -> bool:
    if item is None:
        return False
    at = datetime.fromisoformat(item["at"])
    return (since is None or at >= since) and (until is None or at < until)
