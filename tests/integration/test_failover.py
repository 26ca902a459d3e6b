"""Redis Sentinel failover (issue 15): a primary, a replica and three `redis-sentinel`
processes; the API, two schedulers and two workers on them; events posted continuously
while letters come due; the primary SIGKILLed mid-run, round after round.

Afterwards every event that got a 202 is in the store, every letter was delivered exactly
once at its transport or cancelled and never delivered, and no notifier process needed a
restart. The rounds are bounded for CI; ``NOTIFIER_FAILOVER_ROUNDS`` runs more and
``NOTIFIER_FAILOVER_SEED`` replays a run's moments (read here, never by the processes).

The second test is the guarantee's edge: what WAIT buys. A plain SIGKILL of the primary on
loopback rarely loses anything even without WAIT (the replica is a fraction of a
millisecond behind), so it uses the case that does lose: the replica is down while the
primary keeps acknowledging, then the primary dies and the replica comes back and is
promoted. Without WAIT the 202s of that interval are gone; with WAIT they were 503s.
"""

from __future__ import annotations

import os
import random
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
import redis

from notifier.clock import SystemClock
from notifier.models import Status
from notifier.store.replication import Durability, NotReplicated
from tests.integration.conftest import RedisServer, require_redis_server
from tests.integration.test_api_helpers import SYSTEM, TOKENS, ApiProcess, opening
from tests.support.chaos import Ledger, Rig, cpr_lines, wait_for
from tests.support.sentinel import SENTINEL, SentinelCluster

pytestmark = pytest.mark.integration

ROUNDS = int(os.environ.get("NOTIFIER_FAILOVER_ROUNDS", "3"))
SEED = int(os.environ.get("NOTIFIER_FAILOVER_SEED",
                          str(random.SystemRandom().randrange(10**6))))
CASES = 30  # opened before the run: 6 letters each, all due at once
SPREAD = 150  # more letters coming due during the run


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[SentinelCluster]:
    require_redis_server()
    if SENTINEL is None:
        if os.environ.get("NOTIFIER_REQUIRE_INTEGRATION"):
            pytest.fail("redis-sentinel is not installed but NOTIFIER_REQUIRE_INTEGRATION is set")
        pytest.skip("redis-sentinel not installed (apt-get install redis-sentinel)")
    found = SentinelCluster(tmp_path / "cluster")
    try:
        found.start()
        yield found
    finally:
        found.close()


def test_a_sentinel_that_cannot_start_is_named_with_its_reason(tmp_path: Path) -> None:
    """Given a port one Sentinel is to use held by a client connection, when the cluster
    starts, then it fails at once naming that Sentinel, its port and the log line that says
    why, instead of waiting for three Sentinels to agree (the CI failure this replaced
    said only that it had timed out)."""
    require_redis_server()
    if SENTINEL is None:
        pytest.skip("redis-sentinel not installed (apt-get install redis-sentinel)")
    found = SentinelCluster(tmp_path / "cluster")
    try:
        with socket.create_server(("127.0.0.1", 0)) as other, socket.socket() as client:
            client.bind(("127.0.0.1", found.sentinel_ports[1]))
            client.connect(other.getsockname())  # as an outgoing connection holds its port
            started = time.monotonic()
            with pytest.raises(AssertionError) as failed:
                found.start()
            waited = time.monotonic() - started
    finally:
        found.close()
    message = str(failed.value)
    assert f"Sentinel 1 on port {found.sentinel_ports[1]} did not start" in message
    assert "Address already in use" in message
    assert waited < 25, "it failed by the 30 s agreement timeout, not at once"


