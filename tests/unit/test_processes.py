"""Processes started by tests end on every exit path (tests/support/processes.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import processes

ROOT = Path(__file__).resolve().parents[2]


def alive(pid: int) -> bool:
    """Running: exists and is not a zombie waiting for a (container's) init to reap it."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] == "Z")


def command_of(pid: int) -> str:
    """The process's command name ('' once it is gone)."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def test_end_since_ends_only_what_was_started_after_the_mark() -> None:
    """Given one process started before a mark and one after, when the test's processes
    are ended, then only the later one is ended, and its pid is reaped (no zombie)."""
    before = processes.spawn(["sleep", "60"])
    try:
        mark = processes.started()
        after = processes.spawn(["sleep", "60"])
        assert processes.end_since(mark) == [after.pid]
        assert after.returncode == -signal.SIGTERM
        assert before.poll() is None
    finally:
        processes.end(before)
    assert before.returncode is not None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_child_dies_with_a_sigkilled_test_runner(tmp_path: Path) -> None:
    """Given a test runner that started a long-lived child and is then SIGKILLed (no
    teardown, no atexit), then the kernel ends the child too: no worker outlives its test."""
    pid_file = tmp_path / "child.pid"
    runner = subprocess.Popen(  # the stand-in for pytest
        [sys.executable, "-c",
         "import pathlib, sys, time\n"
         "from tests.support import processes\n"
         "child = processes.spawn(['sleep', '600'])\n"
         f"pathlib.Path({str(pid_file)!r}).write_text(str(child.pid))\n"
         "time.sleep(600)\n"],
        cwd=ROOT)
    child = 0
    try:
        deadline = time.monotonic() + 30
        while not (pid_file.exists() and pid_file.read_text()):
            assert time.monotonic() < deadline, "the runner never started its child"
            time.sleep(0.05)
        child = int(pid_file.read_text())
        # setpriv asks for the signal, then execs the command: until it is `sleep`, a
        # runner killed now would leave it unasked (the test, not the guard, would race).
        while command_of(child) != "sleep":
            assert time.monotonic() < deadline, f"child {child} never became sleep"
            time.sleep(0.01)
        runner.kill()
        runner.wait(10)
        deadline = time.monotonic() + 10
        while alive(child):  # the child is not ours to reap: init does, once it exits
            assert time.monotonic() < deadline, f"child {child} outlived its runner"
            time.sleep(0.05)
    finally:
        runner.kill()
        runner.wait(10)
        if child and alive(child):  # failed: end it here, not 600 s later
            os.kill(child, signal.SIGKILL)
