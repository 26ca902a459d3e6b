"""The send path: claims, leases, the take, status transitions, documents and receipts."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from notifier.errors import ConflictError
from notifier.models import CaseState, ChannelName, Letter, Status
from notifier.store.keys import (
    CALLBACKS_DUE,
    DOC,
    DOC_PENDING,
    DUE,
    HEARTBEAT,
    INFLIGHT,
    LETTER,
    STATS,
    TICK_SECONDS,
    P,
    audit_entry,
    callback_type,
    decode_hash,
    epoch,
    transition_stats,
)
from notifier.store.reading import Reads


@dataclass(frozen=True)
class Take:
    """What a worker's take found: ``status`` and ``attempts`` as ``begin_send`` reports
    them; when the letter was taken, the letter and its case (None if it has none); when
    this take made it dead, the letter."""

    status: Status | None
    attempts: int
    letter: Letter | None = None
    case: CaseState | None = None


class Sending(Reads):
    # --- dispatching --------------------------------------------------------------------
    def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[str]:
        ids = self._claim(keys=[DUE, INFLIGHT],
                          args=[epoch(now), epoch(lease_until), limit, LETTER])
        return [i.decode() for i in ids]

    def reap_expired(self, now: datetime, lease_until: datetime, limit: int) -> list[str]:
        ids = self._reap(keys=[INFLIGHT], args=[epoch(now), epoch(lease_until), limit, LETTER])
        return [i.decode() for i in ids]

    def heartbeat(self, now: datetime) -> None:
        self.redis.set(HEARTBEAT, now.isoformat())

    def record_tick(self, seconds: float) -> None:
        """How long the dispatcher's last tick took, for /metrics in any process."""
        self.redis.set(TICK_SECONDS, repr(seconds))

    # --- delivering ---------------------------------------------------------------------
    def begin_send(self, letter_id: str, lease_until: datetime, max_attempts: int, *,
                   resend_at: datetime | None = None, now: datetime | None = None
                   ) -> tuple[Status | None, int]:
        """(status, attempts): taken if ``sending`` with attempts > 0; attempts 0 means the
        letter was not taken and ``status`` is what it is (possibly another worker's
        ``sending``). ``('uncertain', -1)``: this call found a taken-over letter whose
        request may have left, and made it wait for its receipt until ``resend_at``."""
        taken = self.take(letter_id, lease_until, max_attempts, resend_at=resend_at, now=now)
        return taken.status, taken.attempts

    def take(self, letter_id: str, lease_until: datetime, max_attempts: int, *,
             resend_at: datetime | None = None, now: datetime | None = None) -> Take:
        """``begin_send``, and on a take the letter and its case as they are now, read in
        the same atomic step (issue 16: one round trip where there were three)."""
        resend_at = resend_at or lease_until
        if now is None and self.callbacks:
            raise ValueError("begin_send: give 'now' when callbacks are on (issue 13)")
        reply = self._begin(
            keys=[LETTER + letter_id, INFLIGHT, STATS, DUE, CALLBACKS_DUE],
            args=[letter_id, epoch(lease_until), max_attempts, epoch(resend_at),
                  self._callback_prefix, now.isoformat() if now else "",
                  epoch(now) if now else "", f"{P}audit:",
                  audit_entry(now or datetime.fromtimestamp(0, UTC), Status.DEAD.value,
                         letter_id=letter_id, reason="too many attempts")[:-1]
                  + ', "kind": "', self.case_key("")])
        text = reply[0].decode()
        status = None if text == "missing" else Status(text)
        if len(reply) < 3:
            return Take(status, int(reply[1]))
        fields = reply[2]
        letter = Letter.from_hash(letter_id, decode_hash(dict(zip(fields[::2], fields[1::2],
                                                                  strict=True))))
        case = CaseState.model_validate_json(reply[3]) if len(reply) > 3 and reply[3] else None
        return Take(status, int(reply[1]), letter, case)

    def transition(
        self,
        letter: Letter,
        expected: Iterable[Status],
        new: Status,
        now: datetime,
        *,
        due: datetime | None = None,
        fields: Mapping[str, str] | None = None,
        audit: Mapping[str, Any] | None = None,
        document: Mapping[str, str] | None = None,
    ) -> bool:
        """Atomically ``expected`` -> ``new``; False if the letter was in another status.
        With ``document``, the document sent is stored in the same step (whatever the
        status, unless the letter is gone) and its pending copy dropped (issue 16)."""
        flat: list[str] = [x for pair in (fields or {}).items() for x in pair]
        sent: list[str] = [x for pair in (document or {}).items() for x in pair]
        entry = audit_entry(now, new.value, letter_id=letter.letter_id, kind=letter.kind,
                       **(audit or {}))
        stats, lag = transition_stats(letter, new, now)
        expected = tuple(expected)
        callback = callback_type(expected, new) if self.callbacks else None
        result = self._transition(
            keys=[LETTER + letter.letter_id, DUE, INFLIGHT, self.audit_key(letter.case_id),
                  STATS, CALLBACKS_DUE, DOC + letter.letter_id, DOC_PENDING + letter.letter_id],
            args=[letter.letter_id, "," + ",".join(s.value for s in expected) + ",", new.value,
                  "" if due is None else epoch(due), entry, " ".join(stats), lag,
                  callback or "", self._callback_prefix, now.isoformat(), epoch(now),
                  json.dumps(dict(fields or {}), ensure_ascii=False), len(flat) // 2, *flat,
                  *sent],
        )
        return bool(result == b"ok")

    def set_channel(self, letter: Letter, channel: ChannelName, now: datetime, *,
                    why: str) -> None:
        """Record that a letter goes by another channel than planned (issue 12)."""
        self.redis.hset(LETTER + letter.letter_id, "channel", channel.value)
        self.add_audit(letter.case_id, now, "channel_changed", letter_id=letter.letter_id,
                       kind=letter.kind, channel=channel.value, why=why)

    def mark_handed_over(self, letter_id: str, now: datetime) -> None:
        """Written just before a request for the letter leaves for SF1601 (issue 12): if its
        worker then dies, the letter may be on the platform and must not be resent at once.
        Raises NotReplicated (and the request must not leave) unless replicas hold it."""
        self.redis.hset(LETTER + letter_id, "handed_over", now.isoformat())
        # Issue 15: lost in a failover, the mark would let a retake resend at once.
        self.confirm_letter(letter_id, "handed_over", now.isoformat())

    def record_receipt(self, letter: Letter, fields: Mapping[str, str], now: datetime) -> bool:
        """Store a Digital Post business receipt on its letter, with an audit entry, once:
        False if the letter already holds exactly this receipt (a redelivered callback)."""
        key = LETTER + letter.letter_id
        before: list[str | None] = [None]  # the receipt status held when WATCHed

        def held(pipe: Any) -> bool:
            if not pipe.exists(key):  # purged meanwhile (retention): never bring it back
                raise ConflictError.single("message_uuid", "the letter was archived and "
                                           "purged; its receipt is not recorded")
            values = pipe.hmget(key, "receipt_status", *fields)
            before[0] = values[0].decode() if values[0] else None
            return [v.decode() if v else None for v in values[1:]] == list(fields.values())

        def write(pipe: Any) -> None:
            pipe.hset(key, mapping=dict(fields))
            pipe.rpush(self.audit_key(letter.case_id), audit_entry(
                now, "receipt", letter_id=letter.letter_id, **fields))
            # Issue 13: reported once per status (a repeated status at another time is not).
            status = fields.get("receipt_status")
            if status in ("delivered", "failed") and status != before[0]:
                self.add_callback(pipe, letter.letter_id, f"letter.{status}", now, fields)

        return self._write_once(key, held, write)
