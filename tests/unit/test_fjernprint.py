"""The Fjernprint ForsendelseI for paper post: valid against the official schemas, the
citizen's address explicit, no CPR number in it, and what an envelope cannot carry refused."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace

import pytest

from notifier.channels.fjernprint import FJERNPRINT, PrintOrder, forsendelse_i
from tests.support.schemas import fjernprint_schema

ORDER = PrintOrder("5b0e7c2a-91d4-4f3e-8a6b-2c7d9e1f0a34", 7, "0706851234", "Mette Hansen",
                   "Vestergade 12, 2. tv.", "2630", "Taastrup", "Afgørelse om sygedagpenge",
                   b"%PDF-1.7 test")


def test_forsendelse_is_valid_and_carries_no_cpr_number() -> None:
    """The element validates against ../shared/sf1600-fjernprint-xsd/_all.xsd, names the
    letter and the print agreement's type, prints the address, and carries the
    placeholder 0000000000 where a recipient id goes, never the CPR number."""
    xml = ET.tostring(forsendelse_i(ORDER), encoding="unicode")
    fjernprint_schema().validate(xml)
    root = ET.fromstring(xml)
    assert root.findtext(f"{{{FJERNPRINT}}}AfsendelseIdentifikator") == ORDER.letter_id
    assert root.findtext(f"{{{FJERNPRINT}}}ForsendelseTypeIdentifikator") == "7"
    assert "0706851234" not in xml and "0000000000" in xml
    assert "Vestergade 12, 2. tv." in xml and "2630 Taastrup" in xml
    assert "Economique" in xml


@pytest.mark.parametrize(("change", "field"), [
    ({"street": "Et meget langt vejnavn som ikke kan stå 12"}, "address.street"),
    ({"postcode": "26300"}, "address.postcode"),
    ({"name": "  "}, "name"),
    ({"pdf": b""}, "pdf"),
    ({"category": "C"}, "category"),
])
def test_what_an_envelope_cannot_carry_is_refused(change: dict[str, object], field: str) -> None:
    """Too long a line, a bad postcode, no name, no PDF or an unknown category: ValueError
    naming the field (the print channel makes it a permanent error)."""
    with pytest.raises(ValueError, match=field):
        forsendelse_i(replace(ORDER, **change))  # type: ignore[arg-type]
