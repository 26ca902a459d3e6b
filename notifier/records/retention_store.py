"""What a case owns in Redis, its legal hold, and its atomic purge (issue 14a).

Keys a case owns (prefix ``notifier:``; see store/keys.py for their shapes):
  case:<id>, case:<id>:letters, audit:<id>           the case, its letter index, its trail
  letter:<lid>, doc:<lid>                             each letter and its sent document
  doc-pending:<lid>                                   the document handed over (issue 13)
  callback:<lid>.<seq>                                each callback item (issue 13)
  event:<event id>                                    each applied event (idempotency key);
                                                      found from the trail's event_applied
                                                      entries and the letters' causes, and
                                                      deleted only if its payload names
                                                      the case
  access:case:<id>                                    the case's access log (issue 14b)
and memberships: its letter ids in ``due``/``inflight``, its callback items in
``callbacks:dead`` (an item still in ``callbacks:due`` blocks the purge).

Keys retention adds (additive: older versions ignore them, so no layout version bump):
  retention:hold:<id>   hash, a legal hold on the case (by, reason, at): never purged
  retention:purged      hash, case id -> JSON {"on", "folder"}: the case was archived and
                        purged (so an old opening event cannot bring it back, and the API
                        can say where it went); about 80 bytes a case
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from typing import Any

import redis

from notifier.errors import ConflictError
from notifier.models import CaseState, Status
from notifier.store import (
    CALLBACK,
    CALLBACKS_DEAD,
    CALLBACKS_DUE,
    DUE,
    INFLIGHT,
    LETTER,
    PURGED,
    STATS,
    P,
    Store,
)
from notifier.store.keys import DOC_PENDING as PENDING
from notifier.store.keys import audit_entry, lua_script

HOLD = P + "retention:hold:"
ACCESS_CASE = P + "access:case:"  # issue 14b's contract: a list per case
EVENT = P + "event:"
DOC = P + "doc:"
CASES = P + "case:*"
ARCHIVED_STAT = "retention_archived"
PURGED_STAT = "retention_purged"
FINAL = frozenset(s.value for s in Status if s.final)


@dataclass
class CaseSnapshot:
    """Everything a case owns, read in one go; the purge re-checks it did not change."""

    case_id: str
    case_raw: str
    case: CaseState
    letters: dict[str, dict[str, str]]  # letter id -> its hash
    documents: dict[str, dict[str, str]]
    callbacks: dict[str, list[dict[str, str]]]  # letter id -> its callback items
    audit: list[str]
    events: dict[str, str]  # event id -> its stored payload
    access: list[str] | None
    hold: dict[str, str] | None
    callbacks_due: list[str] = field(default_factory=list)
    callbacks_dead: list[str] = field(default_factory=list)

    @property
    def item_ids(self) -> list[str]:
        return [f"{lid}.{n}" for lid, raw in sorted(self.letters.items())
                for n in range(1, int(raw.get("callbacks", "0")) + 1)]

    def owned_keys(self) -> list[str]:
        """Every key of the case but the four the purge script names itself."""
        keys: list[str] = []
        for lid in sorted(self.letters):
            keys += [LETTER + lid, DOC + lid, PENDING + lid]
        keys += [CALLBACK + item for item in self.item_ids]
        keys += [EVENT + event_id for event_id in sorted(self.events)]
        return keys


def case_ids(client: Any) -> Iterator[str]:
    """Every case in Redis (a SCAN: retention holds Redis to open and recent cases)."""
    prefix = P + "case:"
    for key in client.scan_iter(match=CASES, count=1000):
        name = key.decode().removeprefix(prefix)
        if not name.endswith(":letters"):
            yield name


def read_case(store: Store, case_id: str) -> CaseSnapshot | None:
    """The case and everything it owns; None if the case is not (or no longer) in Redis."""
    client = store.redis
    raw = client.get(store.case_key(case_id))
    if raw is None:
        return None
    ids = sorted(m.decode() for m in client.zrange(store.case_letters_key(case_id), 0, -1))
    with client.pipeline(transaction=False) as pipe:
        for lid in ids:
            pipe.hgetall(LETTER + lid)
            pipe.hgetall(DOC + lid)
        replies = pipe.execute()
    letters = {lid: _text_map(replies[2 * i]) for i, lid in enumerate(ids) if replies[2 * i]}
    documents = {lid: _text_map(replies[2 * i + 1]) for i, lid in enumerate(ids)
                 if replies[2 * i + 1]}
    audit = [a.decode() for a in client.lrange(store.audit_key(case_id), 0, -1)]
    access_key = ACCESS_CASE + case_id
    access = ([a.decode() for a in client.lrange(access_key, 0, -1)]
              if client.exists(access_key) else None)
    hold = client.hgetall(HOLD + case_id)
    snapshot = CaseSnapshot(case_id, raw.decode(), CaseState.model_validate_json(raw), letters,
                            documents, {}, audit, _events(client, case_id, audit, letters),
                            access, _text_map(hold) if hold else None)
    for item in snapshot.item_ids:
        found = client.hgetall(CALLBACK + item)
        if found:
            lid = item.rpartition(".")[0]
            snapshot.callbacks.setdefault(lid, []).append({"item_id": item,
                                                           **_text_map(found)})
        if client.zscore(CALLBACKS_DUE, item) is not None:
            snapshot.callbacks_due.append(item)
        if client.zscore(CALLBACKS_DEAD, item) is not None:
            snapshot.callbacks_dead.append(item)
    return snapshot


def _events(client: Any, case_id: str, audit: list[str],
            letters: dict[str, dict[str, str]]) -> dict[str, str]:
    """The case's applied events: ids from the trail and the letters' causes, kept only if
    the stored payload names this case (a cause may be a person or a receipt instead)."""
    wanted: list[str] = []
    for line in audit:
        entry = json.loads(line)
        if entry.get("what") == "event_applied" and entry.get("event_id"):
            wanted.append(str(entry["event_id"]))
    wanted += [raw["cause"] for raw in letters.values() if raw.get("cause")]
    found: dict[str, str] = {}
    for event_id in dict.fromkeys(wanted):
        payload = client.get(EVENT + event_id)
        if payload is not None and json.loads(payload).get("case_id") == case_id:
            found[event_id] = payload.decode()
    return found


def _text_map(raw: dict[bytes, bytes]) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in raw.items()}


# --- legal hold ---------------------------------------------------------------------------
def set_hold(store: Store, case_id: str, now: datetime, *, by: str, reason: str) -> bool:
    """Put a legal hold on a case, with an audit entry naming who; False if already held.
    ConflictError if the case is gone (purged meanwhile): nothing is written."""
    return _hold(store, case_id, "set", audit_entry(now, "legal_hold", by=by, reason=reason),
                 by, reason, now.isoformat())


def release_hold(store: Store, case_id: str, now: datetime, *, by: str, reason: str) -> bool:
    """Lift a case's legal hold, with an audit entry naming who; False if none was held."""
    return _hold(store, case_id, "lift",
                 audit_entry(now, "legal_hold_released", by=by, reason=reason))


