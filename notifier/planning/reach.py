"""Whether a citizen was told about a meeting: the facts behind held decisions and the
revival of summons when standby ends (issue 11). Pure: letters in, answers out.

A meeting's *notice* is the latest citizen letter of a notice kind (``notice = true`` in
the rules: the summons, a rescheduling) for that meeting. Only the latest one counts: it
carries the meeting's current time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from notifier.calendar import DanishCalendar
from notifier.models import CaseState, ChannelName, Letter, Meeting, Recipient, Status

FAILED_RECEIPT = "failed"


def latest_notice(letters: Mapping[str, Letter], meeting_id: str,
                  notice_kinds: Iterable[str]) -> Letter | None:
    kinds = set(notice_kinds)
    candidates = [
        letter for letter in letters.values()
        if letter.kind in kinds and letter.scope == meeting_id
        and letter.recipient is Recipient.CITIZEN
    ]
    return max(candidates, key=lambda letter: (letter.send_at, letter.letter_id), default=None)


def notice_reached(calendar: DanishCalendar, meeting: Meeting, letters: Mapping[str, Letter],
                   notice_kinds: Iterable[str]) -> bool:
    """The citizen had the meeting's current notice before the meeting day: it was sent,
    no failed receipt came back, and (paper post) it arrived before the day."""
    notice = latest_notice(letters, meeting.meeting_id, notice_kinds)
    if notice is None or notice.status is not Status.SENT:
        return False  # suppressed, cancelled, dead, or still waiting to go
    if notice.receipt_status == FAILED_RECEIPT:
        return False
    sent_on = calendar.local_date(notice.sent_at or notice.send_at)
    arrived = calendar.receipt_date(sent_on, by_post=notice.channel is ChannelName.PRINT)
    return arrived < calendar.local_date(meeting.starts_at)


def unnotified_by_standby(case: CaseState, meeting: Meeting, letters: Mapping[str, Letter],
                          notice_kinds: Iterable[str], now: datetime) -> bool:
    """A meeting still ahead whose latest notice standby kept from the citizen: suppressed,
    or cancelled by the event that granted standby."""
    if meeting.cancelled or meeting.starts_at <= now:
        return False
    notice = latest_notice(letters, meeting.meeting_id, notice_kinds)
    return notice is not None and kept_by_standby(case, notice)


def lost_to_standby(case: CaseState, meeting: Meeting, kind: str,
                    letters: Mapping[str, Letter], now: datetime) -> bool:
    """A meeting still ahead whose latest letter of ``kind`` (e.g. its reminder) standby
    kept from the citizen, whether or not the summons itself went before standby."""
    if meeting.cancelled or meeting.starts_at <= now:
        return False
    latest = latest_notice(letters, meeting.meeting_id, (kind,))
    return latest is not None and kept_by_standby(case, latest)


def kept_by_standby(case: CaseState, letter: Letter) -> bool:
    """Suppressed, or cancelled by the event that granted standby."""
    if letter.status is Status.SUPPRESSED:
        return True
    granted_by = case.facts.get("standby_granted_by")
    return letter.status is Status.CANCELLED and granted_by is not None \
        and letter.cancelled_by == granted_by
