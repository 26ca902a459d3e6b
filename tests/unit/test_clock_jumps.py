"""Clock faults at the dispatcher and deliverer: jumps forward and back, lost and doubled
messages, and the two DST weekends of Europe/Copenhagen never send a letter twice, never
skip one, and never send one before it is due."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import fakeredis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from notifier.channels.base import Outgoing
from notifier.clock import SimulatedClock
from notifier.dispatch.dispatcher import Dispatcher
from notifier.identifiers import letter_id
from notifier.models import ChannelName, Letter, Receipt, Recipient, Status
from notifier.runtime import Runtime, build_runtime
from notifier.settings import load_settings
from tests.conftest import local, opening_event
from tests.support.env import without_notifier_env

STEP = timedelta(minutes=10)


@dataclass
class CountingChannel:
    """The Channel seam: counts handovers per letter id and notes the clock at each."""

    name: ChannelName
    clock: SimulatedClock
    wants_pdf: bool = False
    handed: Counter[str] = field(default_factory=Counter)
    at: dict[str, datetime] = field(default_factory=dict)

    def deliver(self, outgoing: Outgoing) -> Receipt:
        self.handed[outgoing.letter.letter_id] += 1
        self.at[outgoing.letter.letter_id] = self.clock.now()
        return Receipt(self.name.value, "test", outgoing.created)

    def close(self) -> None:
        pass


@dataclass
class Queue:
    """The broker seam of the dispatcher: what it enqueued, in order."""

    ids: list[str] = field(default_factory=list)

    def enqueue(self, message: Any) -> None:
        self.ids.append(message.args[0])

    def take(self) -> list[str]:
        taken, self.ids = self.ids, []
        return taken


class Harness:
    """One runtime on fakeredis with a simulated clock, reset per example."""

    def __init__(self, outbox: Path) -> None:
        self.clock = SimulatedClock(local("2026-01-05 08:00"))
        self.channels = {name: CountingChannel(name, self.clock) for name in ChannelName}
        self.runtime: Runtime = build_runtime(
            load_settings(outbox_dir=outbox), clock=self.clock, client=fakeredis.FakeRedis(),
            channels=dict(self.channels))
        self.queue = Queue()
        self.dispatcher = Dispatcher(self.runtime.store, self.queue,  # type: ignore[arg-type]
                                     self.clock, self.runtime.settings)

    @property
    def handed(self) -> Counter[str]:
        return sum((c.handed for c in self.channels.values()), Counter[str]())

    @property
    def handed_at(self) -> dict[str, datetime]:
        return {i: t for c in self.channels.values() for i, t in c.at.items()}

    def reset(self, start: datetime) -> None:
        self.runtime.client.flushall()
        for channel in self.channels.values():
            channel.handed.clear()
            channel.at.clear()
        self.queue.take()
        self.clock.set(start)

    def open_case(self) -> None:
        """A case to hang letters on; its own letters are taken out of the due set so the
        test controls exactly which letters are due when."""
        store = self.runtime.store
        applied = store.apply_event(opening_event(), self.runtime.planner, self.clock.now())
        store.redis.zrem("notifier:due", *[x.letter_id for x in applied.planned])

    def add(self, send_at: datetime, name: str) -> str:
        letter = Letter(letter_id=letter_id("clock-test", name), case_id="SDP-2026-0042",
                        kind="broad_assessment_notice", recipient=Recipient.CITIZEN,
                        channel=ChannelName.DIGITAL_POST, send_at=send_at,
                        status=Status.SCHEDULED, cause="evt-1")
        self.runtime.store.add_letter(letter, self.clock.now(), why="test")
        return letter.letter_id

    def tick_and_deliver(self, *, lose: bool = False, doubled: bool = False) -> None:
        """A tick; its messages are delivered (twice if ``doubled``), or lost as if the
        dispatcher died right after claiming (``lose``)."""
        self.dispatcher.tick()
        for message in self.queue.take():
            if lose:
                continue
            for _ in range(2 if doubled else 1):
                self.runtime.deliverer.deliver(message)

    def drain(self) -> None:
        """Far past every due time and lease: whatever is left goes out."""
        lease = timedelta(seconds=self.runtime.settings.lease_seconds)
        for _ in range(3):
            self.clock.advance(lease + STEP)
            self.tick_and_deliver()


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    with without_notifier_env():
        yield Harness(tmp_path_factory.mktemp("outbox"))


def _assert_each_sent_once_and_not_early(h: Harness, due: dict[str, datetime]) -> None:
    assert dict(h.handed) == dict.fromkeys(due, 1)
    handed_at = h.handed_at
    for letter_id_, when in due.items():
        assert handed_at[letter_id_] >= when, "sent before it was due"
        letter = h.runtime.store.letter(letter_id_)
        assert letter is not None and letter.status is Status.SENT
    assert h.runtime.store.due_count() == 0 and h.runtime.store.inflight_count() == 0


@settings(deadline=None, max_examples=60,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(
    offsets=st.lists(st.integers(0, 10 * 24 * 60), min_size=1, max_size=15),
    jumps=st.lists(st.tuples(st.integers(-3 * 24 * 60, 3 * 24 * 60),
                             st.sampled_from(["ok", "ok", "ok", "lose", "doubled"])),
                   max_size=25),
)
def test_clock_jumps_never_double_or_skip(harness: Harness, offsets: list[int],
                                          jumps: list[tuple[int, str]]) -> None:
    """Given letters due over ten days, when the clock jumps forward and back by up to
    three days at a time, with ticks whose messages are sometimes lost (dispatcher died
    after claiming) or doubled, then every letter is handed to its channel exactly once,
    never before its due time, and nothing is left due or in flight."""
    start = local("2026-01-05 08:00")
    harness.reset(start)
    harness.open_case()
    due = {}
    for n, minutes in enumerate(offsets):
        when = start + timedelta(minutes=minutes)
        due[harness.add(when, str(n))] = when
    for minutes, fate in jumps:
        harness.clock.advance(timedelta(minutes=minutes))
        harness.tick_and_deliver(lose=fate == "lose", doubled=fate == "doubled")
    harness.clock.set(max(harness.clock.now(), start + timedelta(days=11)))
    harness.drain()
    _assert_each_sent_once_and_not_early(harness, due)


# --- DST: the last Sundays of March and October 2026 in Europe/Copenhagen ---------------
DST_WEEKENDS = {
    # name: (Friday it starts, the Sunday of the change, first absence day for a case whose
    # first_meeting_due falls at 09:00 on the Monday after the change)
    "spring forward": (date(2026, 3, 27), date(2026, 3, 29), date(2026, 2, 16)),
    "fall back": (date(2026, 10, 23), date(2026, 10, 25), date(2026, 9, 14)),
}
WALL_TIMES = [time(0, 30), time(1, 59), time(2, 0), time(2, 30), time(2, 59), time(3, 0),
              time(3, 30), time(9, 0), time(23, 59)]


@pytest.mark.parametrize("weekend", sorted(DST_WEEKENDS))
def test_dst_weekend_sends_each_letter_once_at_its_wall_clock_time(harness: Harness,
                                                                   weekend: str) -> None:
    """Given letters at wall-clock times around the change (including 02:30, which does not
    exist in March and exists twice in October) on each day from Saturday to Monday, and
    a case whose rules put first_meeting_due at 09:00 on the Monday after, when the clock
    steps through the weekend in ten-minute ticks, then each is sent exactly once, within
    one tick of its instant, and the rule letter at 09:00 local on that Monday."""
    friday, sunday, first_absence = DST_WEEKENDS[weekend]
    calendar = harness.runtime.planner.calendar
    harness.reset(calendar.at_local(friday, time(10, 0)))
    opened = harness.runtime.store.apply_event(
        opening_event(data={"first_absence_day": first_absence.isoformat()}),
        harness.runtime.planner, harness.clock.now())
    monday = sunday + timedelta(days=1)
    meeting_due = next(x for x in opened.planned if x.kind == "first_meeting_due")
    assert calendar.local(meeting_due.send_at).replace(tzinfo=None) == datetime.combine(
        monday, time(9, 0))
    due = {x.letter_id: x.send_at for x in opened.planned if x.send_at < calendar.at_local(
        monday + timedelta(days=1), time(12, 0))}
    for day in (sunday - timedelta(days=1), sunday, monday):
        for wall in WALL_TIMES:
            when = calendar.at_local(day, wall)
            due[harness.add(when, f"{day}T{wall}")] = when
    end = calendar.at_local(monday + timedelta(days=1), time(12, 0))
    while harness.clock.now() < end:
        harness.tick_and_deliver()
        harness.clock.advance(STEP)
    assert dict(harness.handed) == dict.fromkeys(due, 1)
    for letter_id_, when in due.items():
        sent = harness.runtime.store.letter(letter_id_)
        assert sent is not None and sent.sent_at is not None
        assert when <= sent.sent_at < when + STEP, (letter_id_, when, sent.sent_at)
    assert harness.runtime.store.letter(meeting_due.letter_id).sent_at is not None
