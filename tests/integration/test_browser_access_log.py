"""Issue 14: a caseworker's walk through /ui in a real browser leaves exactly the access-log
entries it should, in order, and the timeline shows each letter's rules version.

Own `notifier serve` (embedded store) with an operator token, and a coalescing window long
enough that the walk's reloads and the live preview's keystrokes are one entry each.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.integration.test_api_helpers import (
    CASEWORKER_TOKEN,
    SYSTEM,
    TOKENS,
    ApiProcess,
    base_env,
    opening,
)
from tests.integration.test_browser import (  # noqa: F401  (browser: the fixture)
    browser,
    shot,
    wait_until_sent,
)
from tests.unit.test_access_log import OPERATOR, OPERATOR_TOKEN

pytestmark = pytest.mark.integration
CASE = "SDP-UI-LOG1"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiProcess]:
    from notifier.api.auth import hash_token

    directory = tmp_path_factory.mktemp("browser-access")
    env = base_env(directory / "outbox", NOTIFIER_DEV_MODE="true",
                   NOTIFIER_ACCESS_LOG_COALESCE_SECONDS="3600")
    env["NOTIFIER_API_TOKENS"] = f"{TOKENS},operator:olga:{hash_token(OPERATOR_TOKEN)}"
    process = ApiProcess(["serve"], env, directory / "serve.log")
    try:
        response = httpx.post(process.url + "/events", headers=SYSTEM, timeout=30,
                              json=[opening(CASE)])
        assert response.status_code == 202, response.text
        yield process
    finally:
        assert process.stop() == 0


@pytest.fixture
def page(browser: Any, server: ApiProcess) -> Iterator[Any]:  # noqa: F811
    context = browser.new_context(viewport={"width": 1360, "height": 900},
                                  base_url=server.url, locale="da-DK")
    page = context.new_page()
    yield page
    context.close()


def access_log(server: ApiProcess) -> list[dict[str, Any]]:
    response = httpx.get(f"{server.url}/access-log/cases/{CASE}", headers=OPERATOR, timeout=30)
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = response.json()
    return entries


def test_a_walk_through_the_pages_leaves_exactly_its_reads(page: Any,
                                                           server: ApiProcess) -> None:
    """Log in, find the case, open a letter, go back, write and send a letter with the live
    preview, wait for it (reloading), open it: the log holds exactly these reads, as the
    caseworker via ui; logging in and finding the case add nothing themselves."""
    from playwright.sync_api import expect

    page.goto("/ui")
    page.get_by_label("Adgangsnøgle").fill(CASEWORKER_TOKEN)
    page.get_by_role("button", name="Log ind").click()
    page.get_by_role("heading", name="Find en sag").wait_for()
    assert access_log(server) == []
    page.get_by_label("Sagsnummer").fill(CASE)
    page.get_by_role("button", name="Vis sag").click()
    page.get_by_role("heading", name=f"Sag {CASE}").wait_for()
    form_row = page.get_by_role("row").filter(has_text="Oplysningsskema om din sygemelding")
    expect(form_row.first).to_contain_text(re.compile(r"Regelsæt 2026\.12\+[0-9a-f]{12}"))
    shot(page, "14-tilgangslog-tidslinje")
    page.get_by_role("link", name="Oplysningsskema om din sygemelding", exact=True).click()
    page.wait_for_url("**/ui/letters/*")
    # Inside the send window the form went at once, and its page shows the sent document
    # (a read of its own); outside it, the form waits. The walk expects what the page shows.
    form_shown = page.locator("iframe.brevramme").count() > 0
    if form_shown:
        page.frame_locator("iframe.brevramme").locator("body").wait_for()
    page.go_back()
    page.get_by_role("heading", name=f"Sag {CASE}").wait_for()
    page.get_by_role("link", name="Skriv et brev").click()
    page.get_by_label("Overskrift").fill("Om din sygemelding")
    page.get_by_label("Tekst").fill("Kære Mette\n\nRing gerne til os.")
    page.frame_locator("#forhaandsvisning").get_by_text("Ring gerne til os.").wait_for()
    # Ticking the box asks for a preview 400 ms later. Had the send started first, that
    # preview could come from the old page after the send, as an extra log entry.
    with page.expect_response(lambda r: r.url.endswith("/letters/preview")):
        page.get_by_label("Straks, også uden for udsendelsestiden").check()
    page.get_by_role("button", name="Send brevet").click()
    assert "er oprettet" in page.get_by_role("status").inner_text()
    row = page.get_by_role("row").filter(has_text="Brev fra jobcentret")
    wait_until_sent(page, row)
    row.first.get_by_role("link", name=re.compile("Se brevet")).click()
    page.frame_locator("iframe.brevramme").get_by_text("Ring gerne til os.").wait_for()
    shot(page, "15-tilgangslog-sendt-brev")

    entries = access_log(server)
    ui = [("anna", "caseworker", "ui", what) for what in (
        "case_timeline", "letter", *(["document"] if form_shown else []), "case_timeline",
        "compose", "preview", "compose", "case_timeline", "letter", "document")]
    # First the operator's look before the walk (the export is logged, after what it
    # returned), then the walk's reads.
    assert [(e["principal"], e["role"], e["via"], e["what"]) for e in entries] == [
        ("olga", "operator", "api", "access_log"), *ui]
    assert {e["case_id"] for e in entries} == {CASE}
    shift = 1 if form_shown else 0
    with_letter = {2, 8 + shift, 9 + shift} | ({3} if form_shown else set())
    form_id, adhoc_id, document_id = (entries[2]["letter_id"], entries[8 + shift]["letter_id"],
                                      entries[9 + shift]["letter_id"])
    assert form_id != adhoc_id == document_id
    assert not form_shown or entries[3]["letter_id"] == form_id
    assert all("letter_id" not in e for i, e in enumerate(entries) if i not in with_letter)
