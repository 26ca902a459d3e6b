"""Issue 13 (left from issue 12): the Digital Post certificate's expiry in seconds for
/metrics and the operations page, a warning from 30 days before, and a refusal to start
with an expired certificate, saying so."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
)
from cryptography.x509.oid import NameOID

from notifier.channels.gateway import Sf1601Gateway
from notifier.cli import EXIT_CONFIG, main
from notifier.clock import SimulatedClock
from notifier.errors import ConfigError
from notifier.operations.certificate import certificate_expiry, check_certificate
from notifier.settings import load_settings
from tests.conftest import local
from tests.support.gateway import FakeGateway


@pytest.fixture
def fake() -> Iterator[FakeGateway]:
    gateway = FakeGateway()  # never started: only its certificate files are used
    yield gateway
    gateway.stop()


def channels(fake: FakeGateway, clock: SimulatedClock) -> dict[str, object]:
    gateway = Sf1601Gateway(load_settings(digital_post_transport="http", **fake.settings()),
                            clock)

    class Transport:
        pass

    class Channel:
        transport = Transport()

    Channel.transport.gateway = gateway  # type: ignore[attr-defined]
    return {"digital_post": Channel()}


def test_expiry_in_seconds_warns_within_30_days_and_refuses_once_expired(
        fake: FakeGateway, clean_env: None) -> None:
    """Seconds left count down to the certificate's notAfter; 31 days before it is not
    'expiring', 29 days before it is (no refusal yet), one second after it the check
    refuses with a message naming the certificate and what to do."""
    clock = SimulatedClock(local("2026-11-23 10:15"))
    found = channels(fake, clock)
    not_after = certificate_expiry(found, clock.now())
    assert not_after is not None
    end = not_after.not_after
    at = certificate_expiry(found, end - timedelta(days=31))
    assert at is not None and not at.expiring and at.seconds_left == 31 * 86400
    soon = certificate_expiry(found, end - timedelta(days=29))
    assert soon is not None and soon.expiring and soon.as_json()["days_left"] == 29
    check_certificate(found, end - timedelta(days=29), 30)  # a warning, not a refusal
    with pytest.raises(ConfigError, match=r"expired on .* Install the renewed one"):
        check_certificate(found, end + timedelta(seconds=1), 30)
    assert certificate_expiry({}, clock.now()) is None, "no SF1601 channel: no certificate"


def expired_pair(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate valid only in the year 2000: expired whatever today is."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "notifier test (udløbet)")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(datetime(2000, 1, 1, tzinfo=UTC))
            .not_valid_after(datetime(2001, 1, 1, tzinfo=UTC))
            .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / "old.crt", directory / "old.key"
    cert_file.write_bytes(cert.public_bytes(Encoding.PEM))
    key_file.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    return cert_file, key_file


def test_scheduler_refuses_to_start_with_an_expired_certificate(
        fake: FakeGateway, clean_env: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """`notifier scheduler` with Digital Post over SF1601 and an expired certificate exits
    with the configuration error code and says the certificate expired, and when."""
    cert_file, key_file = expired_pair(tmp_path)
    env = {**fake.env(), "NOTIFIER_GATEWAY_CERT_FILE": str(cert_file),
           "NOTIFIER_GATEWAY_KEY_FILE": str(key_file),
           "NOTIFIER_DIGITAL_POST_TRANSPORT": "http", "NOTIFIER_OUTBOX_DIR": str(tmp_path)}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["scheduler"]) == EXIT_CONFIG
    error = capsys.readouterr().err
    assert "expired on 2001-01-01 00:00 UTC" in error and "notifier test" in error
