"""Signed status callbacks to the case system (issue 13), per Standard Webhooks.

Every reported status change of a citizen's or employer's letter (sent, delivered,
failed, cancelled, dead, held, released) writes an outbound item in the same atomic step
as the change (``store/``, ``lua/outbox.lua``), when ``NOTIFIER_CALLBACK_URL`` is set.
The dispatcher tick claims due items (``lua/callback_claim.lua``, leased like letters)
and enqueues their ids; a worker (``deliver_callback``) builds the payload from the item,
the letter and the stored document, signs it and POSTs it. A 2xx ends the item; anything
else is retried with exponential backoff until ``NOTIFIER_CALLBACK_DEAD_SECONDS`` after
the change, then the item is dead (logged as an error, counted in /metrics, listed by
``notifier callbacks status``) until an operator replays it.

``webhook-id`` is ``msg_<letter id>.<sequence>``: the same on every attempt and replay, so
the receiver can de-duplicate. The payload is ``{"type", "timestamp", "data"}``; ``data``
never holds a CPR number (the parties are named by role only). For ``letter.sent`` the
PDF is rebuilt from the stored HTML and must match the SHA-256 stored when it was sent
(the aktindsigt document), so the case system journalises exactly what went out.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import httpx
from standardwebhooks.webhooks import Webhook

from notifier.clock import Clock
from notifier.delivery.pdf import PdfRenderer, sha256
from notifier.errors import ConflictError
from notifier.logging import get_logger, redact_text
from notifier.models import Letter, parse_send_at
from notifier.planning.catalog import Catalog
from notifier.records.file_drop import FileDrop
from notifier.settings import Settings
from notifier.store import CALLBACK, CALLBACKS_DEAD, CALLBACKS_DUE, LETTER, STATS, Store

log = get_logger(__name__)

# Item detail fields passed on in ``data`` (the rest, e.g. internal counters, stay home).
DETAIL_FIELDS = ("sent_at", "deadline", "receipt", "cancelled_by", "reason", "released_by",
                 "receipt_status", "receipt_at", "receipt_reason", "receipt_platform_status")


@dataclass(frozen=True)
class Outcome:
    item_id: str
    result: str  # delivered | retry | dead | skipped
    status_code: int | None = None


def webhook_id(item_id: str) -> str:
    return f"msg_{item_id}"


class CallbackOutbox:
    """The outbox in Redis: claiming, recording attempts, counting and replaying items."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.redis: Any = store.redis
        script = resources.files("notifier").joinpath("lua", "callback_claim.lua")
        self._claim = self.redis.register_script(script.read_text(encoding="utf-8"))

    def claim(self, now: datetime, lease_until: datetime, limit: int) -> list[str]:
        ids = self._claim(keys=[CALLBACKS_DUE],
                          args=[now.timestamp(), lease_until.timestamp(), limit])
        return [i.decode() for i in ids]

    def item(self, item_id: str) -> dict[str, str] | None:
        raw = self.redis.hgetall(CALLBACK + item_id)
        return {k.decode(): v.decode() for k, v in raw.items()} if raw else None

    def pending(self, item_id: str) -> bool:
        return self.redis.zscore(CALLBACKS_DUE, item_id) is not None

    def delivered(self, item_id: str, now: datetime) -> None:
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.zrem(CALLBACKS_DUE, item_id)
            pipe.hset(CALLBACK + item_id, mapping={"delivered_at": now.isoformat()})
            pipe.hincrby(CALLBACK + item_id, "attempts", 1)
            pipe.hincrby(STATS, "callbacks_delivered", 1)
            pipe.execute()

    def retry(self, item_id: str, at: datetime, error: str) -> None:
        """Due again ``at``; XX: an item another sender delivered meanwhile stays done."""
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(CALLBACKS_DUE, {item_id: at.timestamp()}, xx=True)
            pipe.hset(CALLBACK + item_id, "last_error", error[:300])
            pipe.hincrby(CALLBACK + item_id, "attempts", 1)
            pipe.execute()

    def dead(self, item_id: str, now: datetime, error: str) -> bool:
        """Give up on an item; False if it was no longer pending (delivered meanwhile)."""
        with self.redis.pipeline(transaction=True) as pipe:
            pipe.zrem(CALLBACKS_DUE, item_id)
            pipe.zadd(CALLBACKS_DEAD, {item_id: now.timestamp()})
            pipe.hset(CALLBACK + item_id, mapping={"last_error": error[:300],
                                                   "dead_at": now.isoformat()})
            pipe.hincrby(STATS, "callbacks_dead", 1)
            removed, *_ = pipe.execute()
        if not removed:
            self.redis.zrem(CALLBACKS_DEAD, item_id)
        return bool(removed)

    def counts(self) -> dict[str, int]:
        return {"pending": int(self.redis.zcard(CALLBACKS_DUE)),
                "dead": int(self.redis.zcard(CALLBACKS_DEAD))}

    def dead_items(self, limit: int = 100) -> list[dict[str, str]]:
        ids = [i.decode() for i in self.redis.zrange(CALLBACKS_DEAD, 0, limit - 1)]
        return [{"item_id": i, **(self.item(i) or {})} for i in ids]

    def letters_with_items(self) -> list[str]:
        """Every letter that has callback items (a scan: for operators' replays only)."""
        found = {key.decode().removeprefix(CALLBACK).rpartition(".")[0]
                 for key in self.redis.scan_iter(match=CALLBACK + "*", count=1000)}
        return sorted(found)

    def letter_items(self, letter_id: str) -> list[str]:
        count = int(self.redis.hget(LETTER + letter_id, "callbacks") or 0)
        return [f"{letter_id}.{seq}" for seq in range(1, count + 1)]

    def replay(self, item_ids: list[str], now: datetime) -> int:
        """Send these items again (delivered or dead alike), under their own webhook-id;
        the time to give up counts from now. Returns how many items exist."""
        replayed = 0
        for item_id in item_ids:
            if not self.redis.exists(CALLBACK + item_id):
                continue
            with self.redis.pipeline(transaction=True) as pipe:
                pipe.zrem(CALLBACKS_DEAD, item_id)
                pipe.hdel(CALLBACK + item_id, "delivered_at", "dead_at", "dropped")
                pipe.hset(CALLBACK + item_id, "created", repr(now.timestamp()))
                pipe.zadd(CALLBACKS_DUE, {item_id: now.timestamp()})
                pipe.execute()
            replayed += 1
        return replayed


