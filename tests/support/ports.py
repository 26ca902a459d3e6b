"""Free loopback ports for the test servers, chosen outside the kernel's ephemeral range.

A port from ``bind(port 0)`` is an ephemeral port: the same pool every outgoing connection
draws its local port from. Between choosing such a port and a server binding it, a client
connection (a test's, a worker's, a replica's link to its primary) can take it, and the
server fails "Address already in use". That happened in CI: one of three redis-sentinels
could not bind, and the other two waited 30 s for it. The same window opens each time a
test restarts a killed server on its old port. Outside the ephemeral range the kernel
never hands a port to a connection, so only another listener can hold it, and
``free_port`` checks for one.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

# Below the ephemeral range and above the well-known and most registered service ports.
LOWEST = 20000
_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_GIVEN: set[int] = set()  # never the same port twice in one test run
_PICK = random.SystemRandom()


def ephemeral_range() -> tuple[int, int]:
    """The kernel's range for connections' local ports (Linux's default if unreadable)."""
    try:
        low, high = (int(part) for part in _RANGE.read_text().split())
    except (OSError, ValueError):
        return 32768, 60999
    return low, high


def candidates() -> list[int]:
    """The ports to choose from: those from ``LOWEST`` up that are outside the ephemeral
    range, below it and above it."""
    low, high = ephemeral_range()
    return [*range(LOWEST, low), *range(max(high + 1, LOWEST), 65536)]


def free_port() -> int:
    """A loopback port outside the ephemeral range that no socket holds now and that this
    run has not handed out before."""
    pool = candidates()
    if len(pool) < 1000:
        low, high = ephemeral_range()
        raise RuntimeError(f"the ephemeral range {low}-{high} leaves {len(pool)} ports from "
                           f"{LOWEST} up for test servers; narrow it (ip_local_port_range)")
    for _ in range(200):
        port = _PICK.choice(pool)
        if port not in _GIVEN and _bindable(port):
            _GIVEN.add(port)
            return port
    raise RuntimeError(f"no free loopback port among {len(pool)} outside {ephemeral_range()}")


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
