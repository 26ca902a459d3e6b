"""Rendering without sending: ``notifier render`` and ``notifier letters check``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from notifier.channels.digital_post import MemoContent, memo_bytes, memo_message
from notifier.delivery.context import jobcenter_context
from notifier.delivery.memo import MemoParty
from notifier.delivery.pdf import PdfRenderer
from notifier.delivery.render import Rendered, Renderer
from notifier.errors import InputError, RenderError
from notifier.planning.catalog import LetterKind, load_catalog
from notifier.planning.rules import load_rules
from notifier.settings import Settings

PLACEHOLDER_CPR = "0101700000"  # previews go to this fictitious person, never a real one
PREVIEW_UUID = "00000000-0000-4000-8000-000000000000"


def renderer_for(settings: Settings) -> Renderer:
    return Renderer(settings.letters_dir, load_catalog(settings.letters_dir), settings.zone)


def render_kind(settings: Settings, kind: str, data: Path | None, fmt: str) -> bytes:
    renderer = renderer_for(settings)
    if kind not in renderer.catalog.kinds:
        known = ", ".join(sorted(renderer.catalog.kinds))
        raise InputError.single("kind", f"unknown letter kind {kind!r} (known: {known})")
    context = _context(renderer, kind, data, settings)
    rendered = renderer.render(kind, context)
    if fmt == "html":
        return rendered.html.encode()
    if fmt == "txt":
        return rendered.text.encode()
    pdf = PdfRenderer(settings.letters_dir).render(rendered)
    if fmt == "pdf":
        return pdf
    return _preview_memo(settings, renderer.catalog[kind], rendered, pdf, context)


def _preview_memo(settings: Settings, entry: LetterKind, rendered: Rendered, pdf: bytes,
                  context: dict[str, Any]) -> bytes:
    """The MeMo message the Digital Post channel would send, to a fictitious citizen."""
    employer = context.get("employer") or {}
    to_employer = context.get("letter", {}).get("recipient") == "employer" and employer
    recipient = (MemoParty(employer["cvr"], "CVR", employer["name"]) if to_employer
                 else MemoParty(PLACEHOLDER_CPR, "CPR", "Eksempel"))
    content = MemoContent(PREVIEW_UUID, str(context.get("case", {}).get("case_id", "PREVIEW")),
                          entry, rendered, pdf if settings.digital_post_pdf else None,
                          datetime(2026, 1, 1, tzinfo=UTC))
    return memo_bytes(memo_message(settings, content, recipient))


def _context(renderer: Renderer, kind: str, data: Path | None,
             settings: Settings) -> dict[str, Any]:
    if data is None:
        context = dict(renderer.catalog[kind].sample)
    else:
        try:
            context = json.loads(data.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise InputError.single("--data", f"cannot read {data} as JSON: {exc}") from None
        if not isinstance(context, dict):
            raise InputError.single("--data", "must be a JSON object")
    context.setdefault("jobcenter", jobcenter_context(settings))
    return context


def check_letters(settings: Settings) -> list[str]:
    """Every catalog kind renders its sample strictly; every planned kind has a template."""
    renderer = renderer_for(settings)
    problems = []
    for kind in sorted(renderer.catalog.kinds):
        try:
            renderer.render(kind, _context(renderer, kind, None, settings))
        except RenderError as exc:
            problems.append(str(exc))
    for kind in sorted(load_rules(settings.rules_dir).letters):
        if kind not in renderer.catalog.kinds:
            problems.append(f"{kind}: planned by the rules but missing from catalog.toml")
        if not (settings.letters_dir / f"{kind}.html").exists():
            problems.append(f"{kind}: planned by the rules but {kind}.html is missing")
    return problems