def test_a_wait_on_a_primary_demoted_meanwhile_is_not_replicated(tmp_path: Path) -> None:
    """Given a real redis-server with a key and no replica, and a confirm blocked in
    WAIT 1 on it, when the server is made a replica (as Sentinel demotes an old primary),
    then Redis ends the WAIT with UNBLOCKED and confirm raises NotReplicated saying so:
    the API's 503 and the workers' retry, not an unexpected error."""
    require_redis_server()
    servers = [RedisServer(tmp_path / name) for name in ("a", "b")]
    for server in servers:
        server.directory.mkdir()
        server.start()
    client = redis.Redis(port=servers[0].port)
    client.set("k", "v")
    raised: list[BaseException] = []

    def confirm() -> None:
        try:
            Durability(1, 20.0).confirm(client, ["k"])
        except NotReplicated as error:
            raised.append(error)

    admin = redis.Redis(port=servers[0].port)
    waiting = threading.Thread(target=confirm)
    waiting.start()
    try:
        wait_for(lambda: any(c["cmd"] == "wait" for c in admin.client_list()),
                 10, lambda: "the confirm to block in WAIT")
        admin.replicaof("127.0.0.1", servers[1].port)
    finally:
        waiting.join(15)
    assert not waiting.is_alive(), "the WAIT ran on to its timeout"
    assert raised and "demoted" in str(raised[0]), raised


@dataclass
class Feeder:
    """A case system posting a new case's opening event every few milliseconds to the API;
    on a 503 or a refused connection it retries the same event (same id) until a 202."""

    api: str
    prefix: str
    # event id -> (when the successful try started, when its 202 came, letters planned)
    acked: dict[str, tuple[float, float, list[str]]] = field(default_factory=dict)
    refused: list[float] = field(default_factory=list)  # when a try got no 202
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        with httpx.Client(timeout=10) as client:
            n = 0
            while not self.stop.is_set():
                self._post(client, opening(f"SDP-{self.prefix}-{n:05d}"))
                n += 1
                time.sleep(0.05)

    def _post(self, client: httpx.Client, event: dict[str, object]) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            try:
                response = client.post(self.api + "/events", json=event, headers=SYSTEM)
            except httpx.TransportError:
                response = None
            if response is not None and response.status_code == 202:
                body = response.json()[0] if isinstance(response.json(), list) else \
                    response.json()
                self.acked[str(event["event_id"])] = (started, time.monotonic(),
                                                      list(body.get("planned", [])))
                return
            assert response is None or response.status_code == 503, response.text
            self.refused.append(time.monotonic())
            time.sleep(0.1)

    def acked_between(self, start: float, end: float) -> list[str]:
        return [e for e, (_, at, _) in self.acked.items() if start <= at <= end]

    def window(self, killed_at: float) -> tuple[float, float]:
        """(seconds from the last 202 before the kill to the first 202 of a request sent
        after it, seconds from the kill to that 202): the case system's unavailability."""
        before = max((at for _, at, _ in self.acked.values() if at <= killed_at),
                     default=killed_at)
        after = min((at for sent, at, _ in self.acked.values() if sent > killed_at),
                    default=float("inf"))
        return after - before, after - killed_at


def start_feeder(feeder: Feeder) -> threading.Thread:
    thread = threading.Thread(target=feeder.run, daemon=True)
    thread.start()
    return thread


ENDED = (Status.SENT, Status.CANCELLED, Status.DEAD)


def settled(rig: Rig, cutoff: list[datetime]) -> bool:
    """Every letter planned to go by now has ended (sent, cancelled or dead) and nothing is
    in flight; API-planned letters may be due later. A letter given back during the
    failover (a take no replica confirmed, a transient error) is due again a little later
    than planned, so "nothing due by now" is not enough. Uncertain letters the platform
    has are settled by their PKO_PostStatus first (issue 12). If settled, ``cutoff`` gets
    the moment checked."""
    rig.push_statuses()
    store = rig.runtime.store
    now = SystemClock().now()
    if store.inflight_count():
        return False
    if any(x.send_at <= now and x.status not in ENDED for x in rig.letters().values()):
        return False
    cutoff.append(now)
    return True


