"""Loopback TLS servers with certificates from a test CA (trustme) that tests choose to
trust or not."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import trustme


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    """A server-side context with a certificate for localhost and 127.0.0.1 signed by ``ca``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    return context


class _Accepting(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def https_server(ca: trustme.CA) -> Iterator[str]:
    """An HTTPS server on localhost that accepts every POST; yields its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Accepting)
    server.socket = server_context(ca).wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://localhost:{server.server_address[1]}/sf1601/kombi"
    finally:
        server.shutdown()
        server.server_close()
