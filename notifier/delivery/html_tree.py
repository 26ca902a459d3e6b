"""A rendered letter's HTML as a small tree, parsed once for every use (issue 16).

The plain-text variant (``render.html_to_text``) and the PDF's Typst markup
(``pdf_typst.to_typst``) both read the letter's HTML. libxml2's HTML parser (lxml) builds
the tree in C, three times faster than ``html.parser`` did it in Python. The renderer
parses a letter once and hands the tree on with it (``Rendered.tree``), so a PDF letter is
not parsed again for its PDF; no tree outlives its letter. Callers only read a tree.
lxml is pinned: the PDF's bytes (whose SHA-256 is kept) follow the tree it builds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lxml import etree

SPACE = re.compile(r"[ \t\n\r\f]+")


@dataclass
class Node:
    tag: str
    attrs: dict[str, str] = field(default_factory=dict)
    children: list[Node | str] = field(default_factory=list)

    @property
    def cls(self) -> str:
        return self.attrs.get("class", "")

    def tags(self) -> set[str]:
        """Every element name in the tree under this node (itself included)."""
        found = {self.tag}
        for child in self.children:
            if isinstance(child, Node):
                found |= child.tags()
        return found


@dataclass(frozen=True)
class Parsed:
    root: Node
    title: str
    lang: str


def parse(html: str) -> Parsed:
    """The tree under a ``#root`` node (comments and the doctype left out, character
    references resolved, whitespace kept as written), with <title> and <html lang>."""
    root = Node("#root")
    element = etree.fromstring(html, etree.HTMLParser()) if html.strip() else None
    if element is None:
        return Parsed(root, "", "")
    root.children.append(_node(element))
    title = element.find(".//title")
    text = "".join(str(t) for t in title.itertext()) if title is not None else ""
    return Parsed(root, SPACE.sub(" ", text).strip(), element.get("lang", ""))


def _node(element: etree._Element) -> Node:
    node = Node(str(element.tag), {str(k): str(v) for k, v in element.attrib.items()})
    if element.text:
        node.children.append(element.text)
    for child in element:
        if isinstance(child.tag, str):  # comments and processing instructions are not
            node.children.append(_node(child))
        if child.tail:
            node.children.append(child.tail)
    return node
