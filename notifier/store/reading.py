"""Reading letters, cases, audit trails, documents and the counters behind /metrics."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from notifier.models import CaseState, Letter
from notifier.store.base import StoreBase
from notifier.store.keys import (
    DOC,
    DUE,
    HEARTBEAT,
    INFLIGHT,
    LETTER,
    QUEUE_MESSAGES,
    STATS,
    TICK_SECONDS,
    P,
    decode_hash,
)


class Reads(StoreBase):
    # --- reading ------------------------------------------------------------------------
    def letter(self, letter_id: str) -> Letter | None:
        raw = self.redis.hgetall(LETTER + letter_id)
        return Letter.from_hash(letter_id, decode_hash(raw)) if raw else None

    def case(self, case_id: str) -> CaseState | None:
        raw = self.redis.get(self.case_key(case_id))
        return CaseState.model_validate_json(raw) if raw else None

    def case_letters(self, case_id: str) -> dict[str, Letter]:
        ids = sorted(m.decode() for m in self.redis.zrange(self.case_letters_key(case_id), 0, -1))
        return self._letters(self.redis, ids)

    def letters(self, ids: Iterable[str]) -> dict[str, Letter]:
        """These letters (one pipelined read), by id; unknown ids are left out."""
        return self._letters(self.redis, ids)

    def _letters(self, client: Any, ids: Iterable[str]) -> dict[str, Letter]:
        pipe = client.pipeline(transaction=False) if client is self.redis else None
        ids = list(ids)
        if pipe is not None:
            for letter_id in ids:
                pipe.hgetall(LETTER + letter_id)
            raws = pipe.execute()
        else:
            raws = [client.hgetall(LETTER + letter_id) for letter_id in ids]
        return {i: Letter.from_hash(i, decode_hash(r)) for i, r in zip(ids, raws, strict=True) if r}

    def known_events(self, event_ids: Iterable[str]) -> set[str]:
        """Which of these event ids were applied already (re-submitting one is a no-op)."""
        ids = list(event_ids)
        with self.redis.pipeline(transaction=False) as pipe:
            for event_id in ids:
                pipe.exists(f"{P}event:{event_id}")
            found = pipe.execute()
        return {i for i, hit in zip(ids, found, strict=True) if hit}

    def audit(self, case_id: str) -> list[dict[str, Any]]:
        return [json.loads(item) for item in self.redis.lrange(self.audit_key(case_id), 0, -1)]

    def document(self, letter_id: str) -> dict[str, str] | None:
        raw = self.redis.hgetall(DOC + letter_id)
        return decode_hash(raw) if raw else None

    def next_due(self) -> datetime | None:
        first = self.redis.zrange(DUE, 0, 0, withscores=True)
        return datetime.fromtimestamp(float(first[0][1]), UTC) if first else None

    def inflight_count(self) -> int:
        return int(self.redis.zcard(INFLIGHT))

    def due_count(self) -> int:
        return int(self.redis.zcard(DUE))

    def queue_depth(self) -> int:
        """Messages in the Dramatiq queue not yet acknowledged by a worker."""
        return int(self.redis.hlen(QUEUE_MESSAGES))

    def stats(self) -> dict[str, float]:
        """The shared counters (see the module docstring), as numbers."""
        return {k.decode(): float(v) for k, v in self.redis.hgetall(STATS).items()}

    def last_tick_seconds(self) -> float | None:
        raw = self.redis.get(TICK_SECONDS)
        return float(raw) if raw else None

    def last_heartbeat(self) -> datetime | None:
        raw = self.redis.get(HEARTBEAT)
        return datetime.fromisoformat(raw.decode()) if raw else None
