"""MeMo XML for Digital Post: one letter as a ``memo:Message`` (header, parties, documents).

MeMo 1.2 by default (what current SF1601 clients send), 1.1 selectable. Both share the
namespace ``https://DigitalPost.dk/MeMo-1`` and, for the parts we use, the element order;
they differ in the root attributes (1.1 requires ``memoSchVersion``, 1.2 has none) and in
the notification's length (150 in 1.1, 160 in 1.2).

``build_memo`` checks everything the MeMo schema restricts for the parts we use, so a
message that builds is schema-valid; what it cannot
carry raises ``ValueError``. Error messages name the field, never its value: the value may
be a CPR number or a name.

Built with the standard library's ElementTree: building (not parsing) XML needs nothing
more (lxml, a dependency since issue 16, parses the letters' HTML: html_tree.py).
"""

from __future__ import annotations

import base64
import re
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from notifier.identifiers import cpr_problem, cvr_problem, looks_like_cpr
from notifier.intake.plaintext import control_problem

NS = "https://DigitalPost.dk/MeMo-1"
MEMO_VERSIONS = ("1.1", "1.2")
MEMO_VERSION = "1.2"  # the default
MEMO_SCH_VERSION = "1.1.0"  # required on a 1.1 Message; 1.2 has no such attribute
MESSAGE_TYPE = "DIGITALPOST"
CASE_SYSTEM = "notifier"
TEXT_MAX = 256  # dt:memoTextType
NOTIFICATION_MAX = {"1.1": 150, "1.2": 160}  # dt:memoNotificationType
URI_MAX = 256  # dt:memoUriType
MEDIA_TYPES = frozenset({"application/pdf", "text/html", "text/plain"})

_LANGUAGE = re.compile(r"[a-z]{2}")  # dt:memoLanguageType is xs:language of at most 2

# Digital Post's receiving side (SF1601) expects the "memo:" prefix, not a default namespace.
ET.register_namespace("memo", NS)


@dataclass(frozen=True)
class MemoParty:
    id: str  # CPR (10 digits) or CVR (8 digits)
    id_type: str  # "CPR" or "CVR"
    label: str  # a citizen's name, a company's name, or the jobcenter's name


@dataclass(frozen=True)
class MemoDocument:
    filename: str
    media_type: str  # one of MEDIA_TYPES
    content: bytes
    language: str = "da"


@dataclass(frozen=True)
class MemoReservation:
    """A calendar appointment (MeMo Action with a Reservation), e.g. a meeting summons."""

    reservation_uuid: str  # stable per meeting, so a moved meeting updates the same entry
    description: str
    abstract: str
    location: str
    start: datetime  # timezone-aware
    end: datetime
    organizer_name: str | None = None


@dataclass(frozen=True)
class MemoAction:
    label: str
    url: str = ""  # https only; not used with a reservation
    action_code: str = "SELVBETJENING"
    reservation: MemoReservation | None = None


@dataclass(frozen=True)
class MemoMessage:
    message_uuid: str  # the letter id: a canonical UUID with version-4 bits
    label: str  # the letter's title; no personal data
    created: datetime  # timezone-aware
    sender: MemoParty  # CVR
    recipient: MemoParty  # CPR or CVR
    main_document: MemoDocument
    alternatives: tuple[MemoDocument, ...] = ()  # other formats of the main document
    legal_notification: bool = False
    mandatory: bool = False
    notification: str | None = None
    case_id: str | None = None
    contact_point: tuple[str, str] | None = None  # (contactPointID, label) on Sender
    actions: tuple[MemoAction, ...] = ()
    reply_by: datetime | None = None
    memo_version: str = MEMO_VERSION  # "1.2" or "1.1"


