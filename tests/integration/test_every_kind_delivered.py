"""Every letter kind reaches its real channel through the real worker: `notifier demo`
runs three cases over five months on real Redis, with Digital Post (MeMo 1.2, or 1.1) and
paper post (Fjernprint) going to the fake Serviceplatformen over mutual TLS with the STS
token flow, mail to an SMTP server that requires STARTTLS."""

from __future__ import annotations

import base64
import io
import subprocess
import threading
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import trustme
from pypdf import PdfReader

from notifier.identifiers import looks_like_cpr
from notifier.models import ChannelName, Letter, Recipient, Status
from notifier.planning.rules import load_rules
from notifier.records.beskedfordeler import serve_beskedfordeler
from notifier.runtime import Runtime, build_runtime
from notifier.settings import PACKAGE_DIR, load_settings
from tests.integration.conftest import NOTIFIER, notifier_env
from tests.support.gateway import MEMO_NS, FakeGateway
from tests.support.schemas import fjernprint_schema, memo_schema
from tests.support.smtp import SmtpServer
from tests.unit.test_pdf import (
    WINDOW_HEIGHT,
    WINDOW_LEFT,
    WINDOW_TOP,
    WINDOW_WIDTH,
    text_positions,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    memo_schema("1.1"), memo_schema("1.2"), fjernprint_schema()  # or skip, saying which
    fake = FakeGateway().start()
    yield fake
    fake.stop()


@pytest.fixture
def beskedfordeler(redis_url: str, tmp_path: Path, gateway: FakeGateway,
                   test_ca: trustme.CA, ca_file: Path,
                   clean_env: None) -> Iterator[tuple[Runtime, str]]:
    """Our receipt listener (mutual TLS, trusting the platform's CA) on the demo's Redis."""
    cert = test_ca.issue_cert("localhost", "127.0.0.1")
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "listener.crt"))
    cert.private_key_pem.write_to_path(str(tmp_path / "listener.key"))
    settings = load_settings(
        redis_url=redis_url, outbox_dir=tmp_path / "listener-outbox", beskedfordeler_port=0,
        beskedfordeler_cert_file=tmp_path / "listener.crt",
        beskedfordeler_key_file=tmp_path / "listener.key",
        beskedfordeler_client_ca_file=gateway.env()["NOTIFIER_GATEWAY_CA_FILE"])
    runtime = build_runtime(settings)
    server = serve_beskedfordeler(settings, runtime)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield runtime, f"https://localhost:{server.server_address[1]}/PostStatusBeskedModtag"
    finally:
        server.shutdown()
        server.server_close()
        runtime.close()


