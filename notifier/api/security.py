"""Tokens that can be revoked, server-side sessions, failed-login limits, client addresses
(issue 17).

- Tokens: ``NOTIFIER_API_TOKENS`` still admits its entries (bootstrap, embedded mode,
  scripts); tokens made while ``NOTIFIER_REDIS_URL`` is set are also kept in Redis, hash
  ``notifier:tokens`` (SHA-256 -> role, name, created, expires), so they can be listed and
  revoked without a restart. Revoking a name deletes its stored tokens and puts the
  digests of its settings entries in ``notifier:tokens:revoked``. Only hashes are kept.
- Sessions: the /ui cookie holds a random session id, never a token. The session
  (``notifier:session:<sha256 of the id>``) names the token's digest and principal, and
  ends after ``NOTIFIER_SESSION_IDLE_MINUTES`` unused, ``NOTIFIER_SESSION_MAX_HOURS`` after
  login, at logout, or when its token is revoked or expires. Times come from the Clock;
  Redis key expiry only cleans up.
- Failed logins (a wrong bearer token or a wrong token on the login page) count per client
  address in Redis; more than ``NOTIFIER_LOGIN_BURST`` in ``NOTIFIER_LOGIN_WINDOW_SECONDS``
  answers 429 with Retry-After until the window ends.
- The client address is the peer's, or, when the peer is a configured trusted proxy, the
  last X-Forwarded-For address not itself a trusted proxy.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from notifier import names
from notifier.api.auth import Principal, Role, TokenTable, hash_token
from notifier.clock import Clock
from notifier.settings import Settings

TOKENS = names.KEY_PREFIX + "tokens"
REVOKED = names.KEY_PREFIX + "tokens:revoked"
SESSION = names.KEY_PREFIX + "session:"
FAILED = names.KEY_PREFIX + "login-failures:"
DAY = 86400


@dataclass(frozen=True)
class StoredToken:
    digest: str
    principal: Principal
    created: float  # epoch seconds
    expires: float

    def as_json(self, now: float) -> dict[str, Any]:
        return {"role": self.principal.role.value, "name": self.principal.name,
                "source": "redis", "created": _iso(self.created),
                "expires": _iso(self.expires), "expired": now >= self.expires}


class Tokens:
    """Who a token is: a settings entry not revoked, or a stored token not expired."""

    def __init__(self, table: TokenTable, client: Any, clock: Clock) -> None:
        self.table = table
        self.redis = client
        self.clock = clock

    def __len__(self) -> int:
        return len(self.table) + int(self.redis.hlen(TOKENS))

    def identify(self, token: str) -> Principal | None:
        return self.by_digest(hash_token(token))

    def by_digest(self, digest: str) -> Principal | None:
        if self.redis.sismember(REVOKED, digest):
            return None
        principal = self.table.by_hash.get(digest)
        if principal is not None:
            return principal
        stored = self._stored(digest)
        if stored is None or self.clock.now().timestamp() >= stored.expires:
            return None
        return stored.principal

    def add(self, digest: str, principal: Principal, days: int) -> StoredToken:
        now = self.clock.now().timestamp()
        stored = StoredToken(digest, principal, now, now + days * DAY)
        self.redis.hset(TOKENS, digest, json.dumps({
            "role": principal.role.value, "name": principal.name, "created": stored.created,
            "expires": stored.expires}))
        return stored

    def listing(self) -> list[dict[str, Any]]:
        now = self.clock.now().timestamp()
        revoked = {m.decode() for m in self.redis.smembers(REVOKED)}
        rows = [{"role": p.role.value, "name": p.name, "source": "settings",
                 "created": None, "expires": None, "expired": False,
                 "revoked": digest in revoked} for digest, p in self.table.by_hash.items()]
        for digest in sorted(k.decode() for k in self.redis.hkeys(TOKENS)):
            stored = self._stored(digest)
            if stored is not None:
                rows.append({**stored.as_json(now), "revoked": False})
        return sorted(rows, key=lambda r: (r["name"], r["source"]))

    def revoke(self, name: str) -> int:
        """Revoke every token named ``name``; how many were. Sessions made with them end
        at their next request (each checks its token)."""
        count = 0
        for digest in [k.decode() for k in self.redis.hkeys(TOKENS)]:
            stored = self._stored(digest)
            if stored is not None and stored.principal.name == name:
                count += int(self.redis.hdel(TOKENS, digest))
        for digest, principal in self.table.by_hash.items():
            if principal.name == name:
                count += int(self.redis.sadd(REVOKED, digest))
        return count

    def _stored(self, digest: str) -> StoredToken | None:
        raw = self.redis.hget(TOKENS, digest)
        if not raw:
            return None
        data = json.loads(raw)
        return StoredToken(digest, Principal(Role(data["role"]), data["name"]),
                           float(data["created"]), float(data["expires"]))


class Sessions:
    def __init__(self, tokens: Tokens, settings: Settings) -> None:
        self.tokens = tokens
        self.redis = tokens.redis
        self.clock = tokens.clock
        self.idle = settings.session_idle_minutes * 60
        self.absolute = settings.session_max_hours * 3600

    def start(self, token: str) -> str:
        """A new session for a valid token; returns the id for the cookie."""
        session_id = secrets.token_urlsafe(32)
        now = self.clock.now().timestamp()
        key = SESSION + hash_token(session_id)
        self.redis.hset(key, mapping={"token": hash_token(token), "created": repr(now),
                                      "seen": repr(now)})
        self.redis.expire(key, self.idle)
        return session_id

    def principal(self, session_id: str | None) -> Principal | None:
        """The session's principal, its idle time renewed; None (and the session ended)
        when it is unknown, idle too long, too old, or its token no longer valid."""
        if not session_id:
            return None
        key = SESSION + hash_token(session_id)
        raw = {k.decode(): v.decode() for k, v in self.redis.hgetall(key).items()}
        if not raw:
            return None
        now = self.clock.now().timestamp()
        principal = self.tokens.by_digest(raw["token"])
        if (principal is None or now - float(raw["seen"]) > self.idle
                or now - float(raw["created"]) > self.absolute):
            self.redis.delete(key)
            return None
        self.redis.hset(key, "seen", repr(now))
        self.redis.expire(key, self.idle)
        return principal

    def end(self, session_id: str | None) -> None:
        if session_id:
            self.redis.delete(SESSION + hash_token(session_id))


class LoginGuard:
    """Failed logins per client address: a burst is allowed, then 429 for the window."""

    def __init__(self, client: Any, settings: Settings) -> None:
        self.redis = client
        self.burst = settings.login_burst
        self.window = settings.login_window_seconds

    def blocked(self, address: str) -> int:
        """Seconds to wait if ``address`` has failed too often, else 0."""
        key = FAILED + address
        if int(self.redis.get(key) or 0) < self.burst:
            return 0
        return max(int(self.redis.ttl(key)), 1)

    def failed(self, address: str) -> None:
        key = FAILED + address
        with self.redis.pipeline() as pipe:
            pipe.set(key, 0, ex=self.window, nx=True)  # the window starts at the first
            pipe.incr(key)  # INCR keeps the key's expiry
            pipe.execute()


def client_address(peer: str | None, forwarded_for: str | None,
                   trusted: frozenset[str]) -> str:
    """The client's address, believing X-Forwarded-For only from a trusted proxy."""
    address = peer or "unknown"
    if address not in trusted or not forwarded_for:
        return address
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
        if hop not in trusted:
            return hop
    return address


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")
