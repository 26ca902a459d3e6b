"""The test servers' ports are chosen where no outgoing connection can take them."""

from __future__ import annotations

import socket

import pytest

from tests.support import ports


def test_a_free_port_is_outside_the_ephemeral_range_and_never_given_twice() -> None:
    """Given the kernel's range for connections' local ports, when a run asks for many
    ports, then none is in that range, each binds, and none repeats (two servers chosen
    before either starts must not share one)."""
    low, high = ports.ephemeral_range()
    given = [ports.free_port() for _ in range(300)]
    assert not [p for p in given if low <= p <= high]
    assert len(set(given)) == len(given)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", given[-1]))


def test_a_port_a_connection_holds_is_not_given(monkeypatch: pytest.MonkeyPatch) -> None:
    """Given a loopback port held by a connected client socket (as an outgoing connection
    holds its local port), when that port is the only candidate, then ``free_port`` does
    not hand it out: it says none is free rather than give one a server cannot bind."""
    with socket.create_server(("127.0.0.1", 0)) as server, \
            socket.create_connection(server.getsockname()) as client:
        held = client.getsockname()[1]
        monkeypatch.setattr(ports, "candidates", lambda: [held] * 1000)
        with pytest.raises(RuntimeError, match="no free loopback port"):
            ports.free_port()


@pytest.mark.parametrize("kernel, room", [
    ((32768, 60999), (32768 - 20000) + (65535 - 60999)),  # Linux's default
    ((1024, 65535), 0),  # everything ephemeral: no port is safe
    ((10000, 60000), 5535),  # only above it
])
def test_the_ports_chosen_from_are_outside_any_ephemeral_range(
        monkeypatch: pytest.MonkeyPatch, kernel: tuple[int, int], room: int) -> None:
    """Given a kernel's ephemeral range, the candidates are exactly the ports from 20000
    up outside it, below and above; with too few, free_port says so, naming the range."""
    monkeypatch.setattr(ports, "ephemeral_range", lambda: kernel)
    pool = ports.candidates()
    assert len(pool) == room
    assert not [p for p in pool if kernel[0] <= p <= kernel[1] or p < ports.LOWEST]
    if room < 1000:
        with pytest.raises(RuntimeError, match=f"{kernel[0]}-{kernel[1]}"):
            ports.free_port()