@pytest.fixture(params=["1.2", "1.1"])
def memo_version(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def demo_letters(redis_url: str, tmp_path: Path, gateway: FakeGateway, smtp: SmtpServer,
                 ca_file: Path, memo_version: str) -> list[Letter]:
    env = notifier_env(
        redis_url, tmp_path / "outbox", **gateway.env(), NOTIFIER_MEMO_VERSION=memo_version,
        NOTIFIER_DIGITAL_POST_TRANSPORT="http", NOTIFIER_PRINT_TRANSPORT="http",
        NOTIFIER_MAIL_TRANSPORT="smtp", NOTIFIER_SMTP_HOST="localhost",
        NOTIFIER_SMTP_PORT=str(smtp.port), NOTIFIER_SMTP_CA_FILE=str(ca_file),
    )
    done = subprocess.run([NOTIFIER, "demo"], env=env, capture_output=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    client = redis.Redis.from_url(redis_url)
    return [Letter.from_hash(key.decode().rsplit(":", 1)[1],
                             {k.decode(): v.decode() for k, v in client.hgetall(key).items()})
            for key in client.scan_iter(match="notifier:letter:*", count=1000)]


def test_every_kind_reaches_its_channel(demo_letters: list[Letter], gateway: FakeGateway,
                                        smtp: SmtpServer, memo_version: str) -> None:
    """All planned kinds are sent, none dead; the platform holds exactly one MeMo, valid
    against the official schema of the chosen version, per Digital Post and paper letter,
    with a PDF main document; each paper letter's ForsendelseI is valid against the
    fjernprint schemas and its PDF shows its address in the window; each mail arrived once
    over STARTTLS without a CPR number; the platform checked a token on every call."""
    sent = [x for x in demo_letters if x.status is Status.SENT]
    assert {x.status for x in demo_letters} <= {Status.SENT, Status.CANCELLED,
                                                Status.SUPPRESSED}
    assert set(load_rules(PACKAGE_DIR / "schedules").letters) <= {x.kind for x in sent}
    by_channel = {name: [x for x in sent if x.channel is name] for name in ChannelName}
    assert all(by_channel.values()), "the demo exercises every channel"

    assert gateway.rejections == []
    platform = by_channel[ChannelName.DIGITAL_POST] + by_channel[ChannelName.PRINT]
    assert gateway.accepted == {x.letter_id: 1 for x in platform}
    assert gateway.calls["sts"] >= 1 and gateway.calls["token"] >= 1
    for letter in platform:
        sent = gateway.messages[letter.letter_id]
        assert f'memoVersion="{memo_version}"'.encode() in sent.memo
        assert_pdf_main_document(sent.memo)
        assert sent.choice == ("Fysisk Post" if letter.channel is ChannelName.PRINT
                               else "Digital Post")

    for letter in by_channel[ChannelName.PRINT]:
        printed = gateway.messages[letter.letter_id].forsendelse
        assert printed is not None
        pdf, address = forsendelse_pdf_and_address(printed)
        assert_address_in_window(PdfReader(io.BytesIO(pdf)), address)

    assert smtp.by_letter_id() == {x.letter_id: 1 for x in by_channel[ChannelName.MAIL]}
    assert all(item.tls for item in smtp.received)
    assert not any(looks_like_cpr(item.message.as_string()) for item in smtp.received)


def test_every_platform_letter_comes_back_delivered_and_fejlet_resends_by_paper(
    demo_letters: list[Letter], gateway: FakeGateway,
    beskedfordeler: tuple[Runtime, str], ca_file: Path
) -> None:
    """The platform pushes a PKO_PostStatus for every letter it accepted to our receipt
    listener over mutual TLS; each is answered StatusKode 20 and the letter ends
    'delivered'. A 'Fejlet' for a citizen's Digital Post letter plans the caseworker's
    alert and a paper copy linked to it."""
    runtime, url = beskedfordeler
    platform = [x for x in demo_letters if x.status is Status.SENT
                and x.channel in (ChannelName.DIGITAL_POST, ChannelName.PRINT)]
    for letter in platform:
        status = ("Afleveret til print og kuvertering" if letter.channel is ChannelName.PRINT
                  else "Afleveret Digital Post")
        assert gateway.push_status(url, ca_file, letter.letter_id, status) == "20"
    stored = {x.letter_id: runtime.store.letter(x.letter_id) for x in platform}
    assert {x.receipt_status for x in stored.values() if x} == {"delivered"}
    # Not about a meeting: a summons for a meeting since moved gets no paper copy
    # (receipts.still_news; tests/unit/test_beskedfordeler.py).
    citizen = next(x for x in platform if x.channel is ChannelName.DIGITAL_POST
                   and x.recipient is Recipient.CITIZEN and not x.scope)
    fejl = ("memo.invalid", "tag name not allowed")
    assert gateway.push_status(url, ca_file, citizen.letter_id, "Fejlet", fejl) == "20"
    planned = [x for x in runtime.store.case_letters(citizen.case_id).values()
               if x.cause == citizen.letter_id and x.status is Status.SCHEDULED]
    assert sorted((x.kind, x.channel.value) for x in planned) == sorted(
        [("delivery_failed", "mail"), (citizen.kind, "print")])


def forsendelse_pdf_and_address(forsendelse: bytes) -> tuple[bytes, dict[str, str]]:
    root = ET.fromstring(forsendelse)
    lines = {el.tag.rsplit("}", 1)[-1]: el.text or "" for el in root.iter()}
    postcode, _, city = lines["PostalAddressSecondLineText"].partition(" ")
    address = {"name": lines["PersonName"], "street": lines["PostalAddressFirstLineText"],
               "postcode": postcode, "city": city}
    return base64.b64decode(lines["MeddelelseIndholdData"]), address


def assert_pdf_main_document(memo: bytes) -> None:
    main = ET.fromstring(memo).find(f".//{{{MEMO_NS}}}MainDocument")
    assert main is not None
    first = main.find(f"{{{MEMO_NS}}}File")
    assert first is not None and first.findtext(f"{{{MEMO_NS}}}encodingFormat") == \
        "application/pdf"
    content = base64.b64decode(first.findtext(f"{{{MEMO_NS}}}content") or "")
    assert PdfReader(io.BytesIO(content)).pages  # it opens and has pages


def assert_address_in_window(reader: PdfReader, address: dict[str, str]) -> None:
    placed = {text: (x, y) for text, x, y in text_positions(reader)}
    for line in (address["name"], address["street"], f"{address['postcode']} {address['city']}"):
        x, y = (round(v, 1) for v in placed[line])
        assert WINDOW_LEFT <= x <= WINDOW_LEFT + WINDOW_WIDTH, (line, x)
        assert WINDOW_TOP <= y <= WINDOW_TOP + WINDOW_HEIGHT, (line, y)
