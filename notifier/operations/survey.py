"""What an operator sees and may do (issue 13): the state of the system in one view, for
the operations page under /ui and ``GET /operations``, and the two actions, each with an
audit entry naming who did it:

- retrying a dead letter under its own id (``lua/retry_dead.lua``: dead -> scheduled, due
  now, in one atomic step; a repeated request finds it no longer dead and changes
  nothing);
- replaying callback items (sent again under their own webhook-id).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

from notifier.api.errors import NotFoundError
from notifier.errors import ConflictError
from notifier.logging import get_logger, redact_text
from notifier.operations.certificate import certificate_expiry
from notifier.operations.sweeper import (
    MAX_SPACING_SECONDS,
    REPAIRS,
    Survey,
    last_report,
    noted_survey,
    read_again,
    survey,
)
from notifier.records.callbacks import CallbackOutbox
from notifier.store import DUE, LETTER, STATS, Store

log = get_logger(__name__)
LIST_LIMIT = 200  # rows per section; the counts are complete
# A survey costs about 10 s of Redis time per million letters (bench/survey.py). Up to
# this long, each view takes its own; beyond, it shows the last sweep's, read again.
LIVE_SURVEY_SECONDS = 2.0
# A kept survey older than this (the sweeper stopped?) is not shown: the view surveys.
KEPT_SURVEY_MAX_AGE = timedelta(seconds=2 * MAX_SPACING_SECONDS)
# A kept survey that found more letters than this is read by a survey of its own.
KEPT_SURVEY_MAX_IDS = 50_000


def operations_view(runtime: Any, *, live: bool = False) -> dict[str, Any]:
    """Everything the operations page shows, as JSON-ready data (times ISO, UTC)."""
    store: Store = runtime.store
    settings = runtime.settings
    now = runtime.clock.now()
    found = _survey(store, now, live)
    overdue_before = now - timedelta(seconds=settings.overdue_seconds)
    overdue = [{"letter_id": i.decode(), "due_at": _iso_epoch(score)}
               for i, score in store.redis.zrangebyscore(
                   DUE, "-inf", overdue_before.timestamp(), start=0, num=LIST_LIMIT,
                   withscores=True)]
    overdue_count = int(store.redis.zcount(DUE, "-inf", overdue_before.timestamp()))
    heartbeat = store.last_heartbeat()
    outbox = CallbackOutbox(store)
    counts = outbox.counts()
    expiry = certificate_expiry(runtime.channels, now, settings.certificate_warn_days)
    return {
        "at": now.isoformat(),
        "dead": [_row(r) for r in found.dead[:LIST_LIMIT]],
        "dead_count": len(found.dead),
        "uncertain": [_row(r) for r in found.uncertain[:LIST_LIMIT]],
        "held": [_row(r) for r in found.held[:LIST_LIMIT]],
        "overdue": overdue, "overdue_count": overdue_count,
        "overdue_seconds": settings.overdue_seconds,
        "stranded": [_row(r) for r in [*found.stranded_due, *found.stranded_lease]],
        "callbacks": {"enabled": store.callbacks, **counts,
                      "dead_items": [_item(x) for x in outbox.dead_items(LIST_LIMIT)],
                      "stranded": found.stranded_callbacks[:LIST_LIMIT]},
        "dispatcher_heartbeat_age_seconds": (
            round(max((now - heartbeat).total_seconds(), 0.0), 1) if heartbeat else None),
        "queue_depth": store.queue_depth(),
        "due": store.due_count(),
        "inflight": store.inflight_count(),
        "certificate": expiry.as_json() if expiry else None,
        "last_sweep": last_report(store),
        "letters_scanned": found.letters_scanned,
        "survey": {"at": found.at.isoformat(), "by": found.by,
                   "seconds": round(found.seconds, 3)},
        "uncertain_count": len(found.uncertain), "held_count": len(found.held),
    }


def _survey(store: Store, now: datetime, live: bool) -> Survey:
    """This view's own survey of every letter, unless ``live`` is not asked for and the
    last sweep's survey is worth showing instead: it took over LIVE_SURVEY_SECONDS (many
    letters), is recent, and its letters are few enough to read again now."""
    kept = None if live else noted_survey(store)
    if (kept is not None and kept.seconds > LIVE_SURVEY_SECONDS
            and now - kept.at <= KEPT_SURVEY_MAX_AGE
            and len(kept.noted_ids) <= KEPT_SURVEY_MAX_IDS):
        return read_again(store, kept)
    return survey(store, now)


def retry_dead_letter(runtime: Any, letter_id: str, *, by: str) -> bool:
    """Requeue a dead letter under its own id; True if this call did it, False if it was
    already retried (no longer dead, but scheduled or further on). ConflictError for a
    letter that was never dead."""
    store: Store = runtime.store
    letter = store.letter(letter_id)
    if letter is None:
        raise NotFoundError.single("letter_id", "unknown letter")
    now = runtime.clock.now()
    entry = json.dumps({"at": now.isoformat(), "what": "retried", "letter_id": letter_id,
                        "kind": letter.kind, "by": by,
                        "dead_because": redact_text(letter.reason or "")[:300]},
                       ensure_ascii=False)
    script = store.redis.register_script(_script("retry_dead.lua"))
    result = script(keys=[LETTER + letter_id, DUE, store.audit_key(letter.case_id), STATS],
                    args=[letter_id, now.timestamp(), entry, by]).decode()
    if result == "ok":
        store.confirm_letter(letter_id, "status", "scheduled")  # issue 15: on the replicas
        log.warning("ops.letter_retried", letter_id=letter_id, case_id=letter.case_id, by=by)
        return True
    if store.redis.hexists(LETTER + letter_id, "retried_by"):
        return False  # retried already (this request repeated, or by someone else)
    raise ConflictError.single("status", f"the letter is {result}; only a dead letter can be "
                               "retried")


def replay_callbacks(runtime: Any, item_ids: list[str], *, by: str) -> int:
    """Send these callback items again; an audit entry per item in its letter's case."""
    store: Store = runtime.store
    now = runtime.clock.now()
    outbox = CallbackOutbox(store)
    count = outbox.replay(item_ids, now)
    for item_id in item_ids:
        letter = store.letter(item_id.rpartition(".")[0])
        if letter is not None:
            store.add_audit(letter.case_id, now, "callback_replayed", letter_id=letter.letter_id,
                            callback=item_id, by=by)
    log.warning("ops.callbacks_replayed", count=count, by=by)
    return count


