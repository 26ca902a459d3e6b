"""redis-server processes for the benchmark: free loopback port, temp dir, cleaned up.

Like the integration tests' fixture, but the persistence is chosen per use: throughput
runs with AOF ``everysec`` (docker-compose.yml's ha profile; its single Redis uses
``always``, which cost nothing measurable here); memory runs without
persistence, because the AOF buffer would be counted in ``used_memory``.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import redis

from tests.support.ports import free_port  # outside the ephemeral range: see there


class RedisServer:
    def __init__(self, *, aof: bool, extra: tuple[str, ...] = ()) -> None:
        found = shutil.which("redis-server")
        if found is None:
            raise SystemExit("bench: redis-server is not installed (apt-get install redis-server)")
        self.binary = found
        self.aof = aof
        self.extra = extra  # more redis-server arguments (--replicaof: bench/replication.py)
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="notifier-bench-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self, db: int = 0) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, db=db)

    def version(self) -> str:
        return str(self.client().info("server")["redis_version"])

    def used_memory(self) -> int:
        return int(self.client().info("memory")["used_memory"])

    def __enter__(self) -> RedisServer:
        persistence = ["--appendonly", "yes", "--appendfsync", "everysec"] if self.aof else \
            ["--appendonly", "no"]
        self.process = subprocess.Popen(  # noqa: S603 (our own binary and arguments)
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", str(self.directory), "--save", "", "--protected-mode", "no",
             *persistence, *self.extra],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                self.client().ping()
                return self
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        shutil.rmtree(self.directory, ignore_errors=True)
