"""``letters/da/catalog.toml``: per letter kind its title, recipient, sensitivity and sample.

The title doubles as the MeMo label, so it must carry no personal data.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from notifier.errors import ConfigError
from notifier.models import Recipient

_KEYS = {"title", "recipient", "sensitive", "legal_notification", "action", "required",
         "sample", "notification", "description", "calendar"}


@dataclass(frozen=True)
class LetterKind:
    kind: str
    title: str
    recipients: tuple[Recipient, ...]
    sensitive: bool  # sensitive letters never go by e-mail
    legal_notification: bool  # a decision: MeMo legalNotification=true
    action: str | None  # label of a self-service link the letter asks the reader to use
    notification: str | None
    required: tuple[str, ...]  # dotted context paths that must be present and non-empty
    sample: dict[str, Any] = field(default_factory=dict)
    calendar: bool = False  # MeMo carries the meeting as a calendar appointment (issue 11)


@dataclass(frozen=True)
class Catalog:
    kinds: dict[str, LetterKind]

    def __getitem__(self, kind: str) -> LetterKind:
        try:
            return self.kinds[kind]
        except KeyError:
            raise ConfigError(f"catalog.toml: no letter kind {kind!r}") from None


def load_catalog(letters_dir: Path) -> Catalog:
    path = letters_dir / "catalog.toml"
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    defaults = doc.pop("sample_defaults", {})
    kinds = {}
    for kind, raw in doc.items():
        unknown = set(raw) - _KEYS
        if unknown:
            raise ConfigError(f"catalog.toml: {kind}.{sorted(unknown)[0]}: unknown key")
        if "title" not in raw or "recipient" not in raw:
            raise ConfigError(f"catalog.toml: {kind}: title and recipient are required")
        recipients = raw["recipient"] if isinstance(raw["recipient"], list) else [raw["recipient"]]
        try:
            parsed = tuple(Recipient(r) for r in recipients)
        except ValueError:
            raise ConfigError(f"catalog.toml: {kind}.recipient: unknown recipient") from None
        kinds[kind] = LetterKind(
            kind=kind,
            title=raw["title"],
            recipients=parsed,
            sensitive=bool(raw.get("sensitive", True)),
            legal_notification=bool(raw.get("legal_notification", False)),
            action=raw.get("action"),
            notification=raw.get("notification"),
            required=tuple(raw.get("required", ())),
            sample=_merge(defaults, raw.get("sample", {})),
            calendar=bool(raw.get("calendar", False)),
        )
    return Catalog(kinds)


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out
