"""Serviceplatformen authentication: the OCES3 function certificate, the STS SAML token,
the AccessTokenService token and the ``Authorization: Holder-of-key`` header.

The flow, as the public SF1601 clients do it (itk-dev/serviceplatformen
``AbstractRESTService``, OS2Valghalla ``DigitalPostService``):

1. ``POST <sts_url>`` (``…/runtime/api/rest/wstrust/v1/issue``) over mutual TLS with a
   JSON body: TokenType (SAML 2.0), RequestType (Issue), KeyType (PublicKey),
   ``AnvenderKontekst.Cvr``, ``UseKey`` = the client certificate as one base64 line, and
   ``AppliesTo.EndpointReference.Address`` = the service's entity id. The answer's
   ``RequestedSecurityToken.Assertion`` is the base64 SAML assertion; it is valid until its
   ``Conditions/@NotOnOrAfter``.
2. ``POST <token_url>`` (``…/service/AccessTokenService_1/token``), again over mutual TLS,
   form field ``saml-token`` = that assertion. The JSON answer has ``access_token``,
   ``token_type`` (``Holder-of-key``) and ``expires_in`` (3600 s).
3. Each service call carries ``Authorization: <token_type> <access_token>`` over the same
   mutual TLS: the token is bound to the certificate that presents it.

Both tokens are cached per entity id and refreshed ``token_refresh_seconds`` before they
expire, and once more when a call answers 401 (``invalidate``). Failures are transient:
the letter is fine, the platform or our configuration is not, and an operator can fix it
while the letter waits (``notifier digital-post check`` says which step fails).
"""

from __future__ import annotations

import base64
import ssl
import tempfile
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    pkcs12,
)

from notifier.clock import Clock
from notifier.errors import ConfigError, TransientError
from notifier.settings import Settings

ENTITY_KOMBI = "http://entityid.kombit.dk/service/kombipostafsend/1"
ENTITY_POSTFORESPOERG = "http://entityid.kombit.dk/service/postforespoerg/1"
TOKEN_TYPE = "http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV2.0"  # noqa: S105
REQUEST_TYPE = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue"
KEY_TYPE = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/PublicKey"
SAML_NS = "urn:oasis:names:tc:SAML:2.0:assertion"


@dataclass(frozen=True)
class FunctionCertificate:
    """The OCES3 function certificate: what mutual TLS presents and the STS binds to."""

    der: bytes
    subject: str
    not_after: datetime  # UTC
    context: ssl.SSLContext  # client context with the certificate and key loaded

    def use_key(self) -> str:
        """The certificate as one base64 line (PEM without its armour and line breaks)."""
        return base64.b64encode(self.der).decode("ascii")

    def days_left(self, now: datetime) -> int:
        return (self.not_after - now).days


def load_certificate(settings: Settings) -> FunctionCertificate:
    """The configured certificate (PEM pair or PKCS#12) in a client TLS context."""
    context = ssl.create_default_context(cafile=settings.gateway_ca_file)
    try:
        if settings.gateway_p12_file:
            cert = _load_p12(settings, context)
        elif settings.gateway_cert_file and settings.gateway_key_file:
            context.load_cert_chain(settings.gateway_cert_file, settings.gateway_key_file)
            cert = x509.load_pem_x509_certificate(settings.gateway_cert_file.read_bytes())
        else:
            raise ConfigError("NOTIFIER_GATEWAY_CERT_FILE or NOTIFIER_GATEWAY_P12_FILE: "
                              "the Serviceplatformen needs a client certificate")
    except (OSError, ValueError, ssl.SSLError) as exc:
        raise ConfigError(f"gateway certificate: cannot load it ({type(exc).__name__}: "
                          f"{exc})") from None
    return FunctionCertificate(
        der=cert.public_bytes(Encoding.DER), subject=cert.subject.rfc4514_string(),
        not_after=cert.not_valid_after_utc, context=context,
    )


def _load_p12(settings: Settings, context: ssl.SSLContext) -> x509.Certificate:
    assert settings.gateway_p12_file is not None
    password = settings.gateway_p12_password
    key, cert, chain = pkcs12.load_key_and_certificates(
        settings.gateway_p12_file.read_bytes(),
        password.get_secret_value().encode() if password else None,
    )
    if key is None or cert is None:
        raise ValueError("the PKCS#12 file holds no key and certificate")
    # ssl loads a chain only from files: write it to a private directory, load, delete.
    with tempfile.TemporaryDirectory(prefix="notifier-cert-") as directory:
        path = Path(directory) / "client.pem"
        pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
        pem += b"".join(c.public_bytes(Encoding.PEM) for c in (cert, *chain))
        path.touch(mode=0o600)
        path.write_bytes(pem)
        context.load_cert_chain(path)
    return cert


@dataclass(frozen=True)
class Token:
    value: str
    expires_at: datetime  # UTC
    token_type: str = ""


