"""The cancellation race, deterministically: a cancelling event against a letter being
claimed, taken and sent, at every point where the two can interleave.

The guarantee (applying an event and ``begin_send`` are each one atomic step in Redis, so
Redis puts them in an order; apply_event WATCHes the case's letters and re-plans when a
letter changes under it):

1. If the event's transaction commits before any worker took the letter (``queued`` ->
   ``sending``), the letter is ``cancelled`` in that same transaction, the event's result
   (``Applied.cancelled``) lists it, and no channel is ever handed it: not before (nobody
   took it) and not after (every later take sees ``cancelled``).
2. If a worker took the letter first, the event's result does not list it, the letter is
   not marked cancelled, and it is sent (it may already be at the channel). That holds
   for good: a letter that was ``sending`` once may have reached its channel, so when its
   worker dies and the reaper hands it to another worker it stays uncancellable.

So a letter is never both reported cancelled and handed to a channel.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import fakeredis
import pytest

from notifier.channels.base import Outgoing
from notifier.clock import SimulatedClock
from notifier.intake.events import Event
from notifier.models import CaseState, ChannelName, Letter, Receipt, Status
from notifier.planning.planner import Plan, Planner
from notifier.runtime import Runtime, build_runtime
from notifier.settings import Settings
from notifier.store import Applied
from tests.conftest import event, local, opening_event

Hook = Callable[[], object]


class WorkerDied(BaseException):
    """A SIGKILL stand-in: nothing in the worker catches it, nothing is recorded."""


@dataclass
class HookChannel:
    """The Channel seam: records every handover and runs hooks just before and after it."""

    name: ChannelName
    wants_pdf: bool = False
    handed: list[str] = field(default_factory=list)
    before: Hook | None = None
    after: Hook | None = None

    def deliver(self, outgoing: Outgoing) -> Receipt:
        before, self.before = self.before, None  # each hook fires once
        if before:
            before()
        self.handed.append(outgoing.letter.letter_id)
        after, self.after = self.after, None
        if after:
            after()
        return Receipt(self.name.value, f"test:{outgoing.letter.letter_id}", outgoing.created)

    def close(self) -> None:
        pass


class InterruptedPlanner(Planner):
    """A planner during whose first planning another process commits ``interloper``: the
    window between apply_event reading the case and committing its transaction."""

    def __init__(self, planner: Planner, interloper: Hook) -> None:
        super().__init__(planner.rules, planner.calendar)
        self.interloper: Hook | None = interloper

    def apply(self, case: CaseState | None, letters: Mapping[str, Letter], event: Event,
              now: datetime) -> Plan:
        interloper, self.interloper = self.interloper, None
        if interloper:
            interloper()
        return super().apply(case, letters, event, now)


@dataclass
class Race:
    runtime: Runtime
    channel: HookChannel
    letter_id: str
    cancelling: Event
    applied: Applied | None = None

    @property
    def now(self) -> datetime:
        return self.runtime.clock.now()

    def claim(self) -> None:
        now = self.now
        self.runtime.store.claim_due(now, now + timedelta(minutes=5), 100)

    def deliver(self) -> None:
        self.runtime.deliverer.deliver(self.letter_id)

    def accept(self, planner: Planner | None = None) -> None:
        self.applied = self.runtime.store.apply_event(
            self.cancelling, planner or self.runtime.planner, self.now)

    def crash_delivering(self) -> None:
        with pytest.raises(WorkerDied):
            self.deliver()

    def lease_runs_out(self) -> None:
        clock = self.runtime.clock
        assert isinstance(clock, SimulatedClock)
        clock.advance(timedelta(seconds=self.runtime.settings.lease_seconds + 1))
        now = self.now
        self.runtime.store.reap_expired(now, now + timedelta(minutes=5), 100)


def _dies() -> None:
    raise WorkerDied


# Each interleaving: the steps in order, and whether the event got there first.
INTERLEAVINGS: dict[str, tuple[Callable[[Race], None], bool]] = {
    "event, then claim and send": (lambda r: (r.accept(), r.claim(), r.deliver()), True),
    "claim, event, send": (lambda r: (r.claim(), r.accept(), r.deliver()), True),
    "claim commits while the event is planned": (
        lambda r: (r.accept(InterruptedPlanner(r.runtime.planner, r.claim)), r.deliver()),
        True),
    "worker takes and sends while the event is planned": (
        lambda r: (r.claim(), r.accept(InterruptedPlanner(r.runtime.planner, r.deliver))),
        False),
    "event while the worker holds it, before the handover": (
        lambda r: (r.claim(), setattr(r.channel, "before", r.accept), r.deliver()), False),
    "event right after the handover, before it is recorded": (
        lambda r: (r.claim(), setattr(r.channel, "after", r.accept), r.deliver()), False),
    "event after it was sent": (lambda r: (r.claim(), r.deliver(), r.accept()), False),
    "worker dies after the handover; reaped; event; another worker": (
        lambda r: (r.claim(), setattr(r.channel, "after", _dies), r.crash_delivering(),
                   r.lease_runs_out(), r.accept(), r.deliver()), False),
    "worker dies before the handover; reaped; event; another worker": (
        lambda r: (r.claim(), setattr(r.channel, "before", _dies), r.crash_delivering(),
                   r.lease_runs_out(), r.accept(), r.deliver()), False),
    "stale duplicate message after the event": (
        lambda r: (r.claim(), r.accept(), r.deliver(), r.deliver()), True),
}

# (letter kind raced, the event that cancels it, when the letter is due)
RACES = {
    "case_closed vs information_form": ("information_form", "case_closed",
                                        {"closed_on": "2026-11-23", "reason": "recovered"},
                                        "2026-11-23 10:15"),
    "form_returned vs reminder": ("information_form_reminder", "information_form_returned",
                                  {"returned_on": "2026-11-26"}, "2026-11-26 09:00"),
}


def _race(settings: Settings, race: str) -> Race:
    kind, type_, data, due = RACES[race]
    clock = SimulatedClock(local("2026-11-23 10:15"))
    channels = {name: HookChannel(name) for name in ChannelName}
    runtime = build_runtime(settings, clock=clock, client=fakeredis.FakeRedis(),
                            channels=dict(channels))
    opened = runtime.store.apply_event(opening_event(), runtime.planner, clock.now())
    target = next(x for x in opened.planned if x.kind == kind)
    assert target.send_at == local(due)
    for earlier in sorted((x for x in opened.planned if x.send_at < target.send_at),
                          key=lambda x: x.send_at):  # the form itself went out on its day
        clock.set(earlier.send_at)
        runtime.store.claim_due(clock.now(), clock.now() + timedelta(minutes=5), 100)
        assert runtime.deliverer.deliver(earlier.letter_id) is Status.SENT
    clock.set(local(due))
    channels[target.channel].handed.clear()
    cancelling = event("evt-2", type_, local(due).isoformat(), data)
    return Race(runtime, channels[target.channel], target.letter_id, cancelling)


@pytest.mark.parametrize("race", sorted(RACES))
@pytest.mark.parametrize("interleaving", sorted(INTERLEAVINGS))
def test_cancelled_is_never_handed_over_and_handed_over_is_never_cancelled(
        settings: Settings, race: str, interleaving: str) -> None:
    """Given a letter due and an event that cancels it, for each way the event's commit
    can interleave with the claim, the take (``sending``), the handover to the channel and
    the record: if the event got there first the letter is listed as cancelled, ends
    cancelled and was never handed over; otherwise it is not listed, ends sent and every
    handover carried its one letter id."""
    steps, event_first = INTERLEAVINGS[interleaving]
    r = _race(settings, race)
    steps(r)
    assert r.applied is not None and not r.applied.duplicate
    listed = r.letter_id in {x.letter_id for x in r.applied.cancelled}
    letter = r.runtime.store.letter(r.letter_id)
    assert letter is not None
    if event_first:
        assert listed and letter.status is Status.CANCELLED
        assert letter.cancelled_by == "evt-2"
        assert r.letter_id not in r.channel.handed
    else:
        assert not listed and letter.status is Status.SENT
        assert set(r.channel.handed) == {r.letter_id}
    # The close event's own letter (case_closed, issue 11) may be claimed; the raced one not.
    inflight = {m.decode() for m in r.runtime.store.redis.zrange("notifier:inflight", 0, -1)}
    assert r.letter_id not in inflight and r.letter_id not in _due(r)
    assert inflight <= {x.letter_id for x in r.applied.planned}


def _due(r: Race) -> set[str]:
    return {m.decode() for m in r.runtime.store.redis.zrange("notifier:due", 0, -1)}
