"""A letter's rendered HTML as Typst markup, mechanically (issue 16).

The Jinja2 templates stay the one source of every letter's wording: they render the HTML
that Digital Post, the preview and aktindsigt show, and this module turns that HTML into
calls of the layout functions in ``letters/da/letter.typ`` (``p``, ``area``, ``keep``)
plus Typst's own ``heading``, ``list``, ``enum``, ``strong``, ``emph``, ``link`` and
``linebreak``. All text goes in as Typst string literals, so no letter text is ever read
as Typst markup or code. An element outside the small set the templates use (an image, a
table, a script) is refused, so nothing can make the PDF fetch or run anything.
"""

from __future__ import annotations

from notifier.delivery import html_tree
from notifier.delivery.html_tree import SPACE as _SPACE
from notifier.delivery.html_tree import Node, Parsed
from notifier.errors import RenderError

# Elements that start a block (whitespace around them is dropped, as a browser does).
_AREAS = {"body", "main", "header", "footer", "div", "section", "article", "aside", "address",
          "nav", "blockquote"}
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4}
_LISTS = {"ul": "list", "ol": "enum"}
_INLINE = {"strong": "strong", "b": "strong", "em": "emph", "i": "emph", "span": "",
           "a": "link"}
_IGNORED = {"head", "style", "script", "title", "meta"}  # not page content (title: kept)
_KNOWN = {"html", "p", "li", "br", *_AREAS, *_HEADINGS, *_LISTS, *_INLINE, *_IGNORED}
# Classes that keep the block before them on the same page (the signature: issue 11).
_KEEP_WITH_PREVIOUS = {"underskrift"}


def parse(html: str, parsed: Parsed | None = None) -> Parsed:
    """The letter's tree (``parsed`` if the renderer made it already: html_tree), refusing
    any element outside the small set the templates use."""
    parsed = parsed or html_tree.parse(html)
    unsupported = parsed.root.tags() - _KNOWN - {"#root"}
    if unsupported:
        names = ", ".join(f"<{tag}>" for tag in sorted(unsupported))
        raise RenderError(f"not in the letter HTML the PDF supports: {names}")
    return parsed


def string(text: str) -> str:
    """``text`` as a Typst string literal: only backslash and quote need escaping."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def heading_text(node: Node) -> str:
    """The visible text of the first <h1>, whitespace collapsed ("" without one)."""
    found = _find(node, "h1")
    if found is None:
        return ""
    return _SPACE.sub(" ", "".join(_texts(found))).strip()


def _find(node: Node, tag: str) -> Node | None:
    for child in node.children:
        if isinstance(child, Node):
            if child.tag == tag:
                return child
            found = _find(child, tag)
            if found is not None:
                return found
    return None


def _texts(node: Node) -> list[str]:
    return [part for child in node.children
            for part in ([child] if isinstance(child, str) else _texts(child))]


class _Writer:
    """Typst markup for a tree, collapsing whitespace as CSS's ``white-space: normal``."""

    def __init__(self) -> None:
        self.space = False  # a collapsed space waits for the next text on this line
        self.line_start = True
        self.link_notes: list[bool] = []  # per open link: print its address after it

    def block_break(self) -> None:
        self.space = False
        self.line_start = True

    def text(self, data: str) -> str:
        collapsed = _SPACE.sub(" ", data)
        if not collapsed:
            return ""
        if collapsed[0] == " ":
            self.space = self.space or not self.line_start
            collapsed = collapsed[1:]
        if not collapsed:
            return ""
        out = (" " if self.space else "") + collapsed
        self.space = out.endswith(" ")
        self.line_start = False
        return "#" + string(out.rstrip(" "))

    def flush_space(self) -> str:
        if self.space and not self.line_start:
            self.space = False
            return '#" "'
        return ""

    def children(self, node: Node, in_print_links: bool) -> str:
        pieces: list[tuple[Node | None, str]] = []
        for child in node.children:
            if isinstance(child, str):
                pieces.append((None, self.text(child)))
            else:
                pieces.append((child, self.element(child, in_print_links)))
        return "".join(_keep_signature(pieces))

    def element(self, node: Node, in_print_links: bool) -> str:
        tag = node.tag
        if tag in _IGNORED:
            return ""
        if tag == "br":
            self.space = False
            self.line_start = True
            return "#linebreak()"
        if tag in _INLINE:
            return self.inline(node, in_print_links)
        self.block_break()
        inner_links = in_print_links or tag == "main" or (tag == "aside" and
                                                           "kontakt" in node.cls.split())
        if tag in _LISTS:
            items = [self.element(item, inner_links) for item in node.children
                     if isinstance(item, Node)]
            self.block_break()
            return f"#{_LISTS[tag]}(" + "".join(f"[{item}]," for item in items) + ")"
        body = self.children(node, inner_links)
        self.block_break()
        if tag in ("html", "#root", "li"):
            return body
        if tag == "p":
            return f"#p(cls: {string(node.cls)})[{body}]"
        if tag in _HEADINGS:
            return f"#heading(level: {_HEADINGS[tag]})[{body}]"
        return f"#area(cls: {string(node.cls)})[{body}]"

    def inline(self, node: Node, in_print_links: bool) -> str:
        before = self.flush_space()
        body = self.children(node, in_print_links)
        function = _INLINE[node.tag]
        if not function:
            return before + body
        if function != "link":
            return f"{before}#{function}[{body}]"
        href = node.attrs.get("href", "")
        if not href:
            return before + body
        if in_print_links and href.startswith("http"):
            # base.html's print CSS: on paper a link shows where it goes.
            body += self.text(f" ({href})")
        return f"{before}#link({string(href)})[{body}]"


def _keep_signature(pieces: list[tuple[Node | None, str]]) -> list[str]:
    """The pieces' markup, each signature block wrapped with the paragraph before it."""
    out: list[str] = []
    last_block: int | None = None
    for node, markup in pieces:
        if node is not None and node.cls in _KEEP_WITH_PREVIOUS and last_block is not None:
            out[last_block] = f"#keep[{out[last_block]}"
            out.append(markup + "]")
            last_block = None
            continue
        if node is not None and node.tag == "p":
            last_block = len(out)
        elif markup:
            last_block = None
        out.append(markup)
    return out


def to_typst(html: str, fallback_title: str, tree: Parsed | None = None) -> str:
    """The Typst document for a letter's HTML (``tree``: its tree, if parsed already): the
    layout's ``letter`` show rule over the converted body. The title is the HTML's <title>
    (the visible heading), else its <h1>."""
    parsed = parse(html, tree)
    title = parsed.title or heading_text(parsed.root) or fallback_title
    body = _Writer().element(parsed.root, in_print_links=False)
    return (f"#show: letter.with(title: {string(title)}, lang: {string(parsed.lang or 'da')})\n"
            f"{body}\n")
