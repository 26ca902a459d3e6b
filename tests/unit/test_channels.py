"""Channels end to end on the embedded store: print jobs as PDF with the address, an
unpostable letter going dead with the field named, print via the gateway as "Fysisk
Post", and the gateway's Retry-After honoured."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import fakeredis
import pytest

from notifier.channels.base import Outgoing
from notifier.channels.gateway import GatewayTransport, KombiChoice, Sf1601Gateway
from notifier.channels.print import GatewayPrint, Print
from notifier.clock import SimulatedClock
from notifier.delivery.render import Rendered
from notifier.errors import PermanentError, TransientError
from notifier.models import ChannelName, Status
from notifier.runtime import build_channels, build_runtime
from notifier.settings import Settings, load_settings
from tests.conftest import opening_event
from tests.support.gateway import FakeGateway
from tests.support.schemas import fjernprint_schema
from tests.unit.test_pipeline import ScriptedChannel, deliver_due

EXEMPT: dict[str, Any] = {"citizen": {
    "cpr": "0706851234", "name": "Mette Hansen", "digital_post": False,
    "address": {"street": "Vestergade 12", "postcode": "2630", "city": "Taastrup"},
}}


def test_exempt_citizen_gets_a_print_job(settings: Settings, clock: SimulatedClock) -> None:
    """A citizen exempt from Digital Post gets the form as a PDF print job whose JSON
    carries the window address."""
    runtime = build_runtime(settings, clock=clock, client=fakeredis.FakeRedis())
    runtime.store.apply_event(opening_event(data=EXEMPT), runtime.planner, clock.now())
    (form_id,) = deliver_due(runtime)
    form = runtime.store.letter(form_id)
    assert form is not None and (form.channel, form.status) == (ChannelName.PRINT, Status.SENT)
    job = json.loads((settings.outbox_dir / "print" / f"{form_id}.json").read_text())
    assert job["address"] == {"name": "Mette Hansen", "street": "Vestergade 12",
                              "postcode": "2630", "city": "Taastrup"}
    assert (settings.outbox_dir / "print" / job["document"]).read_bytes().startswith(b"%PDF")
    document = runtime.store.document(form_id)
    assert document is not None and len(document["pdf_sha256"]) == 64


@pytest.mark.parametrize("part", ["street", "postcode", "city"])
def test_unpostable_letter_is_refused_naming_the_field(settings: Settings,
                                                       clock: SimulatedClock, part: str) -> None:
    """Intake already insists on an address; if one still lacks a part at delivery, the
    print channel refuses permanently, names the field, and writes no print job."""
    runtime = build_runtime(settings, clock=clock, client=fakeredis.FakeRedis())
    applied = runtime.store.apply_event(opening_event(data=EXEMPT), runtime.planner,
                                        clock.now())
    form = next(x for x in applied.planned if x.kind == "information_form")
    rendered = Rendered("information_form", "Oplysningsskema", "<p>brev</p>", "brev")
    address = {**EXEMPT["citizen"], "address": {**EXEMPT["citizen"]["address"], part: ""}}
    outgoing = Outgoing(form, runtime.renderer.catalog["information_form"], rendered,
                        address, clock.now(), b"%PDF-1.7")
    with pytest.raises(PermanentError, match=f"citizen.address.{part}"):
        runtime.channels[ChannelName.PRINT].deliver(outgoing)
    assert not (settings.outbox_dir / "print").exists()


def test_print_through_the_gateway_is_fysisk_post(tmp_path: object, clean_env: None,
                                                  clock: SimulatedClock) -> None:
    """With the http print transport, the platform receives the letter's MeMo and a
    Fjernprint ForsendelseI (valid against the official schemas, with the citizen's
    address and the PDF) as KombiValgKode "Fysisk Post"."""
    fjernprint_schema()
    gateway = FakeGateway(now=lambda: clock.now().timestamp()).start()
    try:
        settings = load_settings(print_transport="http", outbox_dir=f"{tmp_path}/outbox",
                                 **gateway.settings())
        runtime = build_runtime(settings, clock=clock, client=fakeredis.FakeRedis())
        assert isinstance(runtime.channels[ChannelName.PRINT], Print)
        assert isinstance(runtime.channels[ChannelName.PRINT].transport, GatewayPrint)
        runtime.store.apply_event(opening_event(data=EXEMPT), runtime.planner, clock.now())
        (form_id,) = deliver_due(runtime)
        runtime.close()
    finally:
        gateway.stop()
    sent = gateway.messages[form_id]
    assert sent.choice == "Fysisk Post" and gateway.rejections == []
    assert b"application/pdf" in sent.memo
    assert sent.forsendelse is not None and b"Vestergade" in sent.forsendelse


def test_retry_after_is_honoured(settings: Settings, clock: SimulatedClock) -> None:
    """A transient failure whose peer asked for 120 s waits 120 s, not the 30 s backoff."""
    channels = build_channels(settings, clock)
    scripted = ScriptedChannel(channels[ChannelName.DIGITAL_POST],
                               [TransientError("HTTP 503", retry_after=120)])
    channels[ChannelName.DIGITAL_POST] = scripted  # type: ignore[assignment]
    runtime = build_runtime(settings, clock=clock, client=fakeredis.FakeRedis(),
                            channels=channels)
    runtime.store.apply_event(opening_event(), runtime.planner, clock.now())
    deliver_due(runtime)
    assert runtime.store.next_due() == clock.now() + timedelta(seconds=120)


@pytest.mark.parametrize("transport", ["file", "http"])
def test_digital_post_transport_follows_settings(transport: str, clean_env: None,
                                                 clock: SimulatedClock) -> None:
    """NOTIFIER_DIGITAL_POST_TRANSPORT picks the outbox folder or the gateway."""
    gateway = FakeGateway(validate=False)
    try:
        settings = load_settings(digital_post_transport=transport, **gateway.settings())
        channel = build_channels(settings, clock)[ChannelName.DIGITAL_POST]
    finally:
        gateway.stop()
    used = channel.transport  # type: ignore[attr-defined]
    assert isinstance(used, GatewayTransport) == (transport == "http")
    if isinstance(used, GatewayTransport):
        assert used.choice is KombiChoice.DIGITAL and isinstance(used.gateway, Sf1601Gateway)
    channel.close()
