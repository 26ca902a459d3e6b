"""Which rules and templates made a letter (issue 14).

``rules_version`` is the files' own version string plus a content hash of every
``schedules/*.toml`` (calendar included) and the catalog: ``2026.12+3f2a9c0d1e4b``. The
string is for people ("the December 2026 rules"); the hash catches an edit nobody
renumbered. A template's version is the hash of the template and everything it extends
or includes (``Renderer.template_version``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from notifier.errors import ConfigError
from notifier.planning.rules import RuleSet

DIGEST_CHARS = 12  # 48 bits: tells versions apart, short enough to read in a timeline


def digest(parts: Iterable[tuple[str, bytes]]) -> str:
    """A short SHA-256 over named byte strings, in the order given."""
    hasher = hashlib.sha256()
    for name, data in parts:
        hasher.update(name.encode() + b"\0" + str(len(data)).encode() + b"\0" + data)
    return hasher.hexdigest()[:DIGEST_CHARS]


def rules_digest(rules_dir: Path, letters_dir: Path) -> str:
    files = sorted(rules_dir.glob("*.toml"))
    try:
        parts = [(f"schedules/{p.name}", p.read_bytes()) for p in files]
        parts.append(("catalog.toml", (letters_dir / "catalog.toml").read_bytes()))
    except OSError as exc:
        raise ConfigError(f"rules version: cannot read {exc.filename}: {exc.strerror}") from None
    return digest(parts)


def stamp(rules: RuleSet, rules_dir: Path, letters_dir: Path) -> RuleSet:
    """``rules`` with the content hash its letters will record."""
    return replace(rules, digest=rules_digest(rules_dir, letters_dir))
