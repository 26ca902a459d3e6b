"""The ``smtp`` mail transport: aiosmtplib on one connection per process, reused.

Dramatiq's worker threads are synchronous, so the transport owns a private event loop
in a daemon thread and hands each message to it. One connection is kept open and shared
(sends are serialised by a lock); when the server has closed it in the meantime, the
transport reconnects once and sends again. TLS is required by default (STARTTLS), with
the server's certificate verified; ``implicit`` is TLS from the first byte (port 465).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ssl
import threading
from email.message import EmailMessage

import aiosmtplib

from notifier.errors import DeliveryError, PermanentError, TransientError
from notifier.settings import Settings

CLOSE_WAIT_TURNS = 200  # x 10 ms


class SmtpTransport:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="smtp", daemon=True)
        self.thread.start()
        self.client: aiosmtplib.SMTP | None = None
        self.lock = asyncio.Lock()

    def send(self, letter_id: str, message: EmailMessage) -> str:
        future = asyncio.run_coroutine_threadsafe(self._send(message), self.loop)
        # Connect, STARTTLS, login and the transaction each have their own timeout.
        try:
            return future.result(timeout=self.settings.smtp_timeout * 4)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TransientError("SMTP: no answer in time") from None

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()

    async def _send(self, message: EmailMessage) -> str:
        async with self.lock:
            reused = self.client is not None and self.client.is_connected
            try:
                await (await self._connected()).send_message(message)
            except aiosmtplib.SMTPServerDisconnected:
                await self._drop()
                if not reused:
                    raise TransientError("SMTP: server closed the connection") from None
                await self._send_fresh(message)  # the kept connection had gone stale
            except (aiosmtplib.SMTPException, OSError) as exc:
                await self._drop()
                raise classify(exc) from None
        return f"smtp:{message['Message-ID']}"

    async def _send_fresh(self, message: EmailMessage) -> None:
        try:
            await (await self._connected()).send_message(message)
        except (aiosmtplib.SMTPException, OSError) as exc:
            await self._drop()
            raise classify(exc) from None

    async def _connected(self) -> aiosmtplib.SMTP:
        if self.client is not None and self.client.is_connected:
            return self.client
        s = self.settings
        client = aiosmtplib.SMTP(
            hostname=s.smtp_host, port=s.smtp_port, timeout=s.smtp_timeout,
            use_tls=s.smtp_tls == "implicit", start_tls=s.smtp_tls == "starttls",
            validate_certs=True, tls_context=_tls_context(s),
            username=s.smtp_username,
            password=s.smtp_password.get_secret_value() if s.smtp_password else None,
        )
        try:
            await client.connect()
        except BaseException:
            _discard(client)  # a half-open connection (failed STARTTLS, say) keeps its socket
            raise
        self.client = client
        return client

    async def _shutdown(self) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        sock = client.transport.get_extra_info("socket") if client.transport else None
        try:
            if client.is_connected:
                await client.quit()
        except (aiosmtplib.SMTPException, OSError):
            pass  # the server is gone; closing below is all that is left to do
        client.close()
        # A TLS close takes a few loop turns; the loop must not stop before the socket shuts.
        for _ in range(CLOSE_WAIT_TURNS):
            if sock is None or sock.fileno() == -1:
                return
            await asyncio.sleep(0.01)

    async def _drop(self) -> None:
        """Forget a failed connection at once: no polite TLS goodbye to a broken peer."""
        client, self.client = self.client, None
        if client is not None:
            _discard(client)


def _discard(client: aiosmtplib.SMTP) -> None:
    if isinstance(client.transport, asyncio.Transport):
        client.transport.abort()
    client.close()


def classify(exc: BaseException) -> DeliveryError:
    """SMTP 4xx, lost connections and timeouts are transient; 5xx and policy permanent."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [refused.code for refused in exc.recipients]
        if codes and all(code >= 500 for code in codes):
            return PermanentError(f"SMTP: recipient refused ({codes[0]})")
        return TransientError(f"SMTP: recipient deferred ({codes})")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        text = f"SMTP {exc.code}: {exc.message[:200]}"
        return PermanentError(text) if exc.code >= 500 else TransientError(text)
    if isinstance(exc, aiosmtplib.SMTPNotSupported) or "STARTTLS" in str(exc):
        # Never fall back to sending in the clear when TLS was asked for.
        return PermanentError(f"SMTP: {exc}")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return TransientError(f"SMTP: server certificate not trusted: {exc.verify_message}")
    return TransientError(f"SMTP: {type(exc).__name__}: {exc}")


def _tls_context(settings: Settings) -> ssl.SSLContext | None:
    if settings.smtp_tls == "none":
        return None
    return ssl.create_default_context(cafile=settings.smtp_ca_file)
