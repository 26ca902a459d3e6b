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


def candidates() -> range:
    """The ports to choose from: those below the ephemeral range, or above it when the
    range starts too low to leave room below."""
    low, high = ephemeral_range()
    if low - LOWEST >= 2000:
        return range(LOWEST, low)
    return range(high + 1, 65536)


def free_port() -> int:
    """A loopback port outside the ephemeral range that no socket holds now and that this
    run has not handed out before."""
    pool = candidates()
    for _ in range(200):
        port = _PICK.choice(pool)
        if port not in _GIVEN and _bindable(port):
            _GIVEN.add(port)
            return port
    raise RuntimeError(f"no free loopback port in {pool.start}-{pool.stop - 1}")


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
