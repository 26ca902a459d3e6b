"""`notifier migrate` and the start-up check against a real redis-server and real
processes: a worker refuses an old layout by name, and runs after the migration."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import redis

from notifier.clock import SimulatedClock
from notifier.runtime import build_runtime
from notifier.settings import load_settings
from notifier.store.schema import CURRENT, SCHEMA_KEY
from tests.conftest import local, opening_event
from tests.integration.conftest import NOTIFIER, notifier_env, start_notifier
from tests.support import processes
from tests.unit.test_schema import to_layout_1

pytestmark = pytest.mark.integration


def test_worker_refuses_layout_1_until_migrated(redis_url: str, tmp_path: Path,
                                                clean_env: None) -> None:
    """Given a Redis holding layout-1 data, `notifier worker` exits 3 naming `notifier
    migrate`; `notifier migrate --dry-run` changes nothing; `notifier migrate` converts it;
    then the worker starts and stops cleanly."""
    settings = load_settings(redis_url=redis_url, outbox_dir=tmp_path / "outbox")
    runtime = build_runtime(settings, clock=SimulatedClock(local("2026-11-23 10:15")))
    runtime.store.apply_event(opening_event(), runtime.planner, runtime.clock.now())
    client = redis.Redis.from_url(redis_url)
    to_layout_1(client)
    env = notifier_env(redis_url, tmp_path / "outbox")

    refused = subprocess.run([NOTIFIER, "worker"], env=env, capture_output=True, text=True,
                             timeout=120, check=False)
    assert refused.returncode == 3, refused.stderr
    assert "layout 1" in refused.stderr and "notifier migrate" in refused.stderr

    dry = subprocess.run([NOTIFIER, "migrate", "--dry-run"], env=env, capture_output=True,
                         text=True, timeout=120, check=True)
    assert "would migrate to 2" in dry.stdout and client.get(SCHEMA_KEY) is None
    done = subprocess.run([NOTIFIER, "migrate"], env=env, capture_output=True, text=True,
                          timeout=120, check=True)
    assert "migrated to 2" in done.stdout and client.get(SCHEMA_KEY) == str(CURRENT).encode()

    log = tmp_path / "worker.log"
    worker = start_notifier(["worker", "--threads", "1"], env, log)
    try:
        processes.wait_for_line(log, "worker.started", timeout=60)
    finally:
        processes.end(worker)
    assert worker.returncode == 0
