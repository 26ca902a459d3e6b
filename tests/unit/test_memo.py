"""MeMo 1.1 and 1.2 messages: schema-valid, ids and times as Digital Post wants, no CPR leaks."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import xmlschema
from hypothesis import given, settings
from hypothesis import strategies as st

from notifier.delivery.memo import (
    NOTIFICATION_MAX as NOTIFICATION_MAXES,
)
from notifier.delivery.memo import (
    TEXT_MAX,
    MemoAction,
    MemoDocument,
    MemoMessage,
    MemoParty,
    build_memo,
)
from notifier.identifiers import letter_id, looks_like_cpr

NOTIFICATION_MAX = NOTIFICATION_MAXES["1.1"]
XSD_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "memo-1.1-xsd"
NS = {"memo": "https://DigitalPost.dk/MeMo-1"}
CPR = "2508901234"
CPR_HYPHENATED = "250890-1234"
JOBCENTER_CVR = "29189803"
EMPLOYER_CVR = "29189811"
LETTER_ID = letter_id("case-1", "event-1", "summons")


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    if not XSD_DIR.is_dir():
        pytest.skip("../shared/memo-1.1-xsd not found beside the checkout; CI always has it")
    return xmlschema.XMLSchema(str(XSD_DIR / "MeMo_core.xsd"))


def _message(**changes: object) -> MemoMessage:
    minimal = MemoMessage(
        message_uuid=LETTER_ID,
        label="Indkaldelse til opfølgningssamtale",
        created=datetime(2026, 1, 5, 9, 0, tzinfo=UTC),
        sender=MemoParty(JOBCENTER_CVR, "CVR", "Jobcenter Eksempelby"),
        recipient=MemoParty(CPR, "CPR", "Jens Hansen"),
        main_document=MemoDocument("brev.pdf", "application/pdf", b"%PDF-1.7 test"),
        memo_version="1.1",  # the module's schema fixture is 1.1; 1.2 has its own tests
    )
    return replace(minimal, **changes)  # type: ignore[arg-type]


def _full_message() -> MemoMessage:
    return _message(
        recipient=MemoParty(EMPLOYER_CVR, "CVR", "Eksempel ApS"),
        alternatives=(
            MemoDocument("brev.html", "text/html", "<p>Kære</p>".encode()),
            MemoDocument("brev.txt", "text/plain", "Kære".encode()),
        ),
        actions=(
            MemoAction("Udfyld oplysningsskemaet", "https://borger.example.dk/skema/abc"),
            MemoAction("Se din sag", "https://borger.example.dk/sag", "INFORMATION"),
        ),
        legal_notification=True,
        mandatory=True,
        notification="Du har fået post fra jobcentret",
        case_id="SAG-2026-0001",
        contact_point=("sygedagpenge", "Sygedagpengeafdelingen"),
        reply_by=datetime(2026, 1, 19, 12, 0, tzinfo=UTC),
    )


def _validate(schema: xmlschema.XMLSchema, xml: bytes) -> ET.Element:
    schema.validate(io.BytesIO(xml))
    return ET.fromstring(xml)


def _text(root: ET.Element, path: str) -> str | None:
    return root.findtext(path, namespaces=NS)


def test_minimal_message_is_schema_valid(schema: xmlschema.XMLSchema) -> None:
    """Only the required parts: the XML validates and has the declaration and memo root."""
    xml = build_memo(_message())
    root = _validate(schema, xml)
    assert xml.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert b"<memo:Message " in xml
    assert root.attrib == {"memoVersion": "1.1", "memoSchVersion": "1.1.0"}
    assert _text(root, "memo:MessageHeader/memo:messageType") == "DIGITALPOST"
    assert _text(root, "memo:MessageHeader/memo:mandatory") == "false"
    assert _text(root, "memo:MessageHeader/memo:legalNotification") == "false"
    assert root.find("memo:MessageHeader/memo:ContentData", NS) is None


def test_message_with_every_optional_part_is_schema_valid(schema: xmlschema.XMLSchema) -> None:
    """All optional parts together validate, and each lands where the schema puts it."""
    root = _validate(schema, build_memo(_full_message()))
    header = root.find("memo:MessageHeader", NS)
    assert header is not None
    assert _text(header, "memo:legalNotification") == "true"
    assert _text(header, "memo:mandatory") == "true"
    assert _text(header, "memo:replyByDateTime") == "2026-01-19T12:00:00Z"
    assert _text(header, "memo:Recipient/memo:idType") == "CVR"
    assert _text(header, "memo:Recipient/memo:recipientID") == EMPLOYER_CVR
    assert _text(header, "memo:Sender/memo:ContactPoint/memo:contactPointID") == "sygedagpenge"
    assert _text(header, "memo:ContentData/memo:CaseID/memo:caseID") == "SAG-2026-0001"
    assert _text(header, "memo:ContentData/memo:CaseID/memo:caseSystem") == "notifier"
    main = root.find("memo:MessageBody/memo:MainDocument", NS)
    assert main is not None
    formats = [_text(file, "memo:encodingFormat") for file in main.iterfind("memo:File", NS)]
    assert formats == ["application/pdf", "text/html", "text/plain"]
    urls = [_text(a, "memo:EntryPoint/memo:url") for a in main.iterfind("memo:Action", NS)]
    assert urls == ["https://borger.example.dk/skema/abc", "https://borger.example.dk/sag"]
    assert root.find("memo:MessageBody/memo:AdditionalDocument", NS) is None


def test_file_content_is_base64(schema: xmlschema.XMLSchema) -> None:
    """The document bytes travel base64-encoded in File/content and decode to the original."""
    root = _validate(schema, build_memo(_message()))
    content = _text(root, "memo:MessageBody/memo:MainDocument/memo:File/memo:content")
    assert content == "JVBERi0xLjcgdGVzdA=="


def test_message_uuid_is_the_letter_id() -> None:
    """messageUUID is exactly the letter id, so a retried send is the same Digital Post message."""
    root = ET.fromstring(build_memo(_message()))
    assert _text(root, "memo:MessageHeader/memo:messageUUID") == LETTER_ID


def test_created_is_utc_with_z_even_from_another_offset(schema: xmlschema.XMLSchema) -> None:
    """A +01:00 creation time is written as the same instant in UTC, whole seconds, with Z."""
    created = datetime(2026, 1, 5, 9, 30, 15, 987654, tzinfo=timezone(timedelta(hours=1)))
    root = _validate(schema, build_memo(_message(created=created)))
    assert _text(root, "memo:MessageBody/memo:createdDateTime") == "2026-01-05T08:30:15Z"


@given(
    created=st.datetimes(
        min_value=datetime(1900, 1, 2),
        max_value=datetime(9998, 12, 30),
        timezones=st.builds(
            timezone, st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23))
        ),
    )
)
def test_any_aware_created_time_is_the_same_instant_in_utc(created: datetime) -> None:
    """Whatever the offset, createdDateTime ends in Z and is the instant cut to whole seconds."""
    root = ET.fromstring(build_memo(_message(created=created)))
    written = _text(root, "memo:MessageBody/memo:createdDateTime")
    assert written is not None and written.endswith("Z")
    assert timedelta(0) <= created - datetime.fromisoformat(written) < timedelta(seconds=1)


@pytest.mark.parametrize("field", ["created", "reply_by"])
def test_naive_datetimes_are_rejected(field: str) -> None:
    """A time without a zone cannot be put in UTC honestly, so it is refused."""
    with pytest.raises(ValueError, match=field):
        build_memo(_message(**{field: datetime(2026, 2, 1, 9, 0)}))


def test_reply_by_before_created_is_rejected() -> None:
    """A reply deadline that has already passed when the letter is made is a bug, not a letter."""
    with pytest.raises(ValueError, match="reply_by"):
        build_memo(_message(reply_by=datetime(2026, 1, 1, tzinfo=UTC)))


@pytest.mark.parametrize(
    "bad_id",
    [
        "not-a-uuid",
        "",
        LETTER_ID.upper(),  # a different string for the same UUID: not the letter's key
        "{" + LETTER_ID + "}",
        LETTER_ID.replace("-", ""),
        "6fa459ea-ee8a-11ca-8d4e-0800200c9a66",  # version 1
        "6fa459ea-ee8a-41ca-cd4e-0800200c9a66",  # variant bits not RFC 4122
    ],
)
def test_non_uuid_ids_are_rejected(bad_id: str) -> None:
    """Only a canonical version-4 UUID string, as the schema's pattern demands, is accepted."""
    with pytest.raises(ValueError, match="message_uuid"):
        build_memo(_message(message_uuid=bad_id))


