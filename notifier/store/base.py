"""Every Store part shares: the client, its scripts, key names, the optimistic write and the
audit and callback appends.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

import redis

from notifier.models import Status
from notifier.store.keys import (
    CALLBACK,
    CALLBACKS_DUE,
    LETTER,
    MAX_APPLY_RETRIES,
    P,
    audit_entry,
    epoch,
    lua_script,
    outbox_script,
)
from notifier.store.replication import Durability


class StoreBase:
    def __init__(self, client: redis.Redis, durability: Durability | None = None, *,
                 callbacks: bool = False) -> None:
        # redis-py types replies as bytes | str (it depends on decode_responses); we never
        # decode responses, so the client is used untyped and replies are bytes.
        self.redis: Any = client
        self.durability = durability or Durability()
        self._claim = self.redis.register_script(lua_script("claim.lua"))
        self._reap = self.redis.register_script(lua_script("reap.lua"))
        self._begin = self.redis.register_script(outbox_script("begin_send.lua"))
        self._transition = self.redis.register_script(outbox_script("transition.lua"))
        # Issue 13: with a callback URL, every reported status change writes its callback
        # item in the same atomic step (the prefix '' tells the scripts not to).
        self.callbacks = callbacks
        self._callback_prefix = CALLBACK if callbacks else ""
        self._outbox = self.redis.register_script(outbox_script("outbox_add.lua"))

    # --- keys ---------------------------------------------------------------------------
    @staticmethod
    def case_key(case_id: str) -> str:
        return f"{P}case:{case_id}"

    @staticmethod
    def case_letters_key(case_id: str) -> str:
        return f"{P}case:{case_id}:letters"

    @staticmethod
    def audit_key(case_id: str) -> str:
        return f"{P}audit:{case_id}"

    def confirm_events(self, event_ids: Iterable[str]) -> None:
        """Raise NotReplicated unless these events are on enough replicas (replication.py)."""
        self.durability.confirm(self.redis, [f"{P}event:{i}" for i in event_ids])

    def confirm_status(self, letter_id: str, status: Status) -> None:
        """Raise NotReplicated unless the letter's ``status`` is on enough replicas."""
        self.confirm_letter(letter_id, "status", status.value)

    def confirm_letter(self, letter_id: str, field: str | None = None,
                       value: str | None = None) -> None:
        """Raise NotReplicated unless the letter (with ``field`` = ``value``) is on enough
        replicas."""
        self.durability.confirm(self.redis, [LETTER + letter_id], field, value)

    def add_callback(self, pipe: Any, letter_id: str, kind: str, now: datetime,
                     detail: Mapping[str, str]) -> None:
        """Issue 13: queue a callback item on ``pipe`` (inside its MULTI), when callbacks
        are on; it is written at EXEC with the status change it reports."""
        if self.callbacks:
            self._outbox(keys=[LETTER + letter_id, CALLBACKS_DUE],
                         args=[CALLBACK, letter_id, kind, now.isoformat(), epoch(now),
                               json.dumps(dict(detail), ensure_ascii=False)], client=pipe)

    def _write_once(self, key: str, done: Callable[[Any], bool],
                    write: Callable[[Any], None], *also: str) -> bool:
        """WATCH ``key`` (and ``also``); unless ``done`` (read on the watching pipe) says it
        is already so, ``write`` in one MULTI/EXEC. True if written; retried if a watched
        key changed meanwhile."""
        pipe: Any
        with self.redis.pipeline() as pipe:
            for _ in range(MAX_APPLY_RETRIES):
                try:
                    pipe.watch(key, *also)
                    if done(pipe):
                        pipe.unwatch()
                        return False
                    pipe.multi()
                    write(pipe)
                    pipe.execute()
                    return True
                except redis.WatchError:
                    continue
        raise redis.WatchError(f"{key}: kept changing; try again")

    def add_audit(self, case_id: str, now: datetime, what: str, **detail: Any) -> None:
        self.redis.rpush(self.audit_key(case_id), audit_entry(now, what, **detail))
