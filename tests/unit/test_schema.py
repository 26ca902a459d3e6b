"""The data layout's version: stamped when new, refused when old or unknown, migrated
in place from layout 1 (the case index as a set) idempotently and resumably."""

from __future__ import annotations

import fakeredis
import pytest
import redis

from notifier.clock import SimulatedClock
from notifier.runtime import Runtime, build_runtime
from notifier.settings import Settings
from notifier.store.schema import (
    CURRENT,
    SCHEMA_KEY,
    SchemaError,
    check_at_start,
    ensure_schema,
    found_version,
    migrate,
)
from tests.conftest import opening_event


def open_cases(runtime: Runtime, count: int) -> None:
    for n in range(count):
        runtime.store.apply_event(opening_event(event_id=f"e{n}", case_id=f"SDP-{n}"),
                                  runtime.planner, runtime.clock.now())


def to_layout_1(client: redis.Redis) -> dict[str, list[str]]:
    """Rewrite the data as layout 1 wrote it (before commit 257dc2a): each case's letter
    index a plain set, and no version key. Returns each case's letter ids, in send order."""
    client.delete(SCHEMA_KEY)
    expected = {}
    for key in client.scan_iter(match="notifier:case:*:letters"):
        ids = [m.decode() for m in client.zrange(key, 0, -1)]
        client.delete(key)
        client.sadd(key, *ids)
        expected[key.decode()] = ids
    return expected


@pytest.fixture
def runtime(settings: Settings, clock: SimulatedClock) -> Runtime:
    return build_runtime(settings, clock=clock, client=fakeredis.FakeRedis())


def test_a_new_database_is_stamped_and_then_accepted(runtime: Runtime) -> None:
    """Given an empty Redis, the first process stamps the current layout; later checks
    (and a concurrent second stamp) agree with it."""
    assert found_version(runtime.client) is None
    assert ensure_schema(runtime.client) == CURRENT
    assert runtime.client.get(SCHEMA_KEY) == str(CURRENT).encode()
    assert ensure_schema(runtime.client) == CURRENT


def test_unstamped_data_in_the_current_layout_is_stamped(runtime: Runtime) -> None:
    """Given letters written in the current layout by a store that never stamped, the
    layout is read off the data (sorted-set indexes) and stamped as current."""
    open_cases(runtime, 2)
    assert runtime.client.get(SCHEMA_KEY) is None
    assert ensure_schema(runtime.client) == CURRENT


def test_layout_1_is_refused_then_migrated_in_place(runtime: Runtime) -> None:
    """Given data in layout 1, a starting process refuses it naming `notifier migrate`;
    after the migration every case index is a sorted set in send order, the store reads
    each case's letters as before, and processes start again."""
    open_cases(runtime, 3)
    before = {cid: sorted(runtime.store.case_letters(cid)) for cid in ("SDP-0", "SDP-1")}
    expected = to_layout_1(runtime.client)
    assert found_version(runtime.client) == 1
    with pytest.raises(SchemaError, match="notifier migrate"):
        ensure_schema(runtime.client)

    lines = migrate(runtime.client)

    assert lines[-1] == f"migrated to {CURRENT}: case letter index: set -> sorted set by " \
                        "send time (3 keys)"
    for key, ids in expected.items():
        assert runtime.client.type(key) == b"zset"
        assert [m.decode() for m in runtime.client.zrange(key, 0, -1)] == ids
    assert {cid: sorted(runtime.store.case_letters(cid)) for cid in before} == before
    assert ensure_schema(runtime.client) == CURRENT


def test_migration_is_idempotent_and_resumes_after_an_interruption(runtime: Runtime) -> None:
    """Given a migration interrupted after one case (the version still says 1), no process
    runs on the half-migrated data; running it again converts the rest, and a third run
    changes nothing."""
    open_cases(runtime, 3)
    to_layout_1(runtime.client)
    runtime.client.set(SCHEMA_KEY, 1)
    first = next(runtime.client.scan_iter(match="notifier:case:*:letters"))
    ids = [m.decode() for m in runtime.client.smembers(first)]
    runtime.client.delete(first)
    runtime.client.zadd(first, {i: n for n, i in enumerate(ids)})  # one case done already
    with pytest.raises(SchemaError):
        ensure_schema(runtime.client)

    assert migrate(runtime.client)[-1].endswith("(2 keys)")
    assert migrate(runtime.client) == [f"found layout {CURRENT}, current is {CURRENT}"]
    assert ensure_schema(runtime.client) == CURRENT


def test_dry_run_changes_nothing(runtime: Runtime) -> None:
    """`migrate --dry-run` says what it would do and leaves every key as it was."""
    open_cases(runtime, 2)
    to_layout_1(runtime.client)
    snapshot = {k: runtime.client.dump(k) for k in runtime.client.keys("*")}
    assert migrate(runtime.client, dry_run=True)[-1].startswith(f"would migrate to {CURRENT}")
    assert {k: runtime.client.dump(k) for k in runtime.client.keys("*")} == snapshot


def test_a_newer_layout_is_refused_and_not_migrated(runtime: Runtime) -> None:
    """Given data from a newer notifier, an older one neither runs on it nor migrates it."""
    runtime.client.set(SCHEMA_KEY, CURRENT + 1)
    with pytest.raises(SchemaError, match="upgrade notifier"):
        ensure_schema(runtime.client)
    with pytest.raises(SchemaError, match="newer"):
        migrate(runtime.client)


def test_redis_down_at_start_is_not_a_refusal(runtime: Runtime) -> None:
    """A process starting while Redis is down starts (and rides out the outage) instead
    of failing the schema check; garbage in the version key is refused by name."""
    server = fakeredis.FakeServer()
    client = fakeredis.FakeRedis(server=server)
    server.connected = False
    check_at_start(client)  # no exception
    server.connected = True
    client.set(SCHEMA_KEY, "two")
    with pytest.raises(SchemaError, match="notifier:schema"):
        check_at_start(client)
