"""SF1601 over mutual TLS against the fake Serviceplatformen: the token flow (STS →
AccessTokenService → Holder-of-key), what the kombi call carries, and how each kind of
answer is classified."""

from __future__ import annotations

import base64
import ssl
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    load_pem_private_key,
    pkcs12,
)
from cryptography.x509 import load_pem_x509_certificate

from notifier.channels.gateway import (
    GatewayTransport,
    KombiChoice,
    Sf1601Gateway,
    kombi_request,
    parse_kombi_response,
)
from notifier.channels.postforespoerg import PostForespoerg
from notifier.clock import SimulatedClock
from notifier.delivery.memo import MemoDocument, MemoMessage, MemoParty, build_memo
from notifier.errors import ConfigError, PermanentError, TransientError, UncertainError
from notifier.settings import load_settings
from tests.conftest import local
from tests.support.gateway import STS_PATH, FakeGateway

LETTER_ID = "5f0c7a52-8a38-4c1e-9d2b-0a6a3c1f2e11"
OTHER_ID = "6a1d8b63-9b49-4d2f-8e3c-1b7b4d2a3f22"


def memo(letter_id: str = LETTER_ID, version: str = "1.2") -> bytes:
    return build_memo(MemoMessage(
        message_uuid=letter_id, label="Indkaldelse til samtale",
        created=local("2026-11-23 10:15"),
        sender=MemoParty("29189366", "CVR", "Jobcenter"),
        recipient=MemoParty("0706851234", "CPR", "Mette Hansen"),
        main_document=MemoDocument("brev.pdf", "application/pdf", b"%PDF-1.7 test"),
        memo_version=version,
    ))


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(local("2026-11-23 10:15"))


@pytest.fixture
def gateway(clock: SimulatedClock) -> Iterator[FakeGateway]:
    """The platform keeps the test's simulated time, so token expiry is deterministic."""
    # "slow" answers after 4 s, past the client's 3 s timeout; every other answer has
    # 3 s, ample on a loaded machine (the fake validates each message in this process).
    fake = FakeGateway(slow_seconds=4, now=lambda: clock.now().timestamp()).start()
    yield fake
    fake.stop()


@pytest.fixture
def client(gateway: FakeGateway, clock: SimulatedClock,
           clean_env: None) -> Iterator[Sf1601Gateway]:
    settings = load_settings(digital_post_transport="http", gateway_timeout=3.0,
                             **gateway.settings())
    sf1601 = Sf1601Gateway(settings, clock)
    yield sf1601
    sf1601.close()


def test_request_has_the_kombi_shape_headers_and_token(gateway: FakeGateway,
                                                       client: Sf1601Gateway) -> None:
    """The platform receives, over mutual TLS with a Holder-of-key token from the STS
    flow, a kombi_request with KombiValgKode and a MeMo 1.2 valid against the official
    schema, x-TransaktionsId = messageUUID and x-TransaktionsTid as yyyy-MM-ddTHH:mm:ssZ;
    the receipt id is the platform's TransmissionID."""
    transport_id = GatewayTransport(client, KombiChoice.DIGITAL).send(LETTER_ID, memo())
    assert gateway.rejections == []
    assert transport_id.startswith("sf1601:") and transport_id != f"sf1601:{LETTER_ID}"
    accepted = gateway.messages[LETTER_ID]
    assert accepted.choice == "Digital Post"
    assert accepted.transaction_id == LETTER_ID
    assert accepted.transaction_time == "2026-11-23T09:15:00Z"
    assert gateway.calls == {"sts": 1, "token": 1, "kombi": 1}


def test_tokens_are_cached_and_renewed_before_expiry(gateway: FakeGateway,
                                                     client: Sf1601Gateway,
                                                     clock: SimulatedClock) -> None:
    """A second letter reuses both tokens; once the access token is within the refresh
    margin of its 3600 s, a new one is fetched from the still-valid SAML token; past the
    SAML token's lifetime both are fetched again."""
    client.send(LETTER_ID, KombiChoice.DIGITAL, memo())
    client.send(OTHER_ID, KombiChoice.DIGITAL, memo(OTHER_ID))
    assert (gateway.calls["sts"], gateway.calls["token"]) == (1, 1)
    clock.advance(timedelta(seconds=3600 - 299))
    client.send(LETTER_ID, KombiChoice.DIGITAL, memo())
    assert (gateway.calls["sts"], gateway.calls["token"]) == (1, 2)
    clock.advance(timedelta(hours=8))
    client.send(LETTER_ID, KombiChoice.DIGITAL, memo())
    assert (gateway.calls["sts"], gateway.calls["token"]) == (2, 3)


