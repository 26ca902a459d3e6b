"""Every process a test starts is owned, and ended on every exit path.

Three layers, because a test can end in three ways:
- normally or by an exception: the autouse ``no_process_left_behind`` fixture (integration
  conftest) ends what the test started, by pid;
- the interpreter exits (Ctrl-C, ``pytest -x`` stopping): an ``atexit`` hook ends the rest;
- pytest itself is SIGKILLed: the kernel sends each child SIGTERM (``PR_SET_PDEATHSIG``), so
  no worker is left running against a Redis that no longer exists.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

_STARTED: list[subprocess.Popen[bytes]] = []


# setpriv (util-linux) sets the death signal and execs the command: no Python code runs in
# the child between fork and exec. A ``preexec_fn`` doing the same deadlocked a forked child
# on a lock another thread held (it hung a test under libfaketime), as Python warns.
_SETPRIV = shutil.which("setpriv") if sys.platform.startswith("linux") else None


def spawn(args: Sequence[str], **popen: Any) -> subprocess.Popen[bytes]:
    """``subprocess.Popen`` that registers the child and ties its life to this process."""
    command = list(args)
    if _SETPRIV:
        command = [_SETPRIV, "--pdeathsig", "TERM", "--", *command]
    process: subprocess.Popen[bytes] = subprocess.Popen(command, **popen)
    _STARTED.append(process)
    return process


def real_clock_env() -> dict[str, str]:
    """This environment without libfaketime (``make test-future``), for redis-server and
    redis-sentinel: jemalloc's start-up recursion kills them under the preload. Nothing
    depends on their clock: notifier never asks Redis for the time (no TIME in its Lua)."""
    return {k: v for k, v in os.environ.items()
            if k != "LD_PRELOAD" and not k.startswith("FAKETIME")}


def wait_for_line(log: Path, text: str, timeout: float = 30.0) -> None:
    """Wait until a process's log file contains ``text`` (e.g. its '*.started' line)."""
    deadline = time.monotonic() + timeout
    while not (log.exists() and text in log.read_text(errors="replace")):
        if time.monotonic() > deadline:
            raise AssertionError(f"no {text!r} in {log} within {timeout:.0f} s")
        time.sleep(0.05)


def started() -> int:
    """A mark: how many processes have been started so far (see ``end_since``)."""
    return len(_STARTED)


def end(process: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; always reaps the pid."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def end_since(mark: int, keep: Callable[[subprocess.Popen[bytes]], bool] = lambda _: False
              ) -> list[int]:
    """End every process started after ``mark`` that is still running; their pids."""
    leftovers = [p for p in _STARTED[mark:] if p.poll() is None and not keep(p)]
    for process in leftovers:
        end(process)
    return [p.pid for p in leftovers]


atexit.register(lambda: end_since(0))