def build_memo(message: MemoMessage) -> bytes:
    """UTF-8 XML bytes with XML declaration, root <memo:Message memoVersion="1.2">.

    Raises ValueError, naming the field, for anything the schema or the CPR rule refuses.
    """
    if message.memo_version not in MEMO_VERSIONS:
        raise ValueError(f"memo_version: must be one of {', '.join(MEMO_VERSIONS)}")
    attributes = {"memoVersion": message.memo_version}
    if message.memo_version == "1.1":
        attributes["memoSchVersion"] = MEMO_SCH_VERSION
    root = ET.Element(_tag("Message"), attributes)
    _header(root, message)
    _body(root, message)
    xml: bytes = ET.tostring(root, encoding="UTF-8", xml_declaration=True)  # typeshed: Any
    return xml


def _header(root: ET.Element, m: MemoMessage) -> None:
    header = _el(root, "MessageHeader")
    _el(header, "messageType", MESSAGE_TYPE)
    _el(header, "messageUUID", _message_uuid(m.message_uuid))
    _put(header, "label", m.label, "label")
    if m.notification is not None:
        _put(header, "notification", m.notification, "notification",
             NOTIFICATION_MAX[m.memo_version])
    if m.reply_by is not None:
        reply_by = _utc(m.reply_by, "reply_by")
        # Both strings have the same fixed-width UTC form, so they order like the instants.
        if reply_by <= _utc(m.created, "created"):
            raise ValueError("reply_by: must be after created")
        _el(header, "replyByDateTime", reply_by)
    _el(header, "mandatory", _bool(m.mandatory))
    _el(header, "legalNotification", _bool(m.legal_notification))
    _sender(header, m.sender, m.contact_point)
    _recipient(header, m.recipient)
    if m.case_id is not None:
        case = _el(_el(header, "ContentData"), "CaseID")
        _put(case, "caseID", m.case_id, "case_id")
        _el(case, "caseSystem", CASE_SYSTEM)


def _sender(header: ET.Element, party: MemoParty, contact_point: tuple[str, str] | None) -> None:
    if party.id_type != "CVR":
        raise ValueError("sender.id_type: must be 'CVR'")
    sender = _el(header, "Sender")
    _el(sender, "senderID", _party_id(party, "sender"))
    _el(sender, "idType", party.id_type)
    _put(sender, "label", party.label, "sender.label")
    if contact_point is not None:
        point = _el(sender, "ContactPoint")
        _put(point, "contactPointID", contact_point[0], "contact_point.id")
        _put(point, "label", contact_point[1], "contact_point.label")


def _recipient(header: ET.Element, party: MemoParty) -> None:
    recipient = _el(header, "Recipient")
    # The one place a CPR number may appear; every other text is checked for one.
    _el(recipient, "recipientID", _party_id(party, "recipient"))
    _el(recipient, "idType", party.id_type)
    _put(recipient, "label", party.label, "recipient.label")


def _body(root: ET.Element, m: MemoMessage) -> None:
    body = _el(root, "MessageBody")
    _el(body, "createdDateTime", _utc(m.created, "created"))
    main = _el(body, "MainDocument")
    _put(main, "label", m.label, "label")
    # MainDocument takes any number of File elements, each a representation of the same
    # document, so the alternatives go here rather than into AdditionalDocument.
    documents = (m.main_document, *m.alternatives)
    if len({d.media_type for d in documents}) != len(documents):
        raise ValueError("alternatives: each representation needs its own media type")
    for index, document in enumerate(documents):
        _file(main, document, "main_document" if index == 0 else f"alternatives[{index - 1}]")
    for index, action in enumerate(m.actions):
        _action(main, action, f"actions[{index}]")


def _file(parent: ET.Element, document: MemoDocument, field: str) -> None:
    if document.media_type not in MEDIA_TYPES:
        raise ValueError(f"{field}.media_type: must be one of {sorted(MEDIA_TYPES)}")
    if not _LANGUAGE.fullmatch(document.language):
        raise ValueError(f"{field}.language: must be a two-letter lower-case ISO 639-1 code")
    if "/" in document.filename or "\\" in document.filename:
        raise ValueError(f"{field}.filename: must be a bare file name")
    if not document.content:
        raise ValueError(f"{field}.content: must not be empty")
    file = _el(parent, "File")
    _el(file, "encodingFormat", document.media_type)
    _put(file, "filename", document.filename, f"{field}.filename")
    _el(file, "language", document.language)
    _el(file, "content", base64.b64encode(document.content).decode("ascii"))