def _hold(store: Store, case_id: str, action: str, entry: str, *args: str) -> bool:
    script = store.redis.register_script(lua_script("legal_hold.lua"))
    changed = script(keys=[store.case_key(case_id), HOLD + case_id, store.audit_key(case_id)],
                     args=[action, entry, *args])
    if changed == b"missing":
        raise ConflictError.single("case_id", "the case is no longer in Redis (purged "
                                   "meanwhile); nothing was changed")
    return bool(changed)


def hold_of(store: Store, case_id: str) -> dict[str, str] | None:
    raw = store.redis.hgetall(HOLD + case_id)
    return _text_map(raw) if raw else None


def purged_record(client: Any, case_id: str) -> dict[str, str] | None:
    """Where a purged case went ({"on", "folder"}), or None if it was never purged."""
    raw = client.hget(PURGED, case_id)
    return dict(json.loads(raw)) if raw else None


# --- purging ------------------------------------------------------------------------------
class Purger:
    """The atomic purge of one case (``lua/purge_case.lua``)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        script = resources.files("notifier").joinpath("lua", "purge_case.lua")
        self._purge = store.redis.register_script(script.read_text(encoding="utf-8"))

    def purge(self, snapshot: CaseSnapshot, tombstone: dict[str, str]) -> str:
        """Delete every key the case owns, in one step, if nothing changed since
        ``snapshot`` and it is still purgeable: 'ok', or why not (nothing deleted)."""
        store, case_id = self.store, snapshot.case_id
        per_letter: list[str] = []
        for lid, raw in sorted(snapshot.letters.items()):
            per_letter += [lid, raw.get("status", ""), raw.get("callbacks", "0"),
                           raw.get("receipt_status", ""), str(len(raw))]
        keys = [store.case_key(case_id), store.case_letters_key(case_id),
                store.audit_key(case_id), HOLD + case_id, DUE, INFLIGHT, CALLBACKS_DUE,
                CALLBACKS_DEAD, STATS, PURGED, ACCESS_CASE + case_id, *snapshot.owned_keys()]
        args = [snapshot.case_raw, len(snapshot.audit),
                -1 if snapshot.access is None else len(snapshot.access), case_id,
                json.dumps(tombstone, separators=(",", ":")), LETTER, CALLBACK,
                len(snapshot.letters), ",".join(sorted(FINAL)), PURGED_STAT, *per_letter]
        try:
            result = self._purge(keys=keys, args=args)
        except redis.ResponseError as exc:  # pragma: no cover - a script bug, not data
            return f"purge script failed: {exc}"
        return str(result.decode() if isinstance(result, bytes) else result)

    def count_archived(self) -> None:
        self.store.redis.hincrby(STATS, ARCHIVED_STAT, 1)


def purged_conflicts(client: Any, case_ids: list[str]) -> dict[str, str]:
    """Of these case ids, those archived and purged, with when: an event for one (an old
    opening event sent again) must not bring the case back as a new one."""
    if not case_ids:
        return {}
    found = client.hmget(PURGED, case_ids)
    return {case_id: json.loads(raw)["on"] for case_id, raw in zip(case_ids, found, strict=True)
            if raw is not None}
