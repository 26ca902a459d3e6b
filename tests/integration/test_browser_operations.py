"""Issue 13: the operations page in a real browser (Debian's headless Chromium, Playwright)
against a real `notifier serve` on a real redis-server: an operator logs in, sees a dead
letter with its reason, retries it through the confirmation page, and the running
dispatcher and worker send it once under its own id.

Screenshots go to ./screenshots/ (gitignored). The pages' CSP forbids the eval behind
wait_for_function, so the waits are locator assertions.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from notifier.api.auth import hash_token
from notifier.clock import SystemClock
from notifier.models import Recipient, Status
from notifier.store import Store
from tests.integration.test_api_helpers import (
    SYSTEM,
    TOKENS,
    ApiProcess,
    base_env,
    opening,
    wait_for,
)
from tests.integration.test_browser import browser, shot  # noqa: F401 (the fixture)

pytestmark = pytest.mark.integration

CASE = "SDP-OPS-0001"
OPERATOR_TOKEN = "browser-operator-token-abcdefghijklmnopqrstuv"
REASON = "Digital Post afviste brevet: modtageren findes ikke"


@pytest.fixture
def server(redis_url: str, tmp_path: Path) -> Iterator[tuple[ApiProcess, Store]]:
    """`notifier serve` on redis, with a case opened and one of its later letters dead."""
    env = {**base_env(tmp_path / "outbox", NOTIFIER_DEV_MODE="true",
                      NOTIFIER_REDIS_URL=redis_url),
           "NOTIFIER_API_TOKENS": TOKENS + f",operator:ole:{hash_token(OPERATOR_TOKEN)}"}
    process = ApiProcess(["serve"], env, tmp_path / "serve.log")
    try:
        response = httpx.post(process.url + "/events", headers=SYSTEM, timeout=30,
                              json=[opening(CASE)])
        assert response.status_code == 202, response.text
        yield process, Store(redis.Redis.from_url(redis_url))
    finally:
        assert process.stop() == 0


def test_operator_sees_a_dead_letter_and_retries_it(browser: Any,  # noqa: F811
                                                    server: tuple[ApiProcess, Store],
                                                    tmp_path: Path) -> None:
    """Given a dead letter, the operator's page lists it with its reason; after 'Prøv
    igen' and the confirmation, the page says so, the letter is sent by the running
    worker exactly once under its own id, and the case's audit names the operator."""
    from playwright.sync_api import expect

    process, store = server
    waiting = sorted((x for x in store.case_letters(CASE).values()
                      if x.status is Status.SCHEDULED and x.recipient is Recipient.CITIZEN),
                     key=lambda x: x.send_at)
    letter = waiting[-1]  # the latest: not due while the test runs
    assert store.transition(letter, (Status.SCHEDULED,), Status.DEAD, SystemClock().now(),
                            fields={"reason": REASON}, audit={"reason": REASON})
    context = browser.new_context(viewport={"width": 1360, "height": 900},
                                  base_url=process.url, locale="da-DK")
    page = context.new_page()
    try:
        page.goto("/ui/drift")
        expect(page).to_have_url(f"{process.url}/ui/login?next=/ui/drift")
        page.get_by_label("Adgangsnøgle").fill(OPERATOR_TOKEN)
        page.get_by_role("button", name="Log ind").click()
        expect(page.get_by_role("heading", name="Drift", exact=True)).to_be_visible()
        expect(page.locator("#antal-doede")).to_have_text("1")
        expect(page.get_by_text(REASON)).to_be_visible()
        expect(page.locator("#hjerteslag")).to_contain_text("sekunder siden")
        shot(page, "20-drift-doedt-brev")
        page.get_by_role("link", name=f"Prøv igen brev {letter.letter_id}").click()
        expect(page.get_by_role("heading", name="Send brevet igen?")).to_be_visible()
        shot(page, "21-drift-bekraeft")
        page.get_by_role("button", name="Ja, send brevet igen").click()
        expect(page.get_by_role("status")).to_contain_text("sat i kø igen")
        wait_for(lambda: (store.letter(letter.letter_id) or letter).status is Status.SENT)
        page.reload()
        expect(page.locator("#antal-doede")).to_have_text("0")
        shot(page, "22-drift-sendt")
    finally:
        context.close()
    outbox = tmp_path / "outbox"
    sent = [p for p in outbox.rglob("*.xml") if letter.letter_id in p.name]
    assert len(sent) == 1, sent
    [entry] = [e for e in store.audit(CASE) if e["what"] == "retried"]
    assert entry["by"] == "operator:ole" and entry["letter_id"] == letter.letter_id
