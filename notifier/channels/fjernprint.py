"""Fjernprint (remote print): the ``ForsendelseI`` that goes with KombiValgKode "Fysisk Post".

Shape from the official schema set ``urn:oio:fjernprint:1.0.0`` (SF1600; the copy in
itk-dev/serviceplatformen, ``ForsendelseI.xsd``), element order as the schema's sequence:
AfsendelseIdentifikator (our letter id, also the MeMo messageUUID, so a PKO_PostStatus for
the print names the letter), ForsendelseTypeIdentifikator (from the municipality's print
agreement, ``NOTIFIER_PRINT_TYPE_ID``), ForsendelseModtager (AfsendelseModtager with the
placeholder CPR number ``0000000000`` and an explicit ModtagerAdresse: name, the address
lines, postcode, country), FilformatNavn ``PDF``,
MeddelelseIndholdData (the PDF), DokumentParametre/TitelTekst and PostParametre/
PostKategoriKode. Built with ElementTree like the MeMo; the tests validate every letter
against the official schemas (``../shared/sf1600-fjernprint-xsd/_all.xsd``).
"""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

FJERNPRINT = "urn:oio:fjernprint:1.0.0"
DKAL = "urn:oio:dkal:1.0.0"
SAGDOK = "urn:oio:sagdok:3.0.0"
ADIR = "urn:oio:adir:dagpenge:2009.07.01"
ITST = "http://rep.oio.dk/itst.dk/xml/schemas/2006/01/17/"
DKCC2003 = "http://rep.oio.dk/ebxml/xml/schemas/dkcc/2003/02/13/"
DKCC2005 = "http://rep.oio.dk/ebxml/xml/schemas/dkcc/2005/03/15/"
DKCC2005_3 = "http://rep.oio.dk/ebxml/xml/schemas/dkcc/2005/05/19/"
LINE_MAX = 34  # cpr:CompletePostalLabelTextType: what fits in an envelope window line
NAME_MAX = 130  # itst:PersonNameType
CATEGORIES = {"A": "Prioritaire", "B": "Economique"}
PLACEHOLDER_CPR = "0000000000"  # the schema's pattern allows exactly this non-CPR value

for _prefix, _ns in (("fjernprint", FJERNPRINT), ("dkal", DKAL), ("sd", SAGDOK),
                     ("adir", ADIR), ("itst", ITST), ("dkcc", DKCC2003),
                     ("dkcc2005", DKCC2005), ("dkcc2005-3", DKCC2005_3)):
    ET.register_namespace(_prefix, _ns)


@dataclass(frozen=True)
class PrintOrder:
    letter_id: str
    type_id: int  # ForsendelseTypeIdentifikator
    cpr: str | None
    name: str
    street: str
    postcode: str
    city: str
    title: str
    pdf: bytes
    category: str = "B"  # A or B


def print_order(letter_id: str, type_id: int, category: str, recipient: dict[str, Any],
                address: dict[str, Any], title: str, pdf: bytes) -> PrintOrder:
    return PrintOrder(letter_id, type_id, recipient.get("cpr"), str(address.get("name", "")),
                      str(address["street"]), str(address["postcode"]), str(address["city"]),
                      title, pdf, category)


def forsendelse_i(order: PrintOrder) -> ET.Element:
    """The ``fjernprint:ForsendelseI`` element. ValueError names a field it cannot carry."""
    root = ET.Element(_q(FJERNPRINT, "ForsendelseI"))
    _text(root, FJERNPRINT, "AfsendelseIdentifikator", order.letter_id)
    _text(root, FJERNPRINT, "ForsendelseTypeIdentifikator", str(order.type_id))
    recipient = _sub(root, FJERNPRINT, "ForsendelseModtager")
    if order.cpr:
        # With an explicit address the recipient is named by the placeholder 0000000000,
        # not the CPR number (OS2Forms ForsendelseHelper::createModtager, citing KOMBIT's
        # "KombiPostAfsend - Feltbeskrivelse" p. 7; not read by us). The MeMo names them.
        _text(_sub(recipient, DKAL, "AfsendelseModtager"), ADIR, "CPRnummerIdentifikator",
              PLACEHOLDER_CPR)
    _address(_sub(recipient, FJERNPRINT, "ModtagerAdresse"), order)
    _text(root, DKAL, "FilformatNavn", "PDF")
    if not order.pdf:
        raise ValueError("pdf: the letter has no PDF to print")
    _text(root, DKAL, "MeddelelseIndholdData", base64.b64encode(order.pdf).decode("ascii"))
    _text(_sub(root, FJERNPRINT, "DokumentParametre"), SAGDOK, "TitelTekst", order.title)
    if order.category not in CATEGORIES:
        raise ValueError("category: must be A or B")
    _text(_sub(root, FJERNPRINT, "PostParametre"), FJERNPRINT, "PostKategoriKode",
          CATEGORIES[order.category])
    return root


def _address(parent: ET.Element, order: PrintOrder) -> None:
    # The schema's line form: the street as the owner wrote it ("Vestergade 12, 2. tv."),
    # not split into StreetName/StreetBuildingIdentifier, which we would have to guess.
    _text(parent, ITST, "PersonName", _checked(order.name, "name", NAME_MAX))
    _text(parent, DKCC2005_3, "PostalAddressFirstLineText",
          _checked(order.street, "address.street", LINE_MAX))
    _text(parent, DKCC2005_3, "PostalAddressSecondLineText",
          _checked(f"{order.postcode} {order.city}", "address.city", LINE_MAX))
    if not (len(order.postcode) == 4 and order.postcode.isdigit()):
        raise ValueError("address.postcode: must be four digits")
    _text(parent, DKCC2005, "PostCodeIdentifier", order.postcode)
    country = _text(parent, DKCC2003, "CountryIdentificationCode", "DK")
    country.set("scheme", "iso3166-alpha2")


def _checked(value: str, field: str, limit: int) -> str:
    value = value.strip()
    if not value:
        raise ValueError(f"{field}: missing")
    if len(value) > limit:
        raise ValueError(f"{field}: at most {limit} characters on a printed envelope")
    return value


def _sub(parent: ET.Element, ns: str, name: str) -> ET.Element:
    return ET.SubElement(parent, _q(ns, name))


def _text(parent: ET.Element, ns: str, name: str, value: str) -> ET.Element:
    element = _sub(parent, ns, name)
    element.text = value
    return element


def _q(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"