def _action(parent: ET.Element, action: MemoAction, field: str) -> None:
    element = _el(parent, "Action")
    _put(element, "label", action.label, f"{field}.label")
    _put(element, "actionCode", action.action_code, f"{field}.action_code")
    booking = action.reservation
    if booking is None:
        _put(_el(element, "EntryPoint"), "url", _https_url(action.url, field), f"{field}.url",
             URI_MAX)
        return
    where = f"{field}.reservation"
    _el(element, "startDateTime", _utc(booking.start, f"{where}.start"))
    _el(element, "endDateTime", _utc(booking.end, f"{where}.end"))
    reservation = _el(element, "Reservation")
    _put(reservation, "description", booking.description, f"{where}.description")
    _el(reservation, "reservationUUID", booking.reservation_uuid)
    _put(reservation, "abstract", booking.abstract, f"{where}.abstract")
    _put(reservation, "location", booking.location, f"{where}.location")
    _el(reservation, "startDateTime", _utc(booking.start, f"{where}.start"))
    _el(reservation, "endDateTime", _utc(booking.end, f"{where}.end"))
    if booking.organizer_name:
        _put(reservation, "organizerName", booking.organizer_name, f"{where}.organizer_name")


def _https_url(url: str, field: str) -> str:
    try:
        parts = urlsplit(url)
        ok = parts.scheme == "https" and bool(parts.hostname)
    except ValueError:  # e.g. an unbalanced "[" in the host
        ok = False
    # urlsplit silently drops tabs and newlines, so whitespace is refused before it can.
    if not ok or any(c.isspace() for c in url):
        raise ValueError(f"{field}.url: must be an absolute https URL")
    return url


def _message_uuid(value: str) -> str:
    # The schema's pattern wants version-4 and RFC 4122 variant bits; the canonical form is
    # required too, because the same id is the letter's key everywhere else.
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        raise ValueError("message_uuid: must be a UUID") from None
    if str(parsed) != value or parsed.version != 4 or parsed.variant != uuid.RFC_4122:
        raise ValueError("message_uuid: must be a canonical lower-case version-4 UUID")
    return value


def _party_id(party: MemoParty, field: str) -> str:
    if party.id_type == "CPR":
        problem = cpr_problem(party.id) if len(party.id) == 10 else "must be 10 digits"
    elif party.id_type == "CVR":
        problem = cvr_problem(party.id)
    else:
        problem = "id_type must be 'CPR' or 'CVR'"
    if problem:
        raise ValueError(f"{field}.id: {problem}")
    return party.id


def _utc(moment: datetime, field: str) -> str:
    if moment.utcoffset() is None:
        raise ValueError(f"{field}: must be timezone-aware")
    # dt:memoDateTimeType is xs:dateTime ending in "Z"; Digital Post wants whole seconds.
    return moment.astimezone(UTC).isoformat(timespec="seconds").removesuffix("+00:00") + "Z"


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _put(parent: ET.Element, tag: str, value: str, field: str, limit: int = TEXT_MAX) -> None:
    """Add a free-text element, refusing what the schema or our CPR rule would not allow."""
    if not value.strip():
        raise ValueError(f"{field}: must not be blank")
    if len(value) > limit:
        raise ValueError(f"{field}: at most {limit} characters (MeMo limit)")
    if control_problem(value):  # the intake's rule too, so accepted text is deliverable
        raise ValueError(f"{field}: contains a control character XML cannot carry")
    if looks_like_cpr(value):
        raise ValueError(f"{field}: must not contain a CPR number")
    _el(parent, tag, value)


def _el(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    child = ET.SubElement(parent, _tag(tag))
    child.text = text
    return child


def _tag(name: str) -> str:
    return f"{{{NS}}}{name}"
