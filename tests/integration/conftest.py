"""Real parts: a redis-server on a free loopback port, and `notifier` subprocesses.

Without redis-server these tests skip on a developer machine, saying why; CI sets
NOTIFIER_REQUIRE_INTEGRATION=1 so a missing server fails the run instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import trustme

from notifier.calendar import Offset
from notifier.clock import SimulatedClock, SystemClock
from notifier.runtime import load_calendar
from notifier.settings import Settings
from tests.support import processes
from tests.support.ports import free_port
from tests.support.smtp import SmtpServer

REDIS = shutil.which("redis-server")
NOTIFIER = str(Path(sys.executable).with_name("notifier"))


class RedisServer:
    """A redis-server with AOF in ``directory``. ``kill`` (SIGKILL) and ``start`` again come
    back on the same port from the same AOF, as a supervisor would restart it."""

    def __init__(self, directory: Path, appendfsync: str = "always",
                 extra: tuple[str, ...] = ()) -> None:
        self.directory = directory
        self.appendfsync = appendfsync
        self.extra = extra  # more redis-server arguments (e.g. --replicaof, issue 15)
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert REDIS is not None
        self.process = processes.spawn(
            [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
             "--appendonly", "yes", "--appendfsync", self.appendfsync, "--save", "",
             "--protected-mode", "no", "--logfile", str(self.directory / "redis.log"),
             *self.extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=processes.real_clock_env(),
        )
        client = redis.Redis(port=self.port)
        deadline = time.monotonic() + 30  # a restart replays the AOF first
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise
                time.sleep(0.05)

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture(autouse=True)
def no_process_left_behind() -> Iterator[None]:
    """End, by pid, every process this test started and left running, however it ended."""
    mark = processes.started()
    yield
    processes.end_since(mark)


def require_redis_server() -> None:
    if REDIS is None:
        if os.environ.get("NOTIFIER_REQUIRE_INTEGRATION"):
            pytest.fail("redis-server is not installed but NOTIFIER_REQUIRE_INTEGRATION is set")
        pytest.skip("redis-server not installed; integration tests need it (CI installs it)")


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server for this test alone, which it may SIGKILL and restart."""
    require_redis_server()
    server = RedisServer(tmp_path / "redis")
    server.directory.mkdir()
    server.start()
    yield server
    server.kill()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    require_redis_server()
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.kill()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    redis.Redis.from_url(redis_server.url).flushall()
    return redis_server.url


def notifier_env(redis_url: str, outbox: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("NOTIFIER_")}
    env.update(NOTIFIER_REDIS_URL=redis_url, NOTIFIER_OUTBOX_DIR=str(outbox),
               NOTIFIER_LOG_FORMAT="json", **extra)
    return env


def clock_at_real_now(settings: Settings) -> SimulatedClock:
    """A simulated clock that starts at the first send-window instant at or after the real now.

    Worker processes take leases from the real clock. A scenario anchored here can move its
    clock past those leases without also overtaking the scenario's own dates (a fixed calendar
    date would be overtaken by the real clock one day, and every reminder would fall due)."""
    return SimulatedClock(load_calendar(settings).send_window(SystemClock().now()))


def opened_at(clock: SimulatedClock, settings: Settings) -> dict[str, object]:
    """Event fields for a case opened at the clock's now, first absence three days before."""
    calendar = load_calendar(settings)
    today = calendar.local_date(clock.now())
    return {"occurred_at": clock.now().isoformat(),
            "data": {"first_absence_day": calendar.add(today, Offset.parse("-3 days")).isoformat()}}


def start_notifier(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as handle:  # the child keeps its own copy of the descriptor
        return processes.spawn([NOTIFIER, *args], env=env, stdout=handle, stderr=handle)


# --- mail: a real SMTP server with STARTTLS and a test CA ---------------------------------
@pytest.fixture(scope="session")
def test_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(test_ca: trustme.CA, tmp_path: Path) -> Path:
    """The test CA's certificate as a PEM file, for NOTIFIER_SMTP_CA_FILE."""
    path = tmp_path / "ca.pem"
    test_ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def smtp(test_ca: trustme.CA) -> Iterator[SmtpServer]:
    server = SmtpServer(test_ca).start()
    yield server
    server.stop()