def test_primary_killed_round_after_round_loses_and_doubles_nothing(
        cluster: SentinelCluster, tmp_path: Path) -> None:
    """Given the API, two schedulers and two workers on Sentinel with WAIT 1, a case system
    posting events and letters coming due, when the primary is SIGKILLed in each round,
    Sentinel promotes the replica and the old primary is restarted, then: the pair is
    whole again after each round (one primary, the other its replica in sync, Sentinel's
    doing); no notifier process exited; every event that got a 202 is
    in the store with the letters it planned; every due letter was delivered exactly once
    at its transport or was cancelled (and listed so) and never delivered; a letter not yet
    due never reached a transport; no process logged a traceback."""
    print(f"failover: {ROUNDS} rounds, NOTIFIER_FAILOVER_SEED={SEED}")
    chance = random.Random(SEED)
    rig = Rig(tmp_path, cluster.servers[0], redis_env=cluster.env(wait_replicas=1))
    api = ApiProcess(["api"], {**rig.env, "NOTIFIER_API_TOKENS": TOKENS}, tmp_path / "api.log")
    feeder = Feeder(api.url, "HA")
    thread = start_feeder(feeder)
    try:
        cases = rig.open_cases(CASES)
        # Every letter here is due at once, so a form delayed by a failover (its take not
        # confirmed: left to its lease) could meet its own overdue alert before it was sent,
        # and the alert's deadline rule refers to the sent form. In real time the alert
        # comes weeks later; here the forms are returned, which cancels reminder and alert.
        listed: set[str] = set()
        for case_id in cases:
            listed |= rig.form_returned(case_id)
        run_seconds = ROUNDS * 15.0  # a round: kill, promote, the old primary rejoins
        start = SystemClock().now()
        spread_end = start + timedelta(seconds=run_seconds + 1)
        for case_id in cases:
            rig.add_spread(case_id, SPREAD // CASES, start, run_seconds, chance.random)
        rig.start("worker", 2)
        rig.start("scheduler", 2)
        closing = chance.sample(cases, ROUNDS)
        windows = []
        for round_ in range(ROUNDS):
            time.sleep(chance.uniform(1.0, 3.0))
            old = cluster.primary()
            killed_at = time.monotonic()
            old.kill()
            new = cluster.wait_promoted(old)
            promoted = time.monotonic() - killed_at
            # As its supervisor would: on its port, from its AOF, with its own arguments:
            # server a still believing it is the primary (Sentinel demotes it when it sees
            # it), server b a replica of a (it finds the primary moved and follows Sentinel).
            old.start()
            paired = cluster.wait_paired()
            wait_for(lambda at=killed_at: feeder.window(at)[1] < float("inf"),
                     60, lambda: "no 202 after the failover")
            gap, down = feeder.window(killed_at)
            windows.append((round(promoted, 2), round(down, 2), round(gap, 2)))
            print(f"round {round_ + 1}: primary :{old.port} killed, :{new.port} promoted after "
                  f"{promoted:.2f} s; the API answered 202 again {down:.2f} s after the kill "
                  f"({gap:.2f} s between 202s); then :{paired.port} primary, "
                  f":{cluster.other(paired).port} its replica")
            listed |= rig.close_case(closing[round_])
        time.sleep(1.0)
        feeder.stop.set()
        thread.join(30)
        wait_for(lambda: SystemClock().now() > spread_end, run_seconds, rig.progress)
        cutoff: list[datetime] = []
        wait_for(lambda: settled(rig, cutoff), 120, rig.progress)
        assert rig.crashed() == [] and api.process.poll() is None, "a process exited"
        store = rig.runtime.store
        lost = [e for e in feeder.acked if not store.redis.exists(f"notifier:event:{e}")]
        assert lost == [], f"events acknowledged with 202 and lost: {lost}"
        planned = {x for _, _, ids in feeder.acked.values() for x in ids}
        letters = rig.letters()
        assert planned <= set(letters), "letters an acknowledged event planned are gone"
        ledger = Ledger.of(rig, listed)
        later = {i for i, x in letters.items()
                 if x.status is Status.SCHEDULED and x.send_at > cutoff[0]}
        assert [i for i in later if ledger.received[i]] == []
        due = Ledger({i: x for i, x in letters.items() if i not in later},
                     received=ledger.received, platform=ledger.platform,
                     accepted=ledger.accepted, listed_cancelled=listed)
        print("failover outcome:", {"rounds": ROUNDS, "events acknowledged": len(feeder.acked),
                                    "tries refused (503 or no answer)": len(feeder.refused),
                                    "letters": len(letters), "not yet due": len(later),
                                    **due.summary()},
              "windows (promoted, 202 again after kill, between 202s):", windows)
        assert due.problems() == []
        assert feeder.refused, "the failovers never reached the case system"
        assert cpr_lines(rig.logs()) == []
        # riding out the failovers took warnings, not a traceback storm
        logs = [*rig.logs(), ("api", api.log.read_text(encoding="utf-8"))]
        assert [name for name, text in logs if "Traceback" in text] == []
    finally:
        feeder.stop.set()
        api.stop()
        rig.close()


@pytest.mark.parametrize("wait_replicas", [1, 0])
def test_what_wait_keeps_when_the_promoted_replica_was_behind(
        cluster: SentinelCluster, tmp_path: Path, wait_replicas: int) -> None:
    """Given the API on Sentinel and a case system posting events, when the replica is
    SIGKILLed, the primary keeps answering for a while, then the primary is SIGKILLed and
    the replica restarts (from its own, older AOF) and is promoted: with WAIT 1 every event
    that got a 202 is on the promoted replica, because while the replica was away the API
    answered 503; with WAIT 0 the 202s of that interval are lost (the edge of the
    guarantee, shown, not hidden)."""
    rig = Rig(tmp_path, cluster.servers[0], redis_env=cluster.env(wait_replicas))
    api = ApiProcess(["api"], {**rig.env, "NOTIFIER_API_TOKENS": TOKENS}, tmp_path / "api.log")
    feeder = Feeder(api.url, f"EDGE{wait_replicas}")
    thread = start_feeder(feeder)
    try:
        wait_for(lambda: len(feeder.acked) >= 10, 60, lambda: "no events acknowledged")
        primary, replica = cluster.primary(), cluster.other(cluster.primary())
        replica.kill()
        replica_gone = time.monotonic()

        def primary_alone_long_enough() -> bool:
            # At least 2 s, and until the API has shown what it does with the replica away
            # (a busy API may need longer): WAIT 1 refused a try (its 503 comes after the
            # 1 s WAIT), WAIT 0 acknowledged five tries begun after the replica went.
            if time.monotonic() < replica_gone + 2.0:
                return False
            if wait_replicas:
                return any(t > replica_gone for t in list(feeder.refused))
            return sum(sent > replica_gone for sent, _, _ in list(feeder.acked.values())) >= 5

        wait_for(primary_alone_long_enough, 60,
                 lambda: f"the API's answers with the replica away (WAIT {wait_replicas})")
        primary.kill()
        primary_gone = time.monotonic()
        replica.start()
        cluster.wait_promoted(primary)
        time.sleep(1.0)  # (with WAIT 1 the API answers 503 until a replica rejoins)
        feeder.stop.set()
        thread.join(30)
        store = rig.runtime.store
        lost = [e for e in feeder.acked if not store.redis.exists(f"notifier:event:{e}")]
        # Sent while the replica was away and acknowledged before the primary died: by
        # when each try began, as a 202 for a write made before a kill may arrive after it
        # from a busy API (seen once under load).
        alone = [e for e, (sent, at, _) in feeder.acked.items()
                 if replica_gone < sent and at <= primary_gone]
        print(f"WAIT {wait_replicas}: {len(feeder.acked)} events acknowledged, "
              f"{len(alone)} while the replica was away, {len(lost)} of them lost")
        if wait_replicas:
            assert lost == [] and alone == []
            assert [t for t in feeder.refused if replica_gone < t < primary_gone]
        else:
            assert lost, "WAIT 0 lost nothing: the edge moved"
            # Only writes the old primary took are lost: each try began before it died,
            # and was answered after the replica went (or a moment before: asynchronous
            # replication is exactly a moment behind).
            late = {e: feeder.acked[e][:2] for e in lost
                    if not (feeder.acked[e][0] <= primary_gone
                            and feeder.acked[e][1] >= replica_gone - 1.0)}
            assert not late, (late, replica_gone, primary_gone)
        assert api.process.poll() is None
    finally:
        feeder.stop.set()
        api.stop()
        rig.close()
