"""Operator paths of issue 12: `notifier digital-post check` against the fake
Serviceplatformen, and the Beskedfordeler's mutual-TLS receipt listener."""

from __future__ import annotations

import ssl
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import fakeredis
import httpx
import pytest
import trustme

from notifier.cli import main
from notifier.clock import SimulatedClock
from notifier.records.beskedfordeler import serve_beskedfordeler
from notifier.runtime import Runtime, build_runtime
from notifier.settings import load_settings
from tests.conftest import CITIZEN_CPR, opening_event
from tests.support.gateway import FakeGateway, modtag_besked_input
from tests.unit.test_pipeline import deliver_due

SAGDOK = "{urn:oio:sagdok:3.0.0}"


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    fake = FakeGateway(validate=False).start()
    yield fake
    fake.stop()


def test_check_reports_certificate_tokens_and_postforespoerg(
    gateway: FakeGateway, clean_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    capsys: pytest.CaptureFixture[str]
) -> None:
    """`digital-post check` loads the certificate, gets both services' tokens and asks
    PostForespoerg about the test recipient, printing no CPR number; exit 0."""
    for name, value in gateway.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("NOTIFIER_DIGITAL_POST_TRANSPORT", "http")
    recipient = tmp_path / "recipient.txt"
    recipient.write_text(CITIZEN_CPR)
    assert main(["digital-post", "check", "--recipient-file", str(recipient)]) == 0
    out = capsys.readouterr().out
    assert "ok certificate" in out and "days)" in out
    assert out.count("ok tokens") == 2 and "can receive Digital Post" in out
    assert CITIZEN_CPR not in out
    assert gateway.calls["sts"] == 2 and gateway.calls["forespoerg"] == 1


