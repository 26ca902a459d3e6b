"""Child processes for the end-to-end runs: real `notifier worker` / `scheduler`, and the
bare Dramatiq worker, each logging to a file; stopped with SIGTERM, by their own pid."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

NOTIFIER = str(Path(sys.executable).with_name("notifier"))
NOOP_WORKER = [sys.executable, str(Path(__file__).with_name("noop_worker.py"))]
STARTED = ".started"  # what every process here logs once its worker or tick is running


class Child:
    def __init__(self, command: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("wb") as handle:  # fresh, so a previous run's marker cannot match
            self.process = subprocess.Popen(  # noqa: S603 (our own commands)
                command, env=env, stdout=handle, stderr=handle)

    def wait_started(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not (self.log.exists() and STARTED in self.log.read_text(errors="replace")):
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = self.log.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"{self.log.name}: did not start:\n{tail}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@contextmanager
def running(commands: list[list[str]], env: dict[str, str], logs: Path, name: str
            ) -> Iterator[list[Child]]:
    """Start every command, wait until each says it started, stop them all on the way out."""
    logs.mkdir(parents=True, exist_ok=True)
    children: list[Child] = []
    try:
        for n, command in enumerate(commands):
            children.append(Child(command, env, logs / f"{name}-{n}.log"))
        for child in children:
            child.wait_started()
        yield children
    finally:
        for child in children:
            child.stop()


def cpu_seconds(children: list[Child]) -> float:
    """User + system CPU the children have used so far, their own children's included
    (Linux /proc): per-letter CPU is the figure another engineer's load does not skew."""
    total = 0
    for child in children:
        fields = Path(f"/proc/{child.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    return total / os.sysconf("SC_CLK_TCK")


def notifier_workers(processes: int, threads: int) -> list[list[str]]:
    return [[NOTIFIER, "worker", "--threads", str(threads)] for _ in range(processes)]


def noop_workers(processes: int, threads: int, redis_url: str) -> list[list[str]]:
    return [[*NOOP_WORKER, redis_url, str(threads)] for _ in range(processes)]
