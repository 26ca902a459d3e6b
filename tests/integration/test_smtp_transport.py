"""The smtp mail transport against a real SMTP server (aiosmtpd) that requires STARTTLS
with a certificate from a test CA."""

from __future__ import annotations

from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
import trustme

from notifier.channels.smtp import SmtpTransport
from notifier.errors import PermanentError, TransientError
from notifier.settings import Settings, load_settings
from tests.support.smtp import SmtpServer

pytestmark = pytest.mark.integration


def smtp_settings(server: SmtpServer, ca_file: Path | None) -> Settings:
    return load_settings(mail_transport="smtp", smtp_host="localhost", smtp_port=server.port,
                         smtp_ca_file=ca_file, smtp_timeout=3)


def mail(n: int) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "jobcenter@eksempel.dk"
    message["To"] = "lise@eksempel.dk"
    message["Subject"] = f"Påmindelse {n} - sag SDP-2026-0042"
    message["X-Notifier-Letter-Id"] = f"letter-{n}"
    message.set_content("Sagen kræver handling.")
    return message


@pytest.fixture
def transport(smtp: SmtpServer, ca_file: Path, clean_env: None) -> Iterator[SmtpTransport]:
    client = SmtpTransport(smtp_settings(smtp, ca_file))
    yield client
    client.close()


def test_mail_goes_over_starttls_on_one_reused_connection(
    smtp: SmtpServer, transport: SmtpTransport
) -> None:
    """Three alerts arrive, each after STARTTLS, all over the same connection."""
    for n in range(3):
        assert transport.send(f"letter-{n}", mail(n)).startswith("smtp:")
    assert smtp.by_letter_id() == {"letter-0": 1, "letter-1": 1, "letter-2": 1}
    assert all(item.tls for item in smtp.received)
    assert len({item.peer for item in smtp.received}) == 1


def refused(server: SmtpServer, ca_file: Path | None, error: type[Exception], match: str) -> None:
    client = SmtpTransport(smtp_settings(server, ca_file))
    try:
        with pytest.raises(error, match=match):
            client.send("letter-0", mail(0))
    finally:
        client.close()
    assert server.received == []


def test_untrusted_certificate_is_refused(smtp: SmtpServer, clean_env: None) -> None:
    """Certificate validation is on: without the test CA trusted nothing is sent."""
    refused(smtp, None, TransientError, "certificate")


def test_server_without_starttls_is_refused(test_ca: trustme.CA, ca_file: Path,
                                            clean_env: None) -> None:
    """A server that does not offer STARTTLS gets nothing: no fallback to clear text."""
    plain = SmtpServer(test_ca, tls=False).start()
    try:
        refused(plain, ca_file, PermanentError, "STARTTLS")
    finally:
        plain.stop()


def test_server_down_then_back(smtp: SmtpServer, transport: SmtpTransport) -> None:
    """Given a kept connection, when the server goes away the send is transient; when it is
    back on the same port, the transport reconnects and the mail arrives once."""
    transport.send("letter-0", mail(0))
    smtp.stop()
    with pytest.raises(TransientError):
        transport.send("letter-1", mail(1))
    smtp.start()
    transport.send("letter-1", mail(1))
    assert smtp.by_letter_id() == {"letter-0": 1, "letter-1": 1}
