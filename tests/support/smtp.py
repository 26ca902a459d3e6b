"""A real SMTP server (aiosmtpd) on a loopback port that requires STARTTLS, with a
certificate from a test CA. It can be stopped and started again on the same port."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from typing import Any

import trustme
from aiosmtpd.controller import Controller

from tests.support.ports import free_port
from tests.support.tls import server_context


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: Message
    tls: bool  # whether the session had switched to TLS when the mail came
    peer: tuple[str, int]  # the client's address: the same for mails on one connection


class _Collect:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_DATA(self, _server: Any, session: Any, envelope: Any) -> str:
        with self.server.lock:
            self.server.received.append(Received(
                envelope.mail_from, list(envelope.rcpt_tos),
                message_from_bytes(envelope.original_content or envelope.content),
                session.ssl is not None, tuple(session.peer),
            ))
        return "250 OK"


class _Controller(Controller):
    """Remembers its sessions, so stopping can drop them like a dying server would."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sessions: list[Any] = []

    def factory(self) -> Any:
        protocol = super().factory()
        self.sessions.append(protocol)
        return protocol

    def stop(self, no_assert: bool = False) -> None:
        def drop() -> None:
            for protocol in self.sessions:
                if protocol.transport is not None:
                    protocol.transport.abort()  # no TLS goodbye: the loop stops next

        self.loop.call_soon_threadsafe(drop)
        super().stop(no_assert)


class SmtpServer:
    def __init__(self, ca: trustme.CA, port: int | None = None, tls: bool = True) -> None:
        self.ca = ca
        self.tls = tls
        self.port = port or free_port()
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.controller: _Controller | None = None

    def start(self) -> SmtpServer:
        self.controller = _Controller(
            _Collect(self), hostname="127.0.0.1", port=self.port,
            tls_context=server_context(self.ca) if self.tls else None,
            require_starttls=self.tls,
            server_hostname="localhost",
        )
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def by_letter_id(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        with self.lock:
            for item in self.received:
                letter_id = str(item.message["X-Notifier-Letter-Id"])
                counts[letter_id] = counts.get(letter_id, 0) + 1
        return counts
