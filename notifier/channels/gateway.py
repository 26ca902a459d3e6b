"""The http transport: SF1601 KombiPostAfsend_1 as the public clients call it.

``POST <gateway_url>`` (``…/service/KombiPostAfsend_1/kombi``) over mutual TLS, HTTP/1.1,
with ``Authorization: Holder-of-key <access token>`` (``sts.TokenService``),
``x-TransaktionsId`` = the letter id = the MeMo messageUUID on every attempt, and
``x-TransaktionsTid`` = the attempt's time as ``yyyy-MM-ddTHH:mm:ssZ``. The body is a
``<kombi_request>``: ``KombiValgKode``, the ``memo:Message`` and, for "Fysisk Post", a
``fjernprint:ForsendelseISamling`` holding the ``ForsendelseI`` (element order as
itk-dev/serviceplatformen builds it; OS2Valghalla's generated class puts
ForsendelseISamling before Message: unverified which KOMBIT's XSD wants).

The answer is a ``<kombi_response>`` with ``Result``, ``TransmissionID`` and
``HovedoplysningerSvarREST/SvarReaktion`` advis or fejl elements, so an HTTP 200 can be a
refusal:
- 2xx with ``Result`` true: sent; ``TransmissionID`` is the letter's receipt id.
- 2xx with ``Result`` false: permanent (the message was refused as it is), with the
  platform's fejl/advis text.
- 401: the tokens are renewed and the call made once more; a second 401 is transient.
- 429 and 5xx: transient (Retry-After honoured). Other 4xx: permanent.
- No connection: transient, nothing left. Once the request may have left (a read timeout,
  a dropped connection, an unreadable 2xx answer): ``UncertainError``. No public source
  shows SF1601 de-duplicating on messageUUID, so such a letter is never counted as sent
  and is retried only with the very same ids.
"""

from __future__ import annotations

import email.utils
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import httpx

from notifier.channels.fjernprint import FJERNPRINT
from notifier.channels.sts import ENTITY_KOMBI, TokenService, load_certificate
from notifier.clock import Clock
from notifier.errors import ConfigError, PermanentError, TransientError, UncertainError
from notifier.logging import redact_text
from notifier.settings import Settings

KOMBI_ROOT = "kombi_request"
ERROR_TEXT_MAX = 300


class KombiChoice(StrEnum):
    DIGITAL = "Digital Post"
    PHYSICAL = "Fysisk Post"
    AUTOMATIC = "Automatisk Valg"  # never used for citizens: see docs/digital-post.md


