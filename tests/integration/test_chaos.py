"""Chaos: worker and dispatcher processes SIGKILLed at random moments while a few thousand
letters come due and cases close; afterwards every letter was delivered exactly once at its
transport or was cancelled and never delivered. 0 lost, 0 doubled.

Bounded for CI (about two thousand letters, 20 rounds). The full-size run is the same test
with more letters and rounds, e.g.::

    NOTIFIER_CHAOS_LETTERS=20000 NOTIFIER_CHAOS_ROUNDS=200 \\
        .venv/bin/pytest -q -m integration tests/integration/test_chaos.py

``NOTIFIER_CHAOS_SEED`` replays one run's choice of victims and moments (the seed is in the
test's output when it fails). These variables are read here, before the tests' settings
are loaded; the notifier processes never see them.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest

from notifier.clock import SystemClock
from tests.integration.conftest import RedisServer
from tests.support.chaos import Ledger, Rig, cpr_lines, wait_for

pytestmark = pytest.mark.integration

LETTERS = int(os.environ.get("NOTIFIER_CHAOS_LETTERS", "2000"))
ROUNDS = int(os.environ.get("NOTIFIER_CHAOS_ROUNDS", "20"))
SEED = int(os.environ.get("NOTIFIER_CHAOS_SEED", str(random.SystemRandom().randrange(10**6))))
AT_ONCE = 0.6  # the share of letters due at once (cases' own letters); the rest come due
CLOSED = 0.1  # the share of cases closed during the run (their pending letters cancelled)


def test_sigkilled_workers_and_dispatchers_lose_and_double_nothing(
        own_redis: RedisServer, tmp_path: Path) -> None:
    """Given two `notifier worker` and two `notifier scheduler` processes, cases whose
    letters are all due and more letters coming due over the run, when for each round a
    random one of them is SIGKILLed at a random moment and started again, and some cases
    are closed meanwhile, then: no process died by itself; every letter ended sent or
    cancelled; a sent letter was accepted exactly once by its transport; a cancelled one
    never reached a transport, and is exactly what the closing events reported; a letter
    reached the platform twice only if it was uncertain (its worker died after the request
    left) and waited out its PKO_PostStatus, with the same ids; a mail twice only after a
    second worker took it over."""
    print(f"chaos: {LETTERS} letters, {ROUNDS} rounds, NOTIFIER_CHAOS_SEED={SEED}")
    chance = random.Random(SEED)
    rig = Rig(tmp_path, own_redis)
    try:
        own = rig.planned_by_opening()
        cases = rig.open_cases(max(1, int(LETTERS * AT_ONCE) // own))
        spread = LETTERS - own * len(cases)
        per_case, extra = divmod(spread, len(cases))
        run_seconds = ROUNDS * 1.5  # the mean time between kills
        start = SystemClock().now()
        for n, case_id in enumerate(cases):
            rig.add_spread(case_id, per_case + (n < extra), start, run_seconds, chance.random)
        rig.start("worker", 2)
        rig.start("scheduler", 2)
        closing = chance.sample(cases, max(1, int(len(cases) * CLOSED)))
        listed: set[str] = set()
        for round_ in range(ROUNDS):
            time.sleep(chance.uniform(0.5, 2.5))
            # A victim that is running: killing one still importing proves little.
            wait_for(lambda: bool(rig.running()), 60, rig.progress)
            rig.kill(chance.choice(rig.running()))
            for case_id in closing[round_::ROUNDS]:
                listed |= rig.close_case(case_id)
        wait_for(rig.settled, 120 + LETTERS / 10, rig.progress)
        assert rig.crashed() == []
        ledger = Ledger.of(rig, listed)
        print("chaos outcome:", ledger.summary(), {p.name: p.kills for p in rig.procs})
        assert ledger.problems() == []
        # Each close also plans the citizen's closing letter (case_closed, issue 11).
        assert len(ledger.letters) == LETTERS + len(closing)
        assert {p.role for p in rig.procs if p.kills} == {"worker", "scheduler"}
        assert cpr_lines(rig.logs()) == []
    finally:
        rig.close()