class TokenService:
    """SAML and access tokens per entity id, cached; thread-safe (one lock per process)."""

    def __init__(self, settings: Settings, clock: Clock, client: httpx.Client,
                 certificate: FunctionCertificate) -> None:
        if not settings.sts_url or not settings.token_url:
            raise ConfigError("NOTIFIER_STS_URL and NOTIFIER_TOKEN_URL: required by the "
                              "http transport")
        self.sts_url = settings.sts_url
        self.token_url = settings.token_url
        self.cvr = settings.authority_cvr or settings.sender_cvr
        self.margin = timedelta(seconds=settings.token_refresh_seconds)
        self.clock = clock
        self.client = client
        self.certificate = certificate
        self.saml: dict[str, Token] = {}
        self.access: dict[str, Token] = {}
        self.lock = threading.Lock()

    def authorization(self, entity_id: str) -> str:
        """The ``Authorization`` header value for a call to the service ``entity_id``."""
        with self.lock:
            token = self.access.get(entity_id)
            if token is None or not self._fresh(token):
                saml = self.saml.get(entity_id)
                if saml is None or not self._fresh(saml):
                    saml = self.saml[entity_id] = self.fetch_saml(entity_id)
                token = self.access[entity_id] = self.fetch_access(saml)
            return f"{token.token_type} {token.value}"

    def invalidate(self, entity_id: str) -> None:
        """Forget both tokens (the service answered 401): the next call fetches new ones."""
        with self.lock:
            self.saml.pop(entity_id, None)
            self.access.pop(entity_id, None)

    def _fresh(self, token: Token) -> bool:
        return self.clock.now() + self.margin < token.expires_at

    def fetch_saml(self, entity_id: str) -> Token:
        body = {
            "TokenType": TOKEN_TYPE, "RequestType": REQUEST_TYPE, "KeyType": KEY_TYPE,
            "AnvenderKontekst": {"Cvr": self.cvr}, "UseKey": self.certificate.use_key(),
            "AppliesTo": {"EndpointReference": {"Address": entity_id}}, "OnBehalfOf": None,
        }
        answer = self._post("STS", self.sts_url, json=body)
        token = answer.get("RequestedSecurityToken")
        assertion = token.get("Assertion") if isinstance(token, dict) else None
        if not isinstance(assertion, str) or not assertion:
            raise TransientError("STS: the answer has no RequestedSecurityToken.Assertion")
        return Token(assertion, _saml_expiry(assertion, answer))

    def fetch_access(self, saml: Token) -> Token:
        answer = self._post("AccessTokenService", self.token_url,
                            data={"saml-token": saml.value})
        value, kind, expires_in = (answer.get(k) for k in
                                   ("access_token", "token_type", "expires_in"))
        if not isinstance(value, str) or not isinstance(kind, str) or not value:
            raise TransientError("AccessTokenService: the answer has no access_token/token_type")
        try:
            seconds = float(expires_in)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise TransientError("AccessTokenService: expires_in is not a number") from None
        expires_at = min(self.clock.now() + timedelta(seconds=seconds), saml.expires_at)
        return Token(value, expires_at, kind)

    def _post(self, service: str, url: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self.client.post(url, **kwargs)
        except httpx.TransportError as exc:
            raise TransientError(f"{service}: unreachable ({type(exc).__name__})") from None
        if response.status_code != 200:
            # The body may echo the request; it carries no CPR number, but keep it short.
            raise TransientError(f"{service}: HTTP {response.status_code}: "
                                 f"{response.text[:200].strip()}")
        try:
            answer = response.json()
        except ValueError:
            raise TransientError(f"{service}: the answer is not JSON") from None
        if not isinstance(answer, dict):
            raise TransientError(f"{service}: the answer is not a JSON object")
        return answer


def _saml_expiry(assertion: str, answer: dict[str, Any]) -> datetime:
    """``Conditions/@NotOnOrAfter`` of the assertion (as itk-dev reads it); else the
    answer's ``Lifetime``, a string ``MM/DD/YYYY HH:MM:SS`` (as haderslev-rpa's
    q-serviceplatformen reads it; its zone is not stated anywhere, UTC is assumed)."""
    when: str | None = None
    try:
        root = ET.fromstring(base64.b64decode(assertion, validate=True))  # noqa: S314
        conditions = root.find(f".//{{{SAML_NS}}}Conditions")
        if conditions is not None:
            when = conditions.get("NotOnOrAfter")
    except (ValueError, ET.ParseError):
        raise TransientError("STS: the assertion is not base64 SAML XML") from None
    lifetime = answer.get("Lifetime")
    if when is None and isinstance(lifetime, str):
        try:
            return datetime.strptime(lifetime, "%m/%d/%Y %H:%M:%S").replace(tzinfo=UTC)
        except ValueError:
            raise TransientError("STS: Lifetime is not MM/DD/YYYY HH:MM:SS") from None
    try:
        expires = datetime.fromisoformat(str(when).replace("Z", "+00:00"))
    except ValueError:
        raise TransientError("STS: the token has no readable expiry") from None
    if expires.utcoffset() is None:
        raise TransientError("STS: the token's expiry has no time zone")
    return expires.astimezone(UTC)