def test_check_fails_naming_the_step(gateway: FakeGateway, clean_env: None,
                                     monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    """When the STS is not where the settings say, the check exits 1 naming that step."""
    for name, value in gateway.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("NOTIFIER_DIGITAL_POST_TRANSPORT", "http")
    monkeypatch.setenv("NOTIFIER_STS_URL", gateway.base + "/no/such/sts")
    assert main(["digital-post", "check"]) == 1
    assert "FAILED tokens for http://entityid.kombit.dk/service/kombipostafsend/1" in \
        capsys.readouterr().err


@pytest.fixture
def listener(tmp_path: Path, clean_env: None,
             clock: SimulatedClock) -> Iterator[tuple[Runtime, str, trustme.CA, Path]]:
    ca = trustme.CA()
    server_cert = ca.issue_cert("localhost", "127.0.0.1")
    server_cert.cert_chain_pems[0].write_to_path(str(tmp_path / "server.crt"))
    server_cert.private_key_pem.write_to_path(str(tmp_path / "server.key"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    settings = load_settings(
        outbox_dir=tmp_path / "outbox", beskedfordeler_port=0,
        beskedfordeler_cert_file=tmp_path / "server.crt",
        beskedfordeler_key_file=tmp_path / "server.key",
        beskedfordeler_client_ca_file=tmp_path / "ca.pem")
    runtime = build_runtime(settings, clock=clock, client=fakeredis.FakeRedis())
    server = serve_beskedfordeler(settings, runtime)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"https://localhost:{server.server_address[1]}/beskedfordeler/PostStatusBeskedModtag"
    try:
        yield runtime, url, ca, tmp_path / "ca.pem"
    finally:
        server.shutdown()
        server.server_close()
        runtime.close()


def test_listener_takes_a_status_over_mutual_tls_only(
    listener: tuple[Runtime, str, trustme.CA, Path]
) -> None:
    """The Beskedfordeler's ModtagBeskedInput, from a client with a certificate of the
    configured CA, is recorded and answered with StatusKode 20; a client without a
    certificate is refused at the handshake."""
    runtime, url, ca, ca_file = listener
    runtime.store.apply_event(opening_event(), runtime.planner, runtime.clock.now())
    (form_id,) = deliver_due(runtime)
    trusting = ssl.create_default_context(cafile=str(ca_file))
    with pytest.raises(httpx.TransportError):
        httpx.post(url, content=modtag_besked_input(form_id), verify=trusting)
    with_cert = ssl.create_default_context(cafile=str(ca_file))
    ca.issue_cert("beskedfordeler.serviceplatformen.dk").configure_cert(with_cert)
    answer = httpx.post(url, content=modtag_besked_input(form_id), verify=with_cert)
    assert answer.status_code == 200
    assert ET.fromstring(answer.content).findtext(
        f"{SAGDOK}StandardRetur/{SAGDOK}StatusKode") == "20"
    letter = runtime.store.letter(form_id)
    assert letter is not None and letter.receipt_status == "delivered"
    refused = httpx.post(url, content=b"<nonsense/>", verify=with_cert)
    assert ET.fromstring(refused.content).findtext(
        f"{SAGDOK}StandardRetur/{SAGDOK}StatusKode") == "40"
    # A status for a letter another system of the municipality sent: acknowledged (20),
    # so the Beskedfordeler does not redeliver it, and nothing is recorded.
    other = httpx.post(url, content=modtag_besked_input("6a1d8b63-9b49-4d2f-8e3c-1b7b4d2a3f22"),
                       verify=with_cert)
    assert ET.fromstring(other.content).findtext(
        f"{SAGDOK}StandardRetur/{SAGDOK}StatusKode") == "20"
    assert runtime.store.letter("6a1d8b63-9b49-4d2f-8e3c-1b7b4d2a3f22") is None


def test_healthz_and_metrics_show_the_certificate_expiry(gateway: FakeGateway, clean_env: None,
                                                        tmp_path: Path,
                                                        clock: SimulatedClock) -> None:
    """With SF1601 configured, /healthz and /metrics report the function certificate's
    days to expiry (from the certificate itself: trustme's run for decades)."""
    import json

    from notifier.api.routes import get_health, get_metrics

    settings = load_settings(outbox_dir=tmp_path / "outbox", digital_post_transport="http",
                             **gateway.settings())
    runtime = build_runtime(settings, clock=clock, client=fakeredis.FakeRedis())
    try:
        health = json.loads(bytes(get_health(runtime).body))
        metrics = get_metrics(runtime, None).body.decode()  # type: ignore[arg-type]
    finally:
        runtime.close()
    days = health["gateway_certificate_days_left"]
    assert days > 365
    assert f"notifier_gateway_certificate_days_left {float(days)}" in metrics


def test_citizen_without_digital_post_gets_paper_post(gateway: FakeGateway, clean_env: None,
                                                     tmp_path: Path,
                                                     clock: SimulatedClock) -> None:
    """Before a citizen's Digital Post letter is rendered, PostForespoerg is asked; a
    citizen the platform says cannot receive Digital Post gets the letter by print (with
    an audit entry saying why), and Digital Post never sees it. The employer's letters
    are not asked about."""
    from notifier.models import ChannelName, Status

    gateway.no_digital_post.add(CITIZEN_CPR)
    settings = load_settings(outbox_dir=tmp_path / "outbox", digital_post_transport="http",
                             digital_post_pdf=False, **gateway.settings())
    runtime = build_runtime(settings, clock=clock, client=fakeredis.FakeRedis())
    try:
        runtime.store.apply_event(opening_event(), runtime.planner, clock.now())
        (form_id,) = deliver_due(runtime)
        form = runtime.store.letter(form_id)
        audit = runtime.store.audit(form.case_id) if form else []
    finally:
        runtime.close()
    assert form is not None and (form.status, form.channel) == (Status.SENT, ChannelName.PRINT)
    assert (tmp_path / "outbox" / "print" / f"{form_id}.pdf").is_file()
    assert form_id not in gateway.received and gateway.calls["forespoerg"] == 1
    assert any(e["what"] == "channel_changed" and "PostForespoerg" in e["why"] for e in audit)
