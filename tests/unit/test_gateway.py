"""The SF1601-shaped http transport against a real local HTTP server (the fake gateway):
what it sends, and how each kind of answer is classified."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest

from notifier.channels.gateway import GatewayTransport, KombiChoice, Sf1601Gateway, kombi_request
from notifier.clock import SimulatedClock
from notifier.errors import ConfigError, PermanentError, TransientError
from notifier.memo import MemoDocument, MemoMessage, MemoParty, build_memo
from notifier.settings import Settings, load_settings
from tests.conftest import XSD_DIR, local
from tests.support.gateway import FakeGateway

LETTER_ID = "5f0c7a52-8a38-4c1e-9d2b-0a6a3c1f2e11"


def memo(letter_id: str = LETTER_ID) -> bytes:
    return build_memo(MemoMessage(
        message_uuid=letter_id, label="Indkaldelse til samtale",
        created=local("2026-11-23 10:15"),
        sender=MemoParty("29189366", "CVR", "Jobcenter"),
        recipient=MemoParty("0706851234", "CPR", "Mette Hansen"),
        main_document=MemoDocument("brev.pdf", "application/pdf", b"%PDF-1.7 test"),
    ))


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    fake = FakeGateway(XSD_DIR if XSD_DIR.is_dir() else None, slow_seconds=2).start()
    yield fake
    fake.stop()


@pytest.fixture
def client(gateway: FakeGateway, tmp_path: object, clean_env: None) -> Iterator[Sf1601Gateway]:
    settings = load_settings(digital_post_transport="http", gateway_url=gateway.url,
                             gateway_timeout=1.0)
    sf1601 = Sf1601Gateway(settings, SimulatedClock(local("2026-11-23 10:15")))
    yield sf1601
    sf1601.close()


def test_request_has_the_kombi_shape_and_headers(gateway: FakeGateway,
                                                 client: Sf1601Gateway) -> None:
    """The gateway receives a kombi_request with KombiValgKode and a schema-valid MeMo,
    x-TransaktionsId = messageUUID and an ISO x-TransaktionsTid."""
    transport_id = GatewayTransport(client, KombiChoice.DIGITAL).send(LETTER_ID, memo())
    assert transport_id == f"sf1601:{LETTER_ID}"
    assert gateway.rejections == []
    accepted = gateway.messages[LETTER_ID]
    assert accepted.choice == "Digital Post"
    assert accepted.transaction_id == LETTER_ID
    assert accepted.transaction_time == "2026-11-23T09:15:00+00:00"


def test_physical_post_choice() -> None:
    """Print goes with KombiValgKode "Fysisk Post"."""
    root = ET.fromstring(kombi_request(KombiChoice.PHYSICAL, memo()))
    assert root.findtext("KombiValgKode") == "Fysisk Post"


@pytest.mark.parametrize("answer", ["500", "503", "429", "drop", "slow"])
def test_server_errors_and_lost_answers_are_transient(
    gateway: FakeGateway, client: Sf1601Gateway, answer: str
) -> None:
    """5xx, 429, a dropped connection and a timeout are worth retrying."""
    gateway.script([answer])
    with pytest.raises(TransientError):
        client.send(LETTER_ID, KombiChoice.DIGITAL, memo())


def test_retry_after_is_passed_on(gateway: FakeGateway, client: Sf1601Gateway) -> None:
    """A 503 with Retry-After tells the deliverer how long the gateway wants us to wait."""
    gateway.script(["503"])
    with pytest.raises(TransientError) as caught:
        client.send(LETTER_ID, KombiChoice.DIGITAL, memo())
    assert caught.value.retry_after == 1.0


def test_validation_refusal_is_permanent(gateway: FakeGateway, client: Sf1601Gateway) -> None:
    """A 4xx other than 409 and 429 means the message itself is wrong: no retry."""
    gateway.script(["400"])
    with pytest.raises(PermanentError, match="HTTP 400"):
        client.send(LETTER_ID, KombiChoice.DIGITAL, memo())


def test_ambiguous_failure_is_retried_with_the_same_uuid_and_counts_once(
    gateway: FakeGateway, client: Sf1601Gateway
) -> None:
    """Given the gateway accepts the message but the answer is lost, when the retry sends
    the same messageUUID, then the gateway's 409 counts as sent and it holds one message."""
    gateway.script(["accept_drop"])
    with pytest.raises(TransientError):
        client.send(LETTER_ID, KombiChoice.DIGITAL, memo())
    assert client.send(LETTER_ID, KombiChoice.DIGITAL, memo()).endswith(":already-accepted")
    assert gateway.received[LETTER_ID] == 2
    assert gateway.accepted[LETTER_ID] == 1


def test_http_transport_needs_a_gateway_url(clean_env: None) -> None:
    """Choosing the http transport without a URL fails at start, naming the setting."""
    with pytest.raises(ConfigError, match="NOTIFIER_GATEWAY_URL"):
        load_settings(digital_post_transport="http")


def test_plain_http_only_to_loopback(clean_env: None) -> None:
    """CPR numbers never cross a network in the clear: http:// is refused unless loopback."""
    with pytest.raises(ConfigError, match="NOTIFIER_GATEWAY_URL"):
        load_settings(gateway_url="http://gateway.example.dk/sf1601")
    assert load_settings(gateway_url="https://gateway.example.dk/sf1601").gateway_url


def test_untrusted_https_certificate_is_transient(settings: Settings) -> None:
    """Certificate validation is on: a server whose certificate we don't trust is not
    talked to (the error is transient so a fixed trust store lets the retry through)."""
    import trustme

    from tests.support.tls import https_server

    ca = trustme.CA()
    with https_server(ca) as url:
        bad = load_settings(digital_post_transport="http", gateway_url=url, gateway_timeout=2)
        with pytest.raises(TransientError, match="unreachable"):
            Sf1601Gateway(bad, SimulatedClock(local("2026-11-23 10:15"))).send(
                LETTER_ID, KombiChoice.DIGITAL, memo())
        with ca.cert_pem.tempfile() as ca_file:
            good = load_settings(digital_post_transport="http", gateway_url=url,
                                 gateway_ca_file=ca_file, gateway_timeout=2)
            sent = Sf1601Gateway(good, SimulatedClock(local("2026-11-23 10:15"))).send(
                LETTER_ID, KombiChoice.DIGITAL, memo())
        assert sent == f"sf1601:{LETTER_ID}"
