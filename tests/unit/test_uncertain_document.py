"""Issue 13's gap from issue 12: a letter whose send went ``uncertain`` and was then
settled as sent by its PKO_PostStatus has the document that was handed over, for
aktindsigt and in its ``letter.sent`` callback (before: ``document: null``)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import timedelta

import fakeredis
import httpx
import pytest

from notifier.clock import SimulatedClock
from notifier.delivery.pdf import sha256
from notifier.models import Status
from notifier.records.beskedfordeler import accept_post_status
from notifier.records.callbacks import CallbackOutbox, CallbackSender
from notifier.runtime import Runtime, build_runtime
from notifier.settings import load_settings
from tests.conftest import opening_event
from tests.support.gateway import FakeGateway, modtag_besked_input
from tests.unit.test_callbacks import SECRET_NEW, URL, Receiver
from tests.unit.test_pipeline import deliver_due


@pytest.fixture
def gateway(clock: SimulatedClock) -> Iterator[FakeGateway]:
    fake = FakeGateway(slow_seconds=2, now=lambda: clock.now().timestamp()).start()
    yield fake
    fake.stop()


@pytest.fixture
def runtime(gateway: FakeGateway, clock: SimulatedClock, tmp_path: object,
            clean_env: None) -> Iterator[Runtime]:
    settings = load_settings(outbox_dir=f"{tmp_path}/outbox", digital_post_transport="http",
                             gateway_timeout=5.0, callback_url=URL,
                             callback_secrets=SECRET_NEW, **gateway.settings())
    built = build_runtime(settings, clock=clock, client=fakeredis.FakeRedis())
    yield built
    built.close()


def test_settled_uncertain_letter_has_its_document_and_callback_pdf(
        runtime: Runtime, gateway: FakeGateway) -> None:
    """The platform takes the letter but the answer is lost (uncertain); its status
    settles it as sent; then the stored document exists (aktindsigt) and the letter.sent
    callback carries the PDF whose SHA-256 is the stored one; the pending copy is kept
    only until then."""
    gateway.script(["accept_drop"])
    runtime.store.apply_event(opening_event(), runtime.planner, runtime.clock.now())
    (form_id,) = deliver_due(runtime)
    letter = runtime.store.letter(form_id)
    assert letter is not None and letter.status is Status.UNCERTAIN
    assert runtime.store.document(form_id) is None, "not sent as far as we know"
    accept_post_status(runtime.store, runtime.renderer.catalog, modtag_besked_input(form_id),
                       runtime.clock.now())
    stored = runtime.store.document(form_id)
    assert stored is not None and stored["pdf_sha256"]
    receiver = Receiver()
    sender = CallbackSender(runtime.store, runtime.renderer.catalog, runtime.pdf,
                            runtime.clock, runtime.settings,
                            httpx.Client(transport=httpx.MockTransport(receiver)))
    now = runtime.clock.now()
    for item in CallbackOutbox(runtime.store).claim(now, now + timedelta(minutes=5), 100):
        sender.send(item)
    [sent] = [b for b in receiver.bodies() if b["type"] == "letter.sent"]
    document = sent["data"]["document"]
    assert document is not None
    assert sha256(base64.b64decode(document["pdf"])) == document["sha256"] \
        == stored["pdf_sha256"]