def test_a_401_renews_the_tokens_once(gateway: FakeGateway, client: Sf1601Gateway) -> None:
    """When the platform no longer honours our token (401), the client fetches new tokens
    and sends once more; the letter is accepted once."""
    client.send(OTHER_ID, KombiChoice.DIGITAL, memo(OTHER_ID))
    gateway.expire_tokens()
    client.send(LETTER_ID, KombiChoice.DIGITAL, memo())
    assert gateway.calls["sts"] == 2 and gateway.accepted[LETTER_ID] == 1


def test_result_false_in_a_200_is_a_permanent_refusal(gateway: FakeGateway,
                                                      client: Sf1601Gateway) -> None:
    """An HTTP 200 whose kombi_response says Result false is not sent: it is refused,
    with the platform's fejl text in the reason."""
    gateway.script(["refuse"])
    with pytest.raises(PermanentError, match=r"Result false.*memo\.invalid"):
        client.send(LETTER_ID, KombiChoice.DIGITAL, memo())
    assert gateway.accepted[LETTER_ID] == 0


@pytest.mark.parametrize("answer", ["500", "503", "429"])
def test_server_errors_are_transient(gateway: FakeGateway, client: Sf1601Gateway,
                                     answer: str) -> None:
    """5xx and 429 are worth retrying, and are not 'uncertain': the platform answered."""
    gateway.script([answer])
    with pytest.raises(TransientError) as caught:
        client.send(LETTER_ID, KombiChoice.DIGITAL, memo())
    assert not isinstance(caught.value, UncertainError)


@pytest.mark.parametrize("answer", ["accept_drop", "drop", "slow"])
def test_a_lost_answer_is_uncertain_never_sent(gateway: FakeGateway, client: Sf1601Gateway,
                                               answer: str) -> None:
    """A dropped connection or a timeout after the request left may mean the platform has
    the letter: UncertainError (a TransientError retried with the same ids), never sent."""
    gateway.script([answer])
    with pytest.raises(UncertainError):
        client.send(LETTER_ID, KombiChoice.DIGITAL, memo())


def test_no_connection_is_transient_but_not_uncertain(clean_env: None, gateway: FakeGateway,
                                                      clock: SimulatedClock) -> None:
    """When nothing can have left (connection refused), the error is plainly transient."""
    settings = load_settings(digital_post_transport="http", **{
        **gateway.settings(), "gateway_url": "https://127.0.0.1:9/service/kombi"})
    sf1601 = Sf1601Gateway(settings, clock)
    try:
        with pytest.raises(TransientError) as caught:
            sf1601.send(LETTER_ID, KombiChoice.DIGITAL, memo())
    finally:
        sf1601.close()
    assert not isinstance(caught.value, UncertainError)


def test_retry_after_is_passed_on(gateway: FakeGateway, client: Sf1601Gateway) -> None:
    """A 503 with Retry-After tells the deliverer how long the platform wants us to wait."""
    gateway.script(["503"])
    with pytest.raises(TransientError) as caught:
        client.send(LETTER_ID, KombiChoice.DIGITAL, memo())
    assert caught.value.retry_after == 1.0


def test_other_4xx_is_permanent_and_409_means_nothing_special(
    gateway: FakeGateway, client: Sf1601Gateway
) -> None:
    """A 400 means the message itself is wrong; a 409 is no longer read as 'already
    accepted' (no source says SF1601 answers so): both are permanent refusals."""
    gateway.script(["400", "409"])
    for _ in range(2):
        with pytest.raises(PermanentError, match="HTTP 40"):
            client.send(LETTER_ID, KombiChoice.DIGITAL, memo())