@pytest.mark.parametrize(
    "url",
    [
        "http://borger.example.dk/skema",
        "javascript:alert(1)",
        "ftp://borger.example.dk/skema",
        "https:///no-host",
        "borger.example.dk/skema",
        "https://borger.example.dk/a b",
        "https://[borger.example.dk/skema",
        "https://borger.example.dk/" + "x" * 256,
    ],
)
def test_non_https_action_urls_are_rejected(url: str) -> None:
    """An action link must be an absolute https URL within the schema's 256 characters."""
    with pytest.raises(ValueError, match=r"actions\[0\]\.url"):
        build_memo(_message(actions=(MemoAction("Udfyld skemaet", url),)))


def test_cpr_appears_only_in_recipient_id(schema: xmlschema.XMLSchema) -> None:
    """Every text node and attribute is free of the CPR number except Recipient/recipientID."""
    message = replace(_full_message(), recipient=MemoParty(CPR, "CPR", "Jens Hansen"))
    root = _validate(schema, build_memo(message))
    carriers = []
    for element in root.iter():
        texts = [element.text or "", element.tail or "", *element.attrib.values()]
        if any(CPR in t or CPR_HYPHENATED in t for t in texts):
            carriers.append(element.tag)
    assert carriers == ["{https://DigitalPost.dk/MeMo-1}recipientID"]


