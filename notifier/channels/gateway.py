"""The http transport: a KOMBIT SF1601-shaped "kombi" request per letter to a gateway.

Request: ``POST <gateway_url>`` with an XML body ``<kombi_request>`` holding
``<KombiValgKode>`` ("Digital Post" or "Fysisk Post") and the ``memo:Message``, and the
headers ``x-TransaktionsId`` and ``x-TransaktionsTid``.

Transaction semantics, which make an ambiguous failure safe to retry:
- ``x-TransaktionsId`` is the letter id, which is also the MeMo messageUUID, on every
  attempt. A timeout or dropped connection after the request left is retried with the
  very same ids; ``x-TransaktionsTid`` is the time of the attempt.
- The gateway refuses a messageUUID it has already accepted with HTTP 409. A 409 after
  our own earlier (ambiguous) attempt means that attempt arrived, so it counts as sent.
- 2xx: accepted. 429 and 5xx: transient (Retry-After honoured). Other 4xx: permanent.
  Connection errors and timeouts: transient.
"""

from __future__ import annotations

import email.utils
import ssl
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from enum import StrEnum

import httpx

from notifier.clock import Clock
from notifier.errors import ConfigError, PermanentError, TransientError
from notifier.logging import redact_text
from notifier.settings import Settings

KOMBI_ROOT = "kombi_request"
DUPLICATE = 409
ERROR_TEXT_MAX = 300


class KombiChoice(StrEnum):
    DIGITAL = "Digital Post"
    PHYSICAL = "Fysisk Post"


def kombi_request(choice: KombiChoice, memo: bytes) -> bytes:
    """The request body: ``<kombi_request><KombiValgKode/><memo:Message/></kombi_request>``."""
    root = ET.Element(KOMBI_ROOT)
    ET.SubElement(root, "KombiValgKode").text = choice.value
    root.append(ET.fromstring(memo))  # noqa: S314 - our own, just-built MeMo
    body: bytes = ET.tostring(root, encoding="UTF-8", xml_declaration=True)
    return body


class Sf1601Gateway:
    """One pooled HTTPS client per process; thread-safe, shared by the worker's threads."""

    def __init__(self, settings: Settings, clock: Clock,
                 transport: httpx.BaseTransport | None = None) -> None:
        if not settings.gateway_url:
            raise ConfigError("NOTIFIER_GATEWAY_URL: required by the http transport")
        self.url = settings.gateway_url
        self.clock = clock
        self.client = httpx.Client(
            verify=_tls_context(settings), timeout=httpx.Timeout(settings.gateway_timeout),
            transport=transport, follow_redirects=False,
        )

    def send(self, letter_id: str, choice: KombiChoice, memo: bytes) -> str:
        headers = {
            "Content-Type": "application/xml; charset=utf-8",
            "x-TransaktionsId": letter_id,
            "x-TransaktionsTid": self.clock.now().astimezone(UTC).isoformat(timespec="seconds"),
        }
        try:
            response = self.client.post(self.url, content=kombi_request(choice, memo),
                                        headers=headers)
        except httpx.TimeoutException as exc:
            raise TransientError(f"gateway timeout ({type(exc).__name__}); "
                                 "retried with the same messageUUID") from None
        except httpx.TransportError as exc:
            raise TransientError(f"gateway unreachable: {type(exc).__name__}") from None
        return self._outcome(letter_id, response)

    def _outcome(self, letter_id: str, response: httpx.Response) -> str:
        status = response.status_code
        if 200 <= status < 300:
            return f"sf1601:{response.headers.get('x-TransaktionsId', letter_id)}"
        if status == DUPLICATE:
            return f"sf1601:{letter_id}:already-accepted"
        detail = redact_text(response.text[:ERROR_TEXT_MAX].strip())
        if status == 429 or status >= 500:
            raise TransientError(f"gateway HTTP {status}: {detail}",
                                 retry_after=_retry_after(response, self.clock.now()))
        raise PermanentError(f"gateway refused the message: HTTP {status}: {detail}")

    def close(self) -> None:
        self.client.close()


class GatewayTransport:
    """A MemoTransport for one KombiValgKode (Digital Post or physical post)."""

    def __init__(self, gateway: Sf1601Gateway, choice: KombiChoice) -> None:
        self.gateway = gateway
        self.choice = choice

    def send(self, letter_id: str, memo: bytes) -> str:
        return self.gateway.send(letter_id, self.choice, memo)

    def close(self) -> None:
        self.gateway.close()  # shared by two transports; closing twice is harmless


def _tls_context(settings: Settings) -> ssl.SSLContext | bool:
    if settings.gateway_url and settings.gateway_url.startswith("http://"):
        return True  # plain http is only allowed to loopback; see Settings
    context = ssl.create_default_context(cafile=settings.gateway_ca_file)
    if settings.gateway_cert_file:
        context.load_cert_chain(settings.gateway_cert_file, settings.gateway_key_file)
    return context


def _retry_after(response: httpx.Response, now: datetime) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max((when - now).total_seconds(), 0.0) if when.tzinfo else None
