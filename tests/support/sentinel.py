"""A Redis primary, a replica and three `redis-sentinel` processes on free loopback ports.

The Sentinels are tuned for a test (a server is down after 2 s of silence, a failover is
retried after 4 s) so a round of kill-and-promote takes a few seconds; production keeps
the defaults (30 s / 3 min) or its own (docs/high-availability.md). ``close`` ends every
process this started, by its pid, whatever state the test left it in.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import redis

from tests.integration.conftest import RedisServer
from tests.support import processes
from tests.support.ports import free_port

SENTINEL = shutil.which("redis-sentinel")
MASTER = "notifier"
DOWN_AFTER_MS = 2000
FAILOVER_TIMEOUT_MS = 2000


def until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return
        except redis.RedisError:
            pass  # a server between roles; ask again
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


class SentinelCluster:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        first = RedisServer(directory / "redis-a")
        self.servers = [first, RedisServer(directory / "redis-b", extra=(
            "--replicaof", "127.0.0.1", str(first.port)))]
        self.sentinel_ports = [free_port() for _ in range(3)]
        self.sentinels: list[subprocess.Popen[bytes]] = []

    # --- settings for the notifier processes ---------------------------------------------
    def env(self, wait_replicas: int) -> dict[str, str]:
        return {"NOTIFIER_REDIS_SENTINELS": ",".join(f"127.0.0.1:{p}"
                                                     for p in self.sentinel_ports),
                "NOTIFIER_REDIS_SENTINEL_MASTER": MASTER,
                "NOTIFIER_REDIS_WAIT_REPLICAS": str(wait_replicas)}

    # --- processes ----------------------------------------------------------------------
    def start(self) -> None:
        for server in self.servers:
            server.directory.mkdir(parents=True)
            server.start()
        primary, replica = self.servers
        until(lambda: self.replica_of(replica, primary), 30, "the replica to sync")
        for n, port in enumerate(self.sentinel_ports):
            folder = self.directory / f"sentinel-{n}"
            folder.mkdir()
            conf = folder / "sentinel.conf"  # Sentinel rewrites it, so one file each
            conf.write_text("\n".join([
                f"port {port}", "bind 127.0.0.1", "protected-mode no", f"dir {folder}",
                f"logfile {folder / 'sentinel.log'}",
                f"sentinel monitor {MASTER} 127.0.0.1 {primary.port} 2",
                f"sentinel down-after-milliseconds {MASTER} {DOWN_AFTER_MS}",
                f"sentinel failover-timeout {MASTER} {FAILOVER_TIMEOUT_MS}",
                f"sentinel parallel-syncs {MASTER} 1", ""]))
            assert SENTINEL is not None
            # Real clock: Sentinel is redis-server, which libfaketime cannot preload into.
            self.sentinels.append(processes.spawn([SENTINEL, str(conf)],
                                                  stdout=subprocess.DEVNULL,
                                                  stderr=subprocess.DEVNULL,
                                                  env=processes.real_clock_env()))
        try:
            for n in range(len(self.sentinels)):
                until(lambda n=n: self._answers(n), 30, f"Sentinel {n} to answer")
            until(self._sentinels_agree, 30,
                  "three Sentinels that see the replica and each other")
        except AssertionError as error:
            raise AssertionError(f"{error}\n{self.describe()}") from None

    def _answers(self, n: int) -> bool:
        """Sentinel ``n`` answers PING; if it exited (e.g. its port was taken), say so."""
        if self.sentinels[n].poll() is not None:
            raise AssertionError(f"Sentinel {n} on port {self.sentinel_ports[n]} did not start")
        return bool(redis.Redis(port=self.sentinel_ports[n], socket_timeout=1).ping())

    def describe(self) -> str:
        """What each Sentinel is and sees, and its log's end: a failed start says why."""
        lines = []
        for n, process in enumerate(self.sentinels):
            port = self.sentinel_ports[n]
            try:
                state = redis.Redis(port=port, socket_timeout=1).sentinel_master(MASTER)
                seen = (f"sees {state['num-other-sentinels']} other Sentinels, "
                        f"{state['num-slaves']} replicas, flags {state['flags']}")
            except redis.RedisError as error:
                seen = f"unreachable: {error}"
            log = self.directory / f"sentinel-{n}" / "sentinel.log"
            tail = log.read_text(errors="replace").splitlines()[-8:] if log.exists() else []
            lines += [f"Sentinel {n} (port {port}, exit code {process.poll()}): {seen}",
                      *(f"    {line}" for line in tail)]
        return "\n".join(lines)

    def _sentinels_agree(self) -> bool:
        for port in self.sentinel_ports:
            state = redis.Redis(port=port, socket_timeout=1).sentinel_master(MASTER)
            if state["num-other-sentinels"] != 2 or state["num-slaves"] < 1:
                return False
        return True

    def close(self) -> None:
        """End every process this cluster started (by pid), on every exit path."""
        for process in self.sentinels:
            if process.poll() is None:
                process.kill()
            process.wait(10)
        for server in self.servers:
            server.kill()

    # --- roles --------------------------------------------------------------------------
    def primary_port(self) -> int:
        """The primary the Sentinels name now."""
        for port in self.sentinel_ports:
            try:
                sentinel = redis.Redis(port=port, socket_timeout=1)
                _, found = sentinel.sentinel_get_master_addr_by_name(MASTER)
                return int(found)
            except redis.RedisError:
                continue
        raise AssertionError("no Sentinel answers")

    def primary(self) -> RedisServer:
        port = self.primary_port()
        return next(s for s in self.servers if s.port == port)

    def other(self, server: RedisServer) -> RedisServer:
        return next(s for s in self.servers if s is not server)

    @staticmethod
    def replica_of(replica: RedisServer, primary: RedisServer) -> bool:
        info = redis.Redis(port=replica.port, socket_timeout=1).info("replication")
        return bool(info["role"] == "slave" and info["master_port"] == primary.port
                    and info["master_link_status"] == "up")

    def wait_promoted(self, old: RedisServer, timeout: float = 30) -> RedisServer:
        """The new primary once the Sentinels promoted it and it takes writes."""
        until(lambda: self.primary_port() != old.port, timeout, "the Sentinels to fail over")
        new = self.primary()
        until(lambda: redis.Redis(port=new.port, socket_timeout=1).info("replication")["role"]
              == "master", timeout, "the promoted replica to become primary")
        return new

    def wait_paired(self, timeout: float = 60) -> RedisServer:
        """A primary (the one the Sentinels name) with the other server its replica in
        sync; returns the primary. Usually the restarted server comes back as a replica;
        on a loaded machine the Sentinels may fail over once more (a busy new primary
        missing its pings), so which one ends up primary is theirs to choose."""
        until(lambda: self.replica_of(self.other(self.primary()), self.primary()), timeout,
              "a primary with the other server as its replica")
        return self.primary()
