"""The official schemas from ../shared (never copied into the repo), loaded once per
process; a test that needs an absent one skips, saying which."""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
MEMO_XSD = {
    "1.1": SHARED / "memo-1.1-xsd" / "MeMo_core.xsd",
    "1.2": SHARED / "memo-1.2-xsd" / "Version1.2" / "MeMo_core.xsd",
}
FJERNPRINT_XSD = SHARED / "sf1600-fjernprint-xsd" / "_all.xsd"


@functools.cache
def _load(path: Path) -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(str(path))


def schema_at(path: Path) -> xmlschema.XMLSchema:
    if not path.is_file():
        pytest.skip(f"{path.relative_to(SHARED.parent)} not found beside the checkout; "
                    "CI always has it")
    return _load(path)


def memo_schema(version: str) -> xmlschema.XMLSchema:
    return schema_at(MEMO_XSD[version])


def memo_schema_for(memo: bytes) -> xmlschema.XMLSchema:
    """The schema of the MeMo version the message says it is."""
    return memo_schema(ET.fromstring(memo).get("memoVersion", ""))


def fjernprint_schema() -> xmlschema.XMLSchema:
    return schema_at(FJERNPRINT_XSD)