@pytest.mark.parametrize(
    "changes",
    [
        {"label": f"Afgørelse til {CPR_HYPHENATED}"},
        {"notification": f"Post til {CPR}"},
        {"main_document": MemoDocument(f"{CPR}.pdf", "application/pdf", b"%PDF")},
        {"recipient": MemoParty(CPR, "CPR", f"Jens {CPR}")},
        {"case_id": CPR},
        {"actions": (MemoAction("Udfyld", f"https://borger.example.dk/{CPR}"),)},
    ],
)
def test_a_cpr_number_outside_recipient_id_is_rejected(changes: dict[str, object]) -> None:
    """A CPR number smuggled into a label, notification, filename, case id or URL is refused."""
    with pytest.raises(ValueError, match="CPR") as raised:
        build_memo(_message(**changes))
    assert CPR not in str(raised.value) and CPR_HYPHENATED not in str(raised.value)


@pytest.mark.parametrize(
    ("party_field", "party"),
    [
        ("sender", MemoParty(CPR, "CPR", "Jobcenter Eksempelby")),
        ("sender", MemoParty("12345678", "CVR", "Jobcenter Eksempelby")),
        ("recipient", MemoParty(CPR_HYPHENATED, "CPR", "Jens Hansen")),
        ("recipient", MemoParty("3213901234", "CPR", "Jens Hansen")),
        ("recipient", MemoParty(CPR, "NEMID", "Jens Hansen")),
    ],
)
def test_bad_party_ids_are_rejected(party_field: str, party: MemoParty) -> None:
    """The sender is a valid CVR; the recipient a valid ten-digit CPR or a valid CVR."""
    with pytest.raises(ValueError, match=party_field) as raised:
        build_memo(_message(**{party_field: party}))
    assert CPR not in str(raised.value)


@pytest.mark.parametrize(
    "document",
    [
        MemoDocument("brev.docx", "application/msword", b"x"),
        MemoDocument("brev.pdf", "application/pdf", b""),
        MemoDocument("../brev.pdf", "application/pdf", b"%PDF"),
        MemoDocument("brev.pdf", "application/pdf", b"%PDF", language="dan"),
    ],
)
def test_bad_documents_are_rejected(document: MemoDocument) -> None:
    """Unknown formats, empty content, paths as file names and non-ISO-639-1 languages fail."""
    with pytest.raises(ValueError, match="main_document"):
        build_memo(_message(main_document=document))


