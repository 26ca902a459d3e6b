"""The letter record as stored in Redis: compact, and read back exactly."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from notifier.models import ChannelName, Letter, Recipient, Status


def letter(send_at: datetime) -> Letter:
    return Letter(letter_id="5f0c7a52-8a38-4c1e-9d2b-0a6a3c1f2e11", case_id="SDP-1",
                  kind="information_form", recipient=Recipient.CITIZEN,
                  channel=ChannelName.DIGITAL_POST, send_at=send_at, status=Status.SCHEDULED,
                  cause="evt-1")


@pytest.mark.parametrize("send_at", [
    datetime(2026, 11, 23, 8, 0, tzinfo=UTC),
    datetime(2026, 11, 23, 8, 0, 31, 250_123, tzinfo=UTC),  # a retry time with microseconds
])
def test_record_round_trips(send_at: datetime) -> None:
    """Whole and fractional send times come back exactly from the stored record."""
    original = letter(send_at)
    assert Letter.from_hash(original.letter_id, original.to_hash()) == original


def test_record_leaves_out_what_the_key_or_defaults_say() -> None:
    """A waiting letter's record has no id (the key has it), no zero attempt count, and its
    send time as 10-character epoch seconds: most letters wait months, so bytes count."""
    record = letter(datetime(2026, 11, 23, 8, 0, tzinfo=UTC)).to_hash()
    assert "letter_id" not in record and "attempts" not in record
    assert record["send_at"] == "1795420800"


def test_records_written_before_the_compact_form_are_read() -> None:
    """A record from before send_at became epoch seconds (ISO 8601) still reads."""
    record = {**letter(datetime(2026, 11, 23, 8, 0, tzinfo=UTC)).to_hash(),
              "send_at": "2026-11-23T08:00:00+00:00", "letter_id": "ignored"}
    assert Letter.from_hash("x", record).send_at == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
