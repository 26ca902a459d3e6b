"""Issue 15 without servers: the Sentinel settings, WAIT's confirmation logic, and where the
store and the deliverer ask for it (the real failover is tests/integration/test_failover.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import fakeredis
import pytest
import redis
from redis.sentinel import SentinelConnectionPool

from notifier.api.intake import alone, ingest
from notifier.clock import SimulatedClock
from notifier.delivery.deliverer import UNTAKE_DELAY
from notifier.errors import ConfigError
from notifier.models import Status
from notifier.runtime import Runtime, build_runtime, redis_client
from notifier.settings import Settings, load_settings
from notifier.store.replication import Durability, NotReplicated, parse_sentinels
from tests.conftest import opening_event

SENTINELS = "10.0.0.1:26379,sentinel-b:26380"


# --- settings ----------------------------------------------------------------------------
def test_sentinels_imply_one_replica_to_confirm(clean_env: None) -> None:
    """With Sentinels configured, a write must reach 1 replica unless said otherwise; a
    plain URL confirms nothing by default; the setting overrides both."""
    with_sentinels = load_settings(redis_sentinels=SENTINELS)
    assert with_sentinels.replicas_to_confirm == 1 and not with_sentinels.embedded
    assert load_settings(redis_url="redis://h:6379/0").replicas_to_confirm == 0
    assert load_settings(redis_url="redis://h/0", redis_wait_replicas=2).replicas_to_confirm == 2
    assert load_settings(redis_sentinels=SENTINELS,
                         redis_wait_replicas=0).replicas_to_confirm == 0


def test_bad_sentinel_settings_are_named(clean_env: None) -> None:
    """A malformed Sentinel list, both a URL and Sentinels, WAIT on the embedded store, or
    a database number beside a URL stop the program with a message naming the variable."""
    with pytest.raises(ConfigError, match=r"NOTIFIER_REDIS_SENTINELS: .*'h:port' is not"):
        load_settings(redis_sentinels="a:1,h:port")
    with pytest.raises(ConfigError, match="not both"):
        load_settings(redis_url="redis://h/0", redis_sentinels=SENTINELS)
    with pytest.raises(ConfigError, match="embedded"):
        load_settings(redis_wait_replicas=1)
    with pytest.raises(ConfigError, match="names its database itself"):
        load_settings(redis_url="redis://h/0", redis_db=2)


def test_parse_sentinels_reads_hosts_and_ports() -> None:
    """host:port entries, spaces allowed, IPv6 in brackets."""
    assert parse_sentinels("a:1, [::1]:26379") == [("a", 1), ("::1", 26379)]


def test_sentinel_client_follows_the_named_master(clean_env: None) -> None:
    """Every process's client asks the Sentinels for the master by name (nothing connects
    until the first command)."""
    client = redis_client(load_settings(redis_sentinels=SENTINELS,
                                        redis_sentinel_master="jobcenter", redis_db=2))
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    assert pool.service_name == "jobcenter" and pool.connection_kwargs["db"] == 2


# --- WAIT --------------------------------------------------------------------------------
@dataclass
class ScriptedPipeline:
    """Records the commands; answers ``replies`` to execute(), an error as a reply (as
    redis-py does with ``raise_on_error=False``)."""

    replies: list[Any]
    commands: list[tuple[Any, ...]] = field(default_factory=list)

    def __enter__(self) -> ScriptedPipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def __getattr__(self, name: str) -> Any:
        return lambda *args: self.commands.append((name, *args))

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        assert raise_on_error is False  # errors are judged per reply
        return self.replies


@dataclass
class ScriptedClient:
    replies: list[Any]
    pipelines: list[ScriptedPipeline] = field(default_factory=list)

    def pipeline(self, transaction: bool = True) -> ScriptedPipeline:
        assert transaction is False  # WAIT must follow the probe on the same connection
        self.pipelines.append(ScriptedPipeline(self.replies))
        return self.pipelines[-1]


def test_confirm_checks_the_key_writes_then_waits_on_one_connection() -> None:
    """The key is checked, a probe written, then WAIT replicas timeout-in-ms: in that
    order, on one pipeline (one connection)."""
    client = ScriptedClient([2, 7, 1])
    Durability(1, 0.25).confirm(client, ["k1", "k2"])
    names = [c[0] for c in client.pipelines[0].commands]
    assert names == ["exists", "incr", "wait"]
    assert client.pipelines[0].commands[2] == ("wait", 1, 250)


@pytest.mark.parametrize("replies, why", [
    ([2, 7, 0], "0 of 1 replicas"),
    ([1, 7, 1], "1 of 2 keys are not on the primary"),
])
def test_confirm_refuses_what_it_cannot_promise(replies: list[int], why: str) -> None:
    """Too few replicas answered in time, or a key is missing on the primary that answered
    (a failover lost it): NotReplicated, which callers treat as Redis unavailable."""
    with pytest.raises(NotReplicated, match=why):
        Durability(1, 1.0).confirm(ScriptedClient(replies), ["k1", "k2"])


def test_a_wait_ended_by_a_demotion_is_not_replicated() -> None:
    """Given a primary demoted while our WAIT blocked on it (Redis answers the WAIT with
    an UNBLOCKED error), then confirm raises NotReplicated (the API's 503, a retry
    elsewhere), not an error no caller expects; any other error is raised as it came."""
    demoted = redis.ResponseError("UNBLOCKED force unblock from blocking operation, "
                                  "instance state changed (master -> replica?)")
    with pytest.raises(NotReplicated, match="WAIT ended early"):
        Durability(1, 1.0).confirm(ScriptedClient([1, 7, demoted]), ["k"])
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        Durability(1, 1.0).confirm(ScriptedClient([redis.ResponseError("WRONGTYPE"), 7, 1]),
                                   ["k"])
    with pytest.raises(redis.ResponseError, match="NOREPLICAS"):
        Durability(1, 1.0).confirm(ScriptedClient([1, 7, redis.ResponseError("NOREPLICAS")]),
                                   ["k"])


def test_confirm_of_a_field_compares_its_value() -> None:
    """For a status: the field must hold the promised value on the answering primary."""
    Durability(1, 1.0).confirm(ScriptedClient([b"sent", 1, 1]), ["l"], "status", "sent")
    with pytest.raises(NotReplicated, match="status: not on the primary"):
        Durability(1, 1.0).confirm(ScriptedClient([b"sending", 1, 1]), ["l"], "status", "sent")


def test_no_replicas_means_no_round_trip() -> None:
    """WAIT 0 (no replicas configured) costs nothing: no pipeline at all."""
    client = ScriptedClient([])
    Durability(0, 1.0).confirm(client, ["k"])
    assert client.pipelines == []


# --- where the store and the deliverer confirm --------------------------------------------
@dataclass(frozen=True)
class RecordingDurability(Durability):
    """Records what is confirmed; raises NotReplicated while ``fail`` holds entries."""

    calls: list[tuple[Sequence[str], str | None]] = field(default_factory=list)
    fail: list[str] = field(default_factory=list)

    def confirm(self, client: Any, keys: Sequence[str], field: str | None = None,
                value: str | None = None) -> None:
        self.calls.append((list(keys), value))
        if self.fail:
            raise NotReplicated(self.fail.pop())


@pytest.fixture
def runtime(settings: Settings, clock: SimulatedClock) -> Runtime:
    found = build_runtime(settings, clock=clock, client=fakeredis.FakeRedis())
    found.store.durability = RecordingDurability(1)
    return found


def test_an_event_and_its_duplicate_are_both_confirmed(runtime: Runtime) -> None:
    """An event is confirmed before apply_event returns, and so is a re-submission: after
    a 503 for an unconfirmed write the retry finds the event, and must confirm it too."""
    durability = runtime.store.durability
    assert isinstance(durability, RecordingDurability)
    event = opening_event()
    durability.fail.append("no replica")
    with pytest.raises(NotReplicated):
        runtime.store.apply_event(event, runtime.planner, runtime.clock.now())
    assert runtime.store.apply_event(event, runtime.planner, runtime.clock.now()).duplicate
    assert durability.calls == [(["notifier:event:evt-1"], None)] * 2


def test_a_batch_is_confirmed_once(runtime: Runtime) -> None:
    """A list of events from the API costs one WAIT, covering every event of it."""
    durability = runtime.store.durability
    assert isinstance(durability, RecordingDurability)
    events = [opening_event(event_id=f"e{n}", case_id=f"SDP-{n}") for n in range(3)]
    ingest(runtime.store, runtime.planner, events, runtime.clock.now(), alone)
    assert durability.calls == [([f"notifier:event:e{n}" for n in range(3)], None)]


def test_an_unconfirmed_take_sends_nothing(runtime: Runtime, settings: Settings,
                                          clock: SimulatedClock) -> None:
    """If the replicas cannot confirm that this worker took a letter, it does not send it:
    nothing reaches the outbox, the letter is due again a few seconds later and the take
    is not counted as an attempt; then it is sent once, and the sent record confirmed."""
    durability = runtime.store.durability
    assert isinstance(durability, RecordingDurability)
    runtime.store.apply_event(opening_event(), runtime.planner, runtime.clock.now())
    (letter_id,) = runtime.store.claim_due(clock.now(), clock.now(), 10)
    durability.fail.append("no replica")
    assert runtime.deliverer.deliver(letter_id) is Status.SCHEDULED
    assert not list(Path(settings.outbox_dir).rglob(f"{letter_id}*"))
    assert runtime.store.claim_due(clock.now(), clock.now(), 10) == []
    clock.advance(timedelta(seconds=UNTAKE_DELAY))
    assert runtime.store.claim_due(clock.now(), clock.now(), 10) == [letter_id]
    assert runtime.deliverer.deliver(letter_id) is Status.SENT
    sent = runtime.store.letter(letter_id)
    assert sent is not None and sent.attempts == 1
    assert [value for _, value in durability.calls[-3:]] == ["sending", "sending", "sent"]


def test_a_cancel_is_confirmed_before_it_is_answered(runtime: Runtime) -> None:
    """A caseworker's cancel is confirmed on the replicas (a cancel lost in a failover
    would let the letter go out); if it cannot be, the request fails (503) instead of
    answering 'cancelled'."""
    from notifier.api.letters import cancel_letter

    durability = runtime.store.durability
    assert isinstance(durability, RecordingDurability)
    runtime.store.apply_event(opening_event(), runtime.planner, runtime.clock.now())
    letter_id = next(iter(runtime.store.case_letters("SDP-2026-0042")))
    durability.fail.append("no replica")
    with pytest.raises(NotReplicated):
        cancel_letter(runtime.store, letter_id, runtime.clock.now(), by="anna")
    _, changed = cancel_letter(runtime.store, letter_id, runtime.clock.now(), by="anna")
    assert changed is False  # the first call cancelled it; the retry confirms it
    assert [value for _, value in durability.calls[-2:]] == ["cancelled", "cancelled"]


def test_a_batch_repeating_an_event_id_is_confirmed() -> None:
    """A batch may repeat an event id (the repeat is a duplicate of the first): the key is
    checked once, so EXISTS's count of 1 matches and the batch is acknowledged, not 503."""
    client = ScriptedClient([1, 7, 1])
    Durability(1, 1.0).confirm(client, ["notifier:event:a", "notifier:event:a"])
    assert client.pipelines[0].commands[0] == ("exists", "notifier:event:a")


def test_a_read_waits_for_its_access_log_entry_on_the_replicas(runtime: Runtime) -> None:
    """Given a replica to confirm, when a read's access-log entry cannot be confirmed,
    then the read fails (NotReplicated: the API's 503) before anything is shown; read
    again, the entry (coalesced with the first) is confirmed, for the case's list and the
    reader's."""
    from notifier.records.access_log import CASE_KEY, USER_KEY, Via, access_log

    durability = runtime.store.durability
    assert isinstance(durability, RecordingDurability)
    log = access_log(runtime)
    durability.fail.append("no replica")
    with pytest.raises(NotReplicated):
        log.record(principal="anna", role="caseworker", case_id="SDP-1", what="case",
                   via=Via.API)
    log.record(principal="anna", role="caseworker", case_id="SDP-1", what="case", via=Via.API)
    assert durability.calls[-2:] == [([CASE_KEY + "SDP-1", USER_KEY + "anna"], None)] * 2
    assert len(log.for_case("SDP-1")) == 1