def dead_callback_ids(store: Store) -> list[str]:
    return [x["item_id"] for x in CallbackOutbox(store).dead_items(10_000)]


def repairs_total(store: Store) -> dict[str, float]:
    stats = store.stats()
    return {what: stats.get(f"swept|{what}", 0.0) for what in REPAIRS}


def _row(row: dict[str, Any]) -> dict[str, Any]:
    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {"letter_id": row["letter_id"], "case_id": row["case_id"], "kind": row["kind"],
            "status": row["status"], "channel": row["channel"],
            "recipient": row["recipient"], "send_at": iso(row["send_at"]),
            "due_at": iso(row["due_at"]), "attempts": int(row["attempts"] or 0),
            "reason": redact_text(row["reason"] or "") or None,
            "last_error": redact_text(row["last_error"] or "") or None,
            "handed_over": row["handed_over"]}


def _item(item: dict[str, str]) -> dict[str, Any]:
    return {"item_id": item["item_id"], "type": item.get("type"),
            "letter_id": item.get("letter_id"), "dead_at": item.get("dead_at"),
            "attempts": int(item.get("attempts", "0")),
            "last_error": redact_text(item.get("last_error", "")) or None}


def _iso_epoch(score: float) -> str:
    return datetime.fromtimestamp(float(score), UTC).isoformat()


def _script(name: str) -> str:
    return resources.files("notifier").joinpath("lua", name).read_text(encoding="utf-8")