class CallbackSender:
    """Builds, signs and POSTs one callback item; records the outcome."""

    def __init__(self, store: Store, catalog: Catalog, pdf: PdfRenderer, clock: Clock,
                 settings: Settings, client: httpx.Client | None = None, *,
                 stamp: Clock | None = None) -> None:
        if settings.callback_url is None and settings.file_drop_dir is None:
            raise ValueError("CallbackSender needs NOTIFIER_CALLBACK_URL or _FILE_DROP_DIR")
        self.store = store
        self.outbox = CallbackOutbox(store)
        self.catalog = catalog
        self.pdf = pdf
        self.clock = clock
        # webhook-timestamp is checked against the receiver's wall clock (5 minutes): the
        # demo's simulated clock schedules the retries, but the stamp is the real time.
        self.stamp = stamp or clock
        self.settings = settings
        self.url = settings.callback_url
        # The first secret signs; the others are kept for verify() during a rotation.
        self.signer = Webhook(settings.callback_secret_list[0]) if self.url else None
        # Issue 13: sent letters' documents into a watched folder as well (or instead).
        self.drop = FileDrop(settings.file_drop_dir) if settings.file_drop_dir else None
        self.client = client or httpx.Client(timeout=settings.callback_timeout,
                                             follow_redirects=False)

    def close(self) -> None:
        self.client.close()

    def send(self, item_id: str) -> Outcome:
        bound = log.bind(callback=item_id)
        item = self.outbox.item(item_id)
        if item is None or not self.outbox.pending(item_id):
            return Outcome(item_id, "skipped")  # delivered, dead or replayed meanwhile
        now = self.clock.now()
        try:
            payload = self.payload(item)
        except ConflictError as exc:
            return self._dead(item_id, now, f"cannot build the callback: {exc}", bound)
        if self.drop is not None and item["type"] == "letter.sent" and not item.get("dropped"):
            if not payload["data"].get("document"):
                return self._dead(item_id, now, "file drop: no document was stored", bound)
            try:
                self.drop.write(payload["data"])
            except OSError as exc:
                return self._failed(item, now, f"file drop: {exc}", None, bound)
            self.outbox.redis.hset(CALLBACK + item_id, "dropped", now.isoformat())
        if self.url is None or self.signer is None:  # the file drop alone
            self.outbox.delivered(item_id, now)
            return Outcome(item_id, "delivered")
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        headers = self.sign(webhook_id(item_id), self.stamp.now(), body)
        try:
            response = self.client.post(self.url, content=body.encode(), headers=headers)
        except httpx.HTTPError as exc:
            return self._failed(item, now, f"{type(exc).__name__}: {exc}", None, bound)
        if 200 <= response.status_code < 300:
            self.outbox.delivered(item_id, now)
            bound.info("callback.delivered", type=item["type"], status=response.status_code)
            return Outcome(item_id, "delivered", response.status_code)
        return self._failed(item, now, f"HTTP {response.status_code}",
                            response.status_code, bound, _retry_after(response))

    def sign(self, msg_id: str, now: datetime, body: str) -> dict[str, str]:
        assert self.signer is not None
        return {"webhook-id": msg_id, "webhook-timestamp": str(int(now.timestamp())),
                "webhook-signature": self.signer.sign(msg_id, now.astimezone(UTC), body),
                "content-type": "application/json", "user-agent": "notifier-callbacks"}

    def _failed(self, item: dict[str, str], now: datetime, error: str, code: int | None,
                log: Any, retry_after: float | None = None) -> Outcome:
        item_id = f"{item['letter_id']}.{item['seq']}"
        created = datetime.fromtimestamp(float(item["created"]), UTC)
        attempts = int(item.get("attempts", "0")) + 1
        longest = self.settings.callback_retry_max_seconds
        delay = min(self.settings.callback_retry_base_seconds * 2 ** min(attempts - 1, 30),
                    longest)
        delay = max(delay, min(retry_after or 0, longest))
        if (now - created).total_seconds() + delay > self.settings.callback_dead_seconds:
            return self._dead(item_id, now, f"gave up: {error}", log)
        self.outbox.retry(item_id, now + timedelta(seconds=delay), error)
        log.warning("callback.retry", error=error[:200], retry_in_seconds=delay)
        return Outcome(item_id, "retry", code)

    def _dead(self, item_id: str, now: datetime, error: str, log: Any) -> Outcome:
        if self.outbox.dead(item_id, now, error):
            # The operator's alert: an error line, notifier_callbacks_dead in /metrics and
            # `notifier callbacks status`; `notifier callbacks replay` sends it again.
            log.error("callback.dead", error=error[:300])
        return Outcome(item_id, "dead")

    # --- the payload ------------------------------------------------------------------
    def payload(self, item: dict[str, str]) -> dict[str, Any]:
        letter = self.store.letter(item["letter_id"])
        if letter is None:
            raise ConflictError.single("letter_id", "the letter no longer exists")
        detail: dict[str, Any] = json.loads(item.get("detail") or "{}")
        data: dict[str, Any] = {
            "letter_id": letter.letter_id, "case_id": letter.case_id, "kind": letter.kind,
            "sequence": int(item["seq"]), "title": self._title(letter),
            "channel": letter.channel.value, "recipient": letter.recipient.value,
            "cause": letter.cause,
        }
        for name in DETAIL_FIELDS:
            if detail.get(name):
                data[name] = redact_text(str(detail[name]))
        if "send_at" in detail:  # released: when it will go
            data["send_at"] = parse_send_at(detail["send_at"]).isoformat()
        if item["type"] == "letter.sent":
            data["document"] = self.document(letter)
        return {"type": item["type"], "timestamp": item["at"], "data": data}

    def document(self, letter: Letter) -> dict[str, Any] | None:
        """The document exactly as sent: the PDF (base64) and its stored SHA-256. None if
        no document was stored (since issue 13's second part, a letter settled from
        ``uncertain`` by its receipt has the one handed over: ``pending_document.py``)."""
        from notifier.api.letters import document_pdf

        stored = self.store.document(letter.letter_id)
        if stored is None:
            return None
        document: dict[str, Any] = {"title": stored["title"], "sent_at": stored["sent_at"],
                                    "channel": stored["channel"]}
        kept = stored.get("pdf_sha256")
        if kept:
            pdf = document_pdf(self.pdf, stored)  # ConflictError if it differs from `kept`
            document |= {"media_type": "application/pdf", "sha256": kept,
                         "pdf": base64.b64encode(pdf).decode("ascii")}
        else:  # sent without a PDF (NOTIFIER_DIGITAL_POST_PDF=false, or e-mail)
            html = stored["html"].encode()
            document |= {"media_type": "text/html", "sha256": sha256(html), "pdf": None,
                         "html": base64.b64encode(html).decode("ascii")}
        return document

    def _title(self, letter: Letter) -> str:
        kind = self.catalog.kinds.get(letter.kind)
        return kind.title if kind else letter.kind


def verify(secrets: tuple[str, ...], body: bytes, headers: dict[str, str]) -> Any:
    """For receivers written in Python (and the tests): the payload if any of ``secrets``
    verifies the signature (a rotation keeps the old one valid), else the reference
    implementation's WebhookVerificationError."""
    from standardwebhooks.webhooks import WebhookVerificationError

    error: WebhookVerificationError | None = None
    for secret in secrets:
        try:
            return Webhook(secret).verify(body, headers)
        except WebhookVerificationError as exc:
            error = exc
    raise error or WebhookVerificationError("no secret configured")


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    return float(value) if value.isdigit() else None
