"""Slow clients are timed out (issue 17): uvicorn closes an idle keep-alive connection,
but a client that opens a connection and sends its request head a byte at a time is kept
forever. This is uvicorn's h11 protocol with a deadline for each request head
(``NOTIFIER_API_HEADER_TIMEOUT``); the body has its own deadline in ``BodyLimit``.
Behind a reverse proxy, set its client timeouts too (nginx: ``client_header_timeout``,
``client_body_timeout``).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol


class HeadDeadlineH11(H11Protocol):
    header_timeout: float = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline: asyncio.TimerHandle | None = None
        self._arm()

    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not None and not self.cycle.response_complete:
            self._disarm()  # a request head arrived in time: the app has it now

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and (self.cycle is None
                                                or self.cycle.response_complete):
            self._arm()  # the next request head has the same deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.header_timeout, self._too_slow)

    def _disarm(self) -> None:
        if getattr(self, "_deadline", None) is not None:
            assert self._deadline is not None
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        idle = self.cycle is None or self.cycle.response_complete
        if idle and not self.transport.is_closing():
            self.transport.close()


def protocol(header_timeout: float) -> type[Any]:
    """The protocol class for uvicorn's ``http`` setting, with this deadline."""
    return type("HeadDeadline", (HeadDeadlineH11,), {"header_timeout": header_timeout})
