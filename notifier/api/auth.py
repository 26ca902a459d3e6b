"""Bearer tokens: configured as ``role:name:sha256hex`` entries, checked by hash.

Only the SHA-256 of a token is configured, so a leaked settings file or environment
grants nothing. Tokens are random (256 bits), so an unsalted hash is enough; a lookup
by hash leaks nothing useful through timing. Neither a token nor its hash is logged.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum

from notifier.errors import ConfigError

NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
HASH = re.compile(r"^[0-9a-f]{64}$")
SETTING = "NOTIFIER_API_TOKENS"


class Role(StrEnum):
    SYSTEM = "system"  # the case system: posts events and receipts
    CASEWORKER = "caseworker"  # reads cases, previews, sends ad-hoc letters, cancels
    OPERATOR = "operator"


@dataclass(frozen=True)
class Principal:
    role: Role
    name: str

    @property
    def label(self) -> str:
        """Who did it, for ``cancelled_by``, ``cause`` and the audit trail."""
        return f"{self.role.value}:{self.name}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(role: Role, name: str) -> tuple[str, str]:
    """A fresh random token and the settings entry that admits it."""
    if not NAME.match(name):
        raise ConfigError("--name: must be 1-64 characters of A-Z, a-z, 0-9, '.', '_' or '-'")
    token = secrets.token_urlsafe(32)
    return token, f"{role.value}:{name}:{hash_token(token)}"


@dataclass(frozen=True)
class TokenTable:
    by_hash: dict[str, Principal]

    def __len__(self) -> int:
        return len(self.by_hash)

    def identify(self, token: str) -> Principal | None:
        return self.by_hash.get(hash_token(token))


def parse_tokens(text: str) -> TokenTable:
    """Parse the setting; ConfigError names the bad entry (by position, role and name
    only: a mistakenly pasted token must not end up in an error message)."""
    table: dict[str, Principal] = {}
    names: set[str] = set()
    entries = [e.strip() for e in text.split(",") if e.strip()]
    for number, entry in enumerate(entries, start=1):
        role, name, digest = _entry(number, entry)
        where = f"{SETTING}: entry {number} ({role}:{name})"
        if name in names:
            raise ConfigError(f"{where}: the name is used by an earlier entry")
        if digest in table:
            raise ConfigError(f"{where}: the same token as an earlier entry")
        names.add(name)
        table[digest] = Principal(Role(role), name)
    return TokenTable(table)


def _entry(number: int, entry: str) -> tuple[str, str, str]:
    parts = entry.split(":")
    if len(parts) != 3:
        raise ConfigError(f"{SETTING}: entry {number}: must be role:name:sha256hex "
                          "(make one with `notifier token`)")
    role, name, digest = parts
    shown = f"{SETTING}: entry {number}"
    if role not in {r.value for r in Role}:
        raise ConfigError(f"{shown}: role must be one of {', '.join(r.value for r in Role)}")
    if not NAME.match(name):
        raise ConfigError(f"{shown}: name must be 1-64 characters of A-Z, a-z, 0-9, . _ -")
    if not HASH.match(digest):
        raise ConfigError(f"{shown} ({role}:{name}): the hash must be 64 lowercase hex digits "
                          "(the SHA-256 of the token, as `notifier token` prints it)")
    return role, name, digest
