"""The meeting summons carries the meeting as a MeMo calendar appointment (issue 11):
an Action with actionCode AFTALE, start and end in UTC, and a Reservation, schema-valid."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any

from notifier.channels.digital_post import MemoContent, memo_message
from notifier.delivery.memo import MemoParty, build_memo
from notifier.delivery.render import Rendered
from notifier.planning.catalog import load_catalog
from notifier.settings import PACKAGE_DIR, load_settings
from tests.support.schemas import memo_schema_for
from tests.unit.test_memo import LETTER_ID, NS

CATALOG = load_catalog(PACKAGE_DIR / "letters" / "da")
MEETING: dict[str, Any] = {"meeting_id": "m-1", "form": "in_person", "location": "Mødelokale 2",
                           "starts_at": datetime.fromisoformat("2026-12-08T10:30:00+01:00")}


def _memo(kind: str, meeting: dict[str, Any] | None) -> bytes:
    settings = load_settings()
    rendered = Rendered(kind=kind, title="t", html="<p>x</p>", text="x")
    content = MemoContent(LETTER_ID, "SDP-1", CATALOG[kind], rendered, b"%PDF-1.7 x",
                          datetime(2026, 12, 1, 9, 0, tzinfo=UTC), meeting)
    return build_memo(memo_message(settings, content, MemoParty("2508901234", "CPR", "J")))


def test_summons_has_a_schema_valid_calendar_appointment(clean_env: None) -> None:
    """Given a meeting summons for Tue 8 Dec 2026 10:30 Copenhagen time,
    When its MeMo message is built,
    Then it validates and holds an AFTALE action from 09:30Z to 10:30Z with a Reservation
    at the meeting's location; the same meeting keeps the same reservation id."""
    xml = _memo("meeting_summons", MEETING)
    memo_schema_for(xml).validate(io.BytesIO(xml))  # the MeMo version it says it is
    root = ET.fromstring(xml)
    [action] = [a for a in root.iterfind(".//memo:Action", NS)
                if a.findtext("memo:actionCode", namespaces=NS) == "AFTALE"]
    assert action.findtext("memo:startDateTime", namespaces=NS) == "2026-12-08T09:30:00Z"
    assert action.findtext("memo:endDateTime", namespaces=NS) == "2026-12-08T10:30:00Z"
    assert action.findtext("memo:Reservation/memo:location", namespaces=NS) == "Mødelokale 2"
    again = ET.fromstring(_memo("meeting_rescheduled", MEETING))
    uuid_path = ".//memo:Reservation/memo:reservationUUID"
    assert root.findtext(uuid_path, namespaces=NS) == again.findtext(uuid_path, namespaces=NS)


def test_letters_without_a_meeting_have_no_appointment(clean_env: None) -> None:
    """Given a decision (no calendar flag) or a summons without meeting data,
    Then no AFTALE action is added."""
    for kind, meeting in (("decision", MEETING), ("meeting_summons", None)):
        assert b"AFTALE" not in _memo(kind, meeting), kind