def test_two_alternatives_of_one_format_are_rejected() -> None:
    """Files in one MainDocument are representations of it; two PDFs would be ambiguous."""
    twin = MemoDocument("kopi.pdf", "application/pdf", b"%PDF")
    with pytest.raises(ValueError, match="alternatives"):
        build_memo(_message(alternatives=(twin,)))


def test_label_and_notification_length_limits(schema: xmlschema.XMLSchema) -> None:
    """At the schema's limits (256 and 150 characters) the message is valid; one more is refused."""
    at_limit = _message(label="æ" * TEXT_MAX, notification="ø" * NOTIFICATION_MAX)
    _validate(schema, build_memo(at_limit))
    with pytest.raises(ValueError, match="label"):
        build_memo(_message(label="æ" * (TEXT_MAX + 1)))
    with pytest.raises(ValueError, match="notification"):
        build_memo(_message(notification="ø" * (NOTIFICATION_MAX + 1)))


@pytest.mark.parametrize("label", ["", "   ", "a\x00b", "a\rb", "a\x1bb", "a\ufffeb"])
def test_blank_labels_and_unencodable_characters_are_rejected(label: str) -> None:
    """Blank titles and characters XML cannot carry unchanged are refused, not mangled."""
    with pytest.raises(ValueError, match="label"):
        build_memo(_message(label=label))


_XML_SPECIALS = st.sampled_from(list("&<>\"'æøåÆØÅ\t\n]"))
_XML_SAFE_TEXT = st.text(
    st.one_of(_XML_SPECIALS, st.characters(exclude_categories=("Cs", "Cc", "Cn"))), min_size=1
).filter(lambda text: text.strip() != "" and not looks_like_cpr(text))


@settings(deadline=None)
@given(
    label=_XML_SAFE_TEXT.filter(lambda text: len(text) <= TEXT_MAX),
    notification=_XML_SAFE_TEXT.filter(lambda text: len(text) <= NOTIFICATION_MAX),
)
def test_arbitrary_texts_stay_schema_valid_and_round_trip(
    schema: xmlschema.XMLSchema, label: str, notification: str
) -> None:
    """Any printable label and notification (XML specials, æøå, any script) round-trips validly."""
    root = _validate(schema, build_memo(_message(label=label, notification=notification)))
    assert _text(root, "memo:MessageHeader/memo:label") == label
    assert _text(root, "memo:MessageHeader/memo:notification") == notification
    assert _text(root, "memo:MessageBody/memo:MainDocument/memo:label") == label


@settings(deadline=None)
@given(label=st.text(max_size=TEXT_MAX + 20))
def test_any_label_is_either_refused_or_valid(schema: xmlschema.XMLSchema, label: str) -> None:
    """Even control characters and over-long text never produce invalid XML: ValueError instead."""
    try:
        xml = build_memo(_message(label=label))
    except ValueError as error:
        assert str(error).startswith("label:")
        return
    root = _validate(schema, xml)
    assert _text(root, "memo:MessageHeader/memo:label") == label


@pytest.mark.parametrize("version", ["1.1", "1.2"])
def test_full_message_is_valid_in_both_versions(version: str) -> None:
    """The same letter builds valid against the official MeMo 1.1 and 1.2 schemas; only
    1.1 carries memoSchVersion."""
    from tests.support.schemas import memo_schema

    xml = build_memo(replace(_full_message(), memo_version=version))
    root = ET.fromstring(xml)
    memo_schema(version).validate(xml.decode())
    assert root.get("memoVersion") == version
    assert (root.get("memoSchVersion") is not None) == (version == "1.1")


def test_memo_12_notification_limit_is_160() -> None:
    """MeMo 1.2 allows 160 characters of notification (1.1: 150); one more is refused."""
    from tests.support.schemas import memo_schema

    at_limit = build_memo(_message(memo_version="1.2", notification="ø" * 160))
    memo_schema("1.2").validate(at_limit.decode())
    with pytest.raises(ValueError, match="notification"):
        build_memo(_message(memo_version="1.2", notification="ø" * 161))
    with pytest.raises(ValueError, match="memo_version"):
        build_memo(_message(memo_version="1.3"))