def test_memo_11_is_still_accepted(gateway: FakeGateway, client: Sf1601Gateway) -> None:
    """With NOTIFIER_MEMO_VERSION=1.1 the message validates against the 1.1 schema."""
    client.send(LETTER_ID, KombiChoice.DIGITAL, memo(version="1.1"))
    assert gateway.rejections == [] and b'memoVersion="1.1"' in gateway.messages[LETTER_ID].memo


def test_platform_requires_a_client_certificate(gateway: FakeGateway) -> None:
    """The fake, like the real platform, refuses a TLS client without a certificate."""
    trusting = ssl.create_default_context(cafile=gateway.env()["NOTIFIER_GATEWAY_CA_FILE"])
    with pytest.raises(httpx.TransportError):
        httpx.post(gateway.base + STS_PATH, json={}, verify=trusting)
    assert gateway.calls["sts"] == 0


def test_sts_checks_usekey_is_the_presented_certificate(gateway: FakeGateway,
                                                        client: Sf1601Gateway) -> None:
    """A STS request whose UseKey is not the certificate on the TLS connection is refused,
    and the token service refuses to go on without a SAML token."""
    real = client.tokens.certificate.use_key()
    client.tokens.certificate = type(client.tokens.certificate)(
        der=base64.b64decode(real)[:-1] + b"x", subject="", not_after=client.tokens.certificate
        .not_after, context=client.tokens.certificate.context)
    with pytest.raises(TransientError, match="STS: HTTP 400"):
        client.send(LETTER_ID, KombiChoice.DIGITAL, memo())
    assert gateway.rejections == ["sts: UseKey is not the certificate presented over TLS"]


def test_pkcs12_certificate_with_password(gateway: FakeGateway, clock: SimulatedClock,
                                          clean_env: None, tmp_path: Path) -> None:
    """The function certificate may be a PKCS#12 file with a password (as issued)."""
    paths = gateway.settings()
    key = load_pem_private_key(Path(paths.pop("gateway_key_file")).read_bytes(), None)
    cert = load_pem_x509_certificate(Path(paths.pop("gateway_cert_file")).read_bytes())
    p12 = tmp_path / "function.p12"
    p12.write_bytes(pkcs12.serialize_key_and_certificates(
        b"notifier", key, cert, None, BestAvailableEncryption(b"hemmelig")))  # type: ignore[arg-type]
    settings = load_settings(digital_post_transport="http", gateway_p12_file=p12,
                             gateway_p12_password="hemmelig", **paths)
    sf1601 = Sf1601Gateway(settings, clock)
    try:
        sf1601.send(LETTER_ID, KombiChoice.DIGITAL, memo())
    finally:
        sf1601.close()
    assert gateway.accepted[LETTER_ID] == 1
    assert sf1601.certificate.days_left(clock.now()) > 30


def test_postforespoerg_asks_with_its_own_token_and_caches(
    gateway: FakeGateway, client: Sf1601Gateway, clock: SimulatedClock, clean_env: None
) -> None:
    """PostForespoerg answers per citizen from the platform (its own entity id's token),
    and a second question within the cache time is not sent again."""
    gateway.no_digital_post.add("1203784321")
    settings = load_settings(digital_post_transport="http", **gateway.settings())
    ask = PostForespoerg(settings, client)
    assert ask.can_receive("0706851234") is True
    assert ask.can_receive("1203784321") is False
    assert ask.can_receive("0706851234") is True
    assert gateway.calls["forespoerg"] == 2
    clock.advance(timedelta(seconds=settings.postforespoerg_cache_seconds + 1))
    ask.can_receive("0706851234")
    assert gateway.calls["forespoerg"] == 3 and gateway.rejections == []


def test_kombi_response_parsing() -> None:
    """Result, TransmissionID and the advis/fejl texts are read; anything else is refused."""
    ok = parse_kombi_response(b"<kombi_response><Result>true</Result><TransmissionID>t-1"
                              b"</TransmissionID></kombi_response>")
    assert ok.result and ok.transmission_id == "t-1"
    bad = parse_kombi_response(b"<kombi_response><Result>false</Result><H><S><Fejl><FejlId>"
                               b"x.y</FejlId><FejlTekst>nej</FejlTekst></Fejl></S></H>"
                               b"</kombi_response>")
    assert not bad.result and bad.messages == ("Fejl x.y: nej",)
    for body in (b"accepted", b"<other/>", b"<kombi_response/>"):
        with pytest.raises(ValueError):
            parse_kombi_response(body)