def transaction_time(moment: datetime) -> str:
    """``x-TransaktionsTid``: ``yyyy-MM-ddTHH:mm:ssZ`` in UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def kombi_request(choice: KombiChoice, memo: bytes,
                  forsendelse: ET.Element | None = None) -> bytes:
    """``<kombi_request><KombiValgKode/><memo:Message/>[<ForsendelseISamling/>]``."""
    root = ET.Element(KOMBI_ROOT)
    ET.SubElement(root, "KombiValgKode").text = choice.value
    root.append(ET.fromstring(memo))  # noqa: S314 - our own, just-built MeMo
    if forsendelse is not None:
        ET.SubElement(root, f"{{{FJERNPRINT}}}ForsendelseISamling").append(forsendelse)
    body: bytes = ET.tostring(root, encoding="UTF-8", xml_declaration=True)
    return body


@dataclass(frozen=True)
class KombiResponse:
    result: bool
    transmission_id: str | None
    messages: tuple[str, ...]  # "id: text" of each advis/fejl, as the platform wrote them


def parse_kombi_response(body: bytes) -> KombiResponse:
    """ValueError if ``body`` is not a kombi_response with a Result."""
    try:
        root = ET.fromstring(body)  # noqa: S314 - no DTDs or entities in ElementTree
    except ET.ParseError as exc:
        raise ValueError(f"not XML ({exc})") from None
    if _local(root.tag) != "kombi_response":
        raise ValueError(f"root is {_local(root.tag)!r}, not kombi_response")
    result = _child_text(root, "Result")
    if result not in ("true", "false", "1", "0"):
        raise ValueError("kombi_response without a boolean Result")
    messages = []
    for element in root.iter():
        if _local(element.tag) in ("Advis", "Fejl"):
            parts = [(_local(c.tag), (c.text or "").strip()) for c in element]
            code = next((v for k, v in parts if k.endswith("Id") or k.endswith("Kode")), "")
            text = next((v for k, v in parts if k.endswith("Tekst")), "")
            messages.append(f"{_local(element.tag)} {code}: {text}".strip())
    return KombiResponse(result in ("true", "1"), _child_text(root, "TransmissionID"),
                         tuple(messages))


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child_text(root: ET.Element, name: str) -> str | None:
    for child in root:
        if _local(child.tag) == name:
            return (child.text or "").strip()
    return None


class Sf1601Gateway:
    """One pooled mutual-TLS client per process; thread-safe, shared by the worker's threads."""

    def __init__(self, settings: Settings, clock: Clock,
                 transport: httpx.BaseTransport | None = None) -> None:
        if not settings.gateway_url:
            raise ConfigError("NOTIFIER_GATEWAY_URL: required by the http transport")
        self.url = settings.gateway_url
        self.clock = clock
        self.certificate = load_certificate(settings)
        # HTTP/1.1 only (httpx's default): the public clients force it after HTTP/2 resets.
        self.client = httpx.Client(
            verify=self.certificate.context, timeout=httpx.Timeout(settings.gateway_timeout),
            transport=transport, follow_redirects=False,
        )
        self.tokens = TokenService(settings, clock, self.client, self.certificate)

    def send(self, letter_id: str, choice: KombiChoice, memo: bytes,
             forsendelse: ET.Element | None = None) -> str:
        body = kombi_request(choice, memo, forsendelse)
        response = self._post(letter_id, body)
        if response.status_code == 401:  # an expired or revoked token: renew once
            self.tokens.invalidate(ENTITY_KOMBI)
            response = self._post(letter_id, body)
        return self._outcome(response)

    def _post(self, letter_id: str, body: bytes) -> httpx.Response:
        headers = {
            "Content-Type": "application/xml; charset=utf-8",
            "Accept": "application/xml",
            "Authorization": self.tokens.authorization(ENTITY_KOMBI),
            "x-TransaktionsId": letter_id,
            "x-TransaktionsTid": transaction_time(self.clock.now()),
        }
        try:
            return self.client.post(self.url, content=body, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise TransientError(f"gateway unreachable: {type(exc).__name__}") from None
        except httpx.TransportError as exc:
            raise UncertainError(f"gateway: no answer after the request left "
                                 f"({type(exc).__name__}); the platform may have the "
                                 "letter") from None

    def _outcome(self, response: httpx.Response) -> str:
        status = response.status_code
        if 200 <= status < 300:
            try:
                answer = parse_kombi_response(response.content)
            except ValueError as exc:
                raise UncertainError(f"gateway HTTP {status} with an unreadable answer "
                                     f"({exc}); the platform may have the letter") from None
            detail = redact_text("; ".join(answer.messages))[:ERROR_TEXT_MAX]
            if not answer.result:
                raise PermanentError(f"SF1601 refused the message (Result false): "
                                     f"{detail or 'no reason given'}")
            if not answer.transmission_id:
                raise UncertainError("SF1601 said Result true without a TransmissionID")
            return f"sf1601:{answer.transmission_id}"
        detail = redact_text(response.text[:ERROR_TEXT_MAX].strip())
        if status in (401, 429) or status >= 500:
            raise TransientError(f"gateway HTTP {status}: {detail}",
                                 retry_after=_retry_after(response, self.clock.now()))
        raise PermanentError(f"gateway refused the message: HTTP {status}: {detail}")

    def close(self) -> None:
        self.client.close()


class GatewayTransport:
    """A MemoTransport for one KombiValgKode (Digital Post)."""

    def __init__(self, gateway: Sf1601Gateway, choice: KombiChoice) -> None:
        self.gateway = gateway
        self.choice = choice

    def send(self, letter_id: str, memo: bytes) -> str:
        return self.gateway.send(letter_id, self.choice, memo)

    def close(self) -> None:
        self.gateway.close()  # shared by two transports; closing twice is harmless


def find_gateway(channels: Mapping[Any, Any]) -> Sf1601Gateway | None:
    """The SF1601 client the channels share, if any channel uses it."""
    for channel in channels.values():
        gateway = getattr(getattr(channel, "transport", None), "gateway", None)
        if isinstance(gateway, Sf1601Gateway):
            return gateway
    return None


def certificate_days_left(channels: Mapping[Any, Any], now: datetime) -> int | None:
    """Days until the function certificate of the channels' SF1601 client expires; None
    when no channel uses SF1601 (for /healthz and /metrics)."""
    gateway = find_gateway(channels)
    return gateway.certificate.days_left(now) if gateway else None


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
