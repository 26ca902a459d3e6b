"""The Digital Post function certificate's expiry (issue 13, left over from issue 12):
seconds until it expires for /metrics and the operations page, a warning from
``NOTIFIER_CERTIFICATE_WARN_DAYS`` before, and a refusal to start with an expired one
(every call to Serviceplatformen would fail its mutual TLS; better said once, clearly)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from notifier.errors import ConfigError
from notifier.logging import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class CertificateExpiry:
    subject: str
    not_after: datetime
    seconds_left: float
    warn_days: int

    @property
    def expiring(self) -> bool:
        return self.seconds_left < self.warn_days * 86400

    def as_json(self) -> dict[str, Any]:
        return {"subject": self.subject, "not_after": self.not_after.isoformat(),
                "seconds_left": round(self.seconds_left), "days_left":
                int(self.seconds_left // 86400), "expiring": self.expiring}


def certificate_expiry(channels: Mapping[Any, Any], now: datetime,
                       warn_days: int = 30) -> CertificateExpiry | None:
    """The SF1601 client certificate's expiry; None when no channel uses SF1601."""
    from notifier.channels.gateway import find_gateway

    gateway = find_gateway(channels)
    if gateway is None:
        return None
    cert = gateway.certificate
    return CertificateExpiry(cert.subject, cert.not_after,
                             (cert.not_after - now).total_seconds(), warn_days)


def check_certificate(channels: Mapping[Any, Any], now: datetime, warn_days: int) -> None:
    """At start: ConfigError if the configured certificate has expired; a warning (and
    the alert rule on ``notifier_gateway_certificate_expiry_seconds``) when it expires
    within ``warn_days``."""
    expiry = certificate_expiry(channels, now, warn_days)
    if expiry is None:
        return
    if expiry.seconds_left <= 0:
        raise ConfigError(
            f"the Digital Post certificate ({expiry.subject}) expired on "
            f"{expiry.not_after:%Y-%m-%d %H:%M} UTC: Serviceplatformen refuses it. Install "
            "the renewed one (NOTIFIER_GATEWAY_CERT_FILE/_KEY_FILE or _P12_FILE)")
    if expiry.expiring:
        log.warning("certificate.expiring", subject=expiry.subject,
                    not_after=expiry.not_after.isoformat(),
                    days_left=int(expiry.seconds_left // 86400))
