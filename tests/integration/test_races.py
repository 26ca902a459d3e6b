"""The cancellation race with real processes: ``case_closed`` and
``information_form_returned`` accepted while two `notifier worker` processes are claiming,
taking and sending the very letters they cancel.

The exact guarantee is stated and proved interleaving by interleaving in
tests/unit/test_cancel_race.py; here it is checked statistically, counting at the
transports: a letter an event's result lists as cancelled ends cancelled and never reached
a transport; every other letter was delivered exactly once; and the race really happened
(cases whose letters ended partly sent, partly cancelled).
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from notifier.models import Status
from tests.integration.conftest import RedisServer
from tests.support.chaos import Ledger, Rig, cpr_lines, wait_for

pytestmark = pytest.mark.integration

CASES = 100


def test_events_accepted_mid_delivery_never_lead_to_a_send(redis_server: RedisServer,
                                                          redis_url: str,
                                                          tmp_path: Path) -> None:
    """Given 100 cases whose six letters each are all due, two workers and two schedulers
    delivering them to a gateway that takes 0.1 s per message, when every case gets a
    case_closed or an information_form_returned at a random moment meanwhile, then each
    event's result lists exactly the letters that ended cancelled, none of those reached a
    transport, all others were delivered once, and some closed cases ended with letters on
    both sides of their closing."""
    chance = random.Random(CASES)
    rig = Rig(tmp_path, redis_server)
    rig.gateway.default, rig.gateway.slow_seconds = "slow", 0.1  # a wide 'sending' window
    try:
        cases = rig.open_cases(CASES)
        rig.start("worker", 2)
        rig.start("scheduler", 2)
        wait_for(lambda: rig.gateway.received.total() > 0, 60, rig.progress)
        listed: set[str] = set()
        closed = set()
        for case_id in chance.sample(cases, len(cases)):
            if chance.random() < 0.5:
                listed |= rig.close_case(case_id)
                closed.add(case_id)
            else:
                listed |= rig.form_returned(case_id)
            time.sleep(chance.uniform(0, 0.08))
        wait_for(rig.settled, 180, rig.progress)
        assert rig.crashed() == []
        ledger = Ledger.of(rig, listed)
        assert ledger.problems() == []  # including: cancelled == what the results listed
        by_case: dict[str, set[Status]] = {}
        for letter in ledger.letters.values():
            by_case.setdefault(letter.case_id, set()).add(letter.status)
        mixed = [c for c in closed if {Status.SENT, Status.CANCELLED} <= by_case[c]]
        print("race outcome:", ledger.summary(), f"{len(mixed)} closed cases on both sides")
        assert mixed, "no case_closed landed while its case's letters were being delivered"
        assert cpr_lines(rig.logs()) == []
    finally:
        rig.close()