def test_physical_post_choice_carries_the_forsendelse() -> None:
    """Print goes with KombiValgKode "Fysisk Post" and a ForsendelseISamling after the MeMo."""
    order = ET.Element("{urn:oio:fjernprint:1.0.0}ForsendelseI")
    root = ET.fromstring(kombi_request(KombiChoice.PHYSICAL, memo(), order))
    assert root.findtext("KombiValgKode") == "Fysisk Post"
    assert [child.tag.rsplit("}", 1)[-1] for child in root] == [
        "KombiValgKode", "Message", "ForsendelseISamling"]


def test_http_transport_needs_the_whole_token_flow(clean_env: None) -> None:
    """Choosing the http transport without the URLs or a certificate fails at start,
    naming each missing setting."""
    with pytest.raises(ConfigError, match="NOTIFIER_GATEWAY_URL"):
        load_settings(digital_post_transport="http")
    with pytest.raises(ConfigError) as caught:
        load_settings(print_transport="http", digital_post_transport="http",
                      gateway_url="https://sp.example.dk/kombi")
    for name in ("NOTIFIER_STS_URL", "NOTIFIER_TOKEN_URL", "NOTIFIER_GATEWAY_CERT_FILE",
                 "NOTIFIER_PRINT_TYPE_ID", "NOTIFIER_POSTFORESPOERG_URL"):
        assert name in str(caught.value)


def test_plain_http_only_to_loopback(clean_env: None) -> None:
    """CPR numbers never cross a network in the clear: http:// is refused unless loopback."""
    with pytest.raises(ConfigError, match="NOTIFIER_GATEWAY_URL"):
        load_settings(gateway_url="http://gateway.example.dk/sf1601")
    with pytest.raises(ConfigError, match="NOTIFIER_STS_URL"):
        load_settings(sts_url="http://sts.example.dk/issue")
    assert load_settings(gateway_url="https://gateway.example.dk/sf1601").gateway_url


def test_saml_expiry_falls_back_to_the_lifetime_string() -> None:
    """Without Conditions/@NotOnOrAfter in the assertion, the STS answer's Lifetime
    string (MM/DD/YYYY HH:MM:SS) gives the expiry; an unreadable one is transient."""
    from notifier.channels.sts import _saml_expiry

    bare = base64.b64encode(b'<a:Assertion xmlns:a="urn:oasis:names:tc:SAML:2.0:assertion"/>')
    expiry = _saml_expiry(bare.decode(), {"Lifetime": "11/23/2026 17:15:00"})
    assert expiry.isoformat() == "2026-11-23T17:15:00+00:00"
    with pytest.raises(TransientError, match="Lifetime"):
        _saml_expiry(bare.decode(), {"Lifetime": "2026-11-23"})


def test_real_platform_needs_a_caseworker_link_that_opens(clean_env: None,
                                                          tmp_path: Path) -> None:
    """Sending through a real (non-loopback) Serviceplatformen is production: the default
    localhost link in caseworker alerts (or a plain-http one) stops the start, naming
    NOTIFIER_CASEWORKER_URL; the jobcenter's https address passes (issue 11's note)."""
    real = {"digital_post_transport": "http", "gateway_url": "https://sp.example.dk/kombi",
            "sts_url": "https://sts.example.dk/issue", "token_url": "https://sp.example.dk/t",
            "postforespoerg_url": "https://sp.example.dk/pf",
            "gateway_cert_file": str(tmp_path / "c.pem"),
            "gateway_key_file": str(tmp_path / "k.pem")}
    for link in (None, "http://jobcenter.example.dk/ui/cases", "https://localhost/ui/cases"):
        with pytest.raises(ConfigError, match="NOTIFIER_CASEWORKER_URL"):
            load_settings(**real, **({"caseworker_url": link} if link else {}))
    assert load_settings(**real, caseworker_url="https://jobcenter.example.dk/ui/cases")
