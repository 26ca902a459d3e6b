"""Letters from Jinja2 templates (``letters/da/<kind>.html``) to HTML and plain text.

StrictUndefined makes a missing value an error instead of a silent blank in a letter;
autoescaping keeps free text (ad-hoc letters, decision texts) from injecting markup.
Plain text is derived from the HTML so the two can never say different things.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
import jinja2.meta
from babel.dates import format_date, format_time

from notifier.delivery.html_tree import Node, Parsed
from notifier.delivery.html_tree import parse as parse_html
from notifier.errors import RenderError
from notifier.planning.catalog import Catalog
from notifier.planning.versions import digest


@dataclass(frozen=True)
class Rendered:
    kind: str
    title: str
    html: str
    text: str
    template_version: str | None = None  # issue 14: hash of the templates used
    # Issue 16: the HTML's tree, parsed once for the text; the PDF reuses it.
    tree: Parsed | None = field(default=None, compare=False, repr=False)


class Renderer:
    def __init__(self, letters_dir: Path, catalog: Catalog, zone: ZoneInfo) -> None:
        self.catalog = catalog
        self.zone = zone
        self._versions: dict[str, str] = {}
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(letters_dir),
            undefined=jinja2.StrictUndefined,
            autoescape=jinja2.select_autoescape(["html"]),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(
            dato=self.long_date,
            kort_dato=self.short_date,
            klokken=self.clock_time,
            dato_tid=lambda v: f"{self.long_date(v)} kl. {self.clock_time(v)}",
        )

    def render(self, kind: str, context: dict[str, Any]) -> Rendered:
        """Render ``kind``; RenderError names the template and the missing or bad value."""
        entry = self.catalog[kind]
        missing = missing_values(entry.required, context)
        if missing:
            raise RenderError(f"{kind}.html: missing required value(s): {', '.join(missing)}")
        name = f"{kind}.html"
        try:
            html = self.env.get_template(name).render(title=entry.title, **context)
        except jinja2.UndefinedError as exc:
            raise RenderError(f"{name}: undefined variable: {exc.message}") from None
        except jinja2.TemplateError as exc:
            raise RenderError(f"{name}: {exc}") from None
        tree = parse_html(html)
        return Rendered(kind=kind, title=entry.title, html=html, text=tree_to_text(tree),
                        template_version=self.template_version(kind), tree=tree)

    def template_version(self, kind: str) -> str:
        """Issue 14: a hash of ``<kind>.html`` and every template it extends or includes,
        so a letter records exactly which wording produced it."""
        if kind not in self._versions:
            names: list[str] = []
            pending = [f"{kind}.html"]
            while pending:
                name = pending.pop()
                if name in names:
                    continue
                names.append(name)
                source = self.env.loader.get_source(self.env, name)[0]  # type: ignore[union-attr]
                pending += [ref for ref in jinja2.meta.find_referenced_templates(
                    self.env.parse(source)) if ref]
            self._versions[kind] = digest(
                (name, self.env.loader.get_source(self.env, name)[0].encode())  # type: ignore[union-attr]
                for name in sorted(names))
        return self._versions[kind]

    # --- Danish formatting (Babel) --------------------------------------------------------
    def _local(self, value: date | datetime | str) -> date | datetime:
        if isinstance(value, str):
            value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
        if isinstance(value, datetime):
            return value.astimezone(self.zone)
        return value

    def long_date(self, value: date | datetime | str) -> str:
        """``fredag den 4. december 2026``."""
        return format_date(self._local(value), "EEEE 'den' d. MMMM y", locale="da")

    def short_date(self, value: date | datetime | str) -> str:
        """``4. december 2026``."""
        return format_date(self._local(value), "d. MMMM y", locale="da")

    def clock_time(self, value: datetime | str) -> str:
        """``10.30``, as Danish writes a time of day."""
        local = self._local(value)
        if not isinstance(local, datetime):
            raise RenderError(f"{value!r} has no time of day")
        return format_time(local, "HH.mm", locale="da")


def missing_values(required: Iterable[str], context: dict[str, Any]) -> list[str]:
    """The required dotted context paths that are absent or empty."""
    return [path for path in required if _lookup(context, path) in (None, "", [])]


def _lookup(context: dict[str, Any], path: str) -> Any:
    value: Any = context
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


_WHITESPACE = re.compile(r"\s+")
_BLOCKS = {"p", "div", "h1", "h2", "h3", "h4", "li", "tr", "table", "ul", "ol", "section",
           "header", "footer", "address", "dl", "dt", "dd", "blockquote", "article", "aside"}


class _TextExtractor:
    """HTML to readable text: blocks become lines, headings get underlined, links keep URLs."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.current: list[str] = []
        self.skip = 0
        self.href: str | None = None
        self.heading: str | None = None

    def walk(self, node: Node) -> None:
        self.handle_starttag(node.tag, node.attrs)
        for child in node.children:
            if isinstance(child, str):
                self.handle_data(child)
            else:
                self.walk(child)
        self.handle_endtag(node.tag)

    def handle_starttag(self, tag: str, attrs: dict[str, str]) -> None:
        if tag in ("style", "script", "head"):
            self.skip += 1
        elif tag == "br":
            self._flush()
        elif tag in _BLOCKS:
            self._flush()
            if tag == "li":
                self.current.append("- ")
            if tag in ("h1", "h2"):
                self.heading = tag
        elif tag == "a":
            self.href = attrs.get("href")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script", "head"):
            self.skip -= 1
        elif tag == "a" and self.href:
            if not self.href.startswith("mailto:"):
                self.current.append(f" ({self.href})")
            self.href = None
        elif tag in _BLOCKS:
            self._flush(blank=tag in ("p", "h1", "h2", "h3", "ul", "ol", "table", "address"))

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.current.append(data)

    def _flush(self, blank: bool = False) -> None:
        line = _WHITESPACE.sub(" ", "".join(self.current)).strip() if self.current else ""
        self.current = []
        if line:
            self.lines.append(line)
            if self.heading:
                self.lines.append(("=" if self.heading == "h1" else "-") * len(line))
        self.heading = None
        if blank and self.lines and self.lines[-1] != "":
            self.lines.append("")

    def text(self) -> str:
        self._flush()
        return "\n".join(self.lines).strip() + "\n"


def html_to_text(html: str) -> str:
    return tree_to_text(parse_html(html))


def tree_to_text(tree: Parsed) -> str:
    extractor = _TextExtractor()
    extractor.walk(tree.root)
    return extractor.text()
