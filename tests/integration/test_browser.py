"""The caseworker pages in a real browser: Debian's headless Chromium driven by Playwright,
against a real `notifier serve` process (embedded store, API + dispatcher + worker).

Screenshots of every step go to ./screenshots/ (gitignored) for a person to look at.
Without Chromium these tests skip, saying so; CI sets NOTIFIER_REQUIRE_INTEGRATION=1 and
installs it, so there a missing browser fails the run instead.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.test_api_helpers import (
    CASEWORKER_TOKEN,
    SYSTEM,
    ApiProcess,
    base_env,
    meeting,
    opening,
)
from tests.support import processes

pytestmark = pytest.mark.integration

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[2] / "screenshots"
CASE = "SDP-UI-0001"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _unavailable(reason: str) -> None:
    if os.environ.get("NOTIFIER_REQUIRE_INTEGRATION"):
        pytest.fail(f"{reason}, but NOTIFIER_REQUIRE_INTEGRATION is set")
    pytest.skip(f"{reason}; browser tests need it (CI installs it)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        _unavailable("Debian's chromium is not installed (/usr/bin/chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed")
    # The browser is the client, not what is tested: it keeps the real clock even under
    # `make test-future` (Chromium hangs with libfaketime preloaded); the server does not.
    with pytest.MonkeyPatch.context() as patch:
        for name in set(os.environ) - set(processes.real_clock_env()):
            patch.delenv(name)
        playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS,
                                             env=processes.real_clock_env())
        yield browser
        browser.close()
    finally:
        playwright.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiProcess]:
    """`notifier serve` with a case that has a meeting, opened through the API."""
    directory = tmp_path_factory.mktemp("browser")
    # Plain http on loopback: the session cookie may not be Secure here (issue 17).
    process = ApiProcess(["serve"], base_env(directory / "outbox", NOTIFIER_DEV_MODE="true"),
                         directory / "serve.log")
    try:
        response = httpx.post(process.url + "/events", headers=SYSTEM, timeout=30,
                              json=[opening(CASE), meeting(CASE)])
        assert response.status_code == 202, response.text
        yield process
    finally:
        assert process.stop() == 0
        assert "0706851234" not in process.log.read_text()  # the case's CPR never logged


@pytest.fixture
def page(browser: Any, server: ApiProcess) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1360, "height": 900},
                                  base_url=server.url, locale="da-DK")
    page = context.new_page()
    yield page
    context.close()


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def log_in(page: Any) -> None:
    page.goto("/ui")
    page.get_by_label("Adgangsnøgle").fill(CASEWORKER_TOKEN)
    page.get_by_role("button", name="Log ind").click()


def open_case(page: Any) -> None:
    log_in(page)
    page.get_by_label("Sagsnummer").fill(CASE)
    page.get_by_role("button", name="Vis sag").click()
    page.get_by_role("heading", name=f"Sag {CASE}").wait_for()


def wait_until_sent(page: Any, row: Any, timeout: float = 90) -> None:
    """Reload the timeline until ``row`` says Sendt: the dispatcher ticks every 0.2 s and
    the worker renders and sends; a loaded machine may take far longer than usual."""
    deadline = time.monotonic() + timeout
    while "Sendt" not in row.first.inner_text():
        assert time.monotonic() < deadline, f"not sent within {timeout:.0f} s"
        page.wait_for_timeout(200)
        page.reload()


def test_login_then_case_timeline(page: Any) -> None:
    """Given a case opened through the API, when a caseworker logs in and looks it up by
    case id, then the timeline lists its letters with Danish statuses and the meeting."""
    page.goto("/ui")
    assert "/ui/login" in page.url
    shot(page, "01-login")
    log_in(page)
    page.get_by_role("heading", name="Find en sag").wait_for()
    shot(page, "02-find-sag")
    page.get_by_label("Sagsnummer").fill(CASE)
    page.get_by_role("button", name="Vis sag").click()
    page.get_by_role("heading", name=f"Sag {CASE}").wait_for()
    assert page.url.endswith(f"/ui/cases/{CASE}")
    table = page.get_by_role("table")
    for title in ("Oplysningsskema om din sygemelding", "Indkaldelse til opfølgningssamtale"):
        assert table.get_by_role("link", name=title, exact=True).count() == 1
    assert page.get_by_text("Planlagt").count() > 0
    assert "Fremmøde" in page.inner_text("main")
    shot(page, "03-sag-tidslinje")


def test_wrong_token_and_cpr_lookup_are_refused_in_danish(page: Any) -> None:
    """A wrong token is refused on the login page; a CPR number typed as a case id is
    refused with a Danish message, and it appears neither in the URL nor in the field."""
    page.goto("/ui/login")
    page.get_by_label("Adgangsnøgle").fill("forkert")
    page.get_by_role("button", name="Log ind").click()
    assert "Adgangsnøglen er ukendt" in page.inner_text("main")
    log_in(page)
    page.get_by_label("Sagsnummer").fill("070685-1234")
    page.get_by_role("button", name="Vis sag").click()
    assert "ligner et CPR-nummer" in page.get_by_role("alert").inner_text()
    assert "0706851234" not in page.url and "070685" not in page.url
    assert page.get_by_label("Sagsnummer").input_value() == ""
    shot(page, "04-cpr-afvist")


def test_adhoc_letter_with_live_preview_is_sent_and_shown(page: Any) -> None:
    """Given the compose form, when the caseworker types, then the live preview shows the
    text (markup escaped, not interpreted); sent immediately, the letter goes out and its
    sent document opens from the timeline."""
    open_case(page)
    page.get_by_role("link", name="Skriv et brev").click()
    page.get_by_label("Overskrift").fill("Om din næste samtale")
    page.get_by_label("Tekst").fill("Kære Mette\n\nHusk at tage <b>lønsedler</b> med.")
    frame = page.frame_locator("#forhaandsvisning")
    frame.get_by_text("Husk at tage <b>lønsedler</b> med.").wait_for()
    assert frame.locator("b").count() == 0  # the typed tag is text, not markup
    assert page.get_by_text("Forhåndsvisningen er opdateret").count() == 1
    shot(page, "05-skriv-brev-forhaandsvisning")
    page.get_by_label("Straks, også uden for udsendelsestiden").check()
    page.get_by_role("button", name="Send brevet").click()
    status = page.get_by_role("status")
    assert "er oprettet" in status.inner_text()
    shot(page, "06-brev-planlagt")
    row = page.get_by_role("row").filter(has_text="Om din næste samtale").or_(
        page.get_by_role("row").filter(has_text="Brev fra jobcentret"))
    wait_until_sent(page, row)
    row.first.get_by_role("link", name=re.compile("Se brevet")).click()
    document = page.frame_locator("iframe.brevramme")
    document.get_by_text("Husk at tage <b>lønsedler</b> med.").wait_for()
    shot(page, "07-sendt-brev")


def test_form_errors_are_listed_and_linked(page: Any) -> None:
    """Sending an empty free-text letter shows a Danish error summary whose link leads to
    the field, and the field is marked invalid."""
    open_case(page)
    page.get_by_role("link", name="Skriv et brev").click()
    page.get_by_role("button", name="Send brevet").click()
    summary = page.get_by_role("alert")
    assert "Skriv mindst ét afsnit" in summary.inner_text()
    summary.get_by_role("link", name="Tekst").click()
    from playwright.sync_api import expect

    # Chromium moves focus to a fragment's target on its next update, not in the click.
    expect(page.locator("#felt-paragraphs")).to_be_focused(timeout=10_000)
    assert page.get_by_label("Tekst").get_attribute("aria-invalid") == "true"
    shot(page, "08-fejl-i-formular")


def test_cancel_pending_letter_after_confirmation(page: Any) -> None:
    """A pending letter is cancelled from the timeline after a confirmation page, and the
    timeline then shows it as cancelled by the caseworker."""
    open_case(page)
    row = page.get_by_role("row").filter(has_text="Påmindelse om opfølgningssamtale")
    row.get_by_role("link", name=re.compile("Annullér")).click()
    page.get_by_role("heading", name="Annullér brevet?").wait_for()
    page.get_by_label("Begrundelse").fill("Borgeren har selv ringet.")
    shot(page, "09-annuller-bekraeft")
    page.get_by_role("button", name="Annullér brevet").click()
    assert "er annulleret og bliver ikke sendt" in page.get_by_role("status").inner_text()
    row = page.get_by_role("row").filter(has_text="Påmindelse om opfølgningssamtale")
    assert "Annulleret" in row.inner_text() and "caseworker:anna" in row.inner_text()
    assert row.get_by_role("link", name=re.compile("Annullér")).count() == 0
    shot(page, "10-annulleret")


def test_keyboard_skip_link_and_labels(page: Any) -> None:
    """The first Tab reaches the skip link, which moves focus to the main content; every
    form control on the compose page has an accessible name."""
    open_case(page)
    page.get_by_role("link", name="Skriv et brev").click()
    # The compose page must have loaded before the first Tab (under load it takes a while).
    page.wait_for_url("**/letters/new")
    page.get_by_label("Brevtype").wait_for()
    page.wait_for_load_state("load")
    from playwright.sync_api import expect

    # Focus moves when the browser has handled the key; under load that is not at once.
    # (Locator assertions poll without eval, which the pages' CSP forbids.)
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Spring til indhold")).to_be_focused(timeout=10_000)
    page.keyboard.press("Enter")
    expect(page.locator("#indhold")).to_be_focused(timeout=10_000)
    unnamed = page.evaluate("""() => [...document.querySelectorAll(
        'main input:not([type=hidden]), main select, main textarea')]
        .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
        .map(e => e.name)""")
    assert unnamed == []


def test_fields_follow_the_letter_kind(page: Any) -> None:
    """Choosing a summons hides the free-text fields and shows the meeting choice; with
    the case's meeting chosen, the live preview shows the summons for that meeting."""
    open_case(page)
    page.get_by_role("link", name="Skriv et brev").click()
    page.get_by_label("Brevtype").select_option("meeting_summons")
    from playwright.sync_api import expect

    # The page's script toggles the fields on change: wait for it (slow under load).
    expect(page.get_by_label("Tekst")).to_be_hidden(timeout=10_000)
    meeting = page.get_by_label("Møde")
    expect(meeting).to_be_visible(timeout=10_000)
    meeting.select_option(index=1)
    frame = page.frame_locator("#forhaandsvisning")
    frame.get_by_role("heading", name="Indkaldelse til samtale om din sygemelding").wait_for()
    shot(page, "11-indkaldelse-forhaandsvisning")


def test_api_docs_render_offline_under_the_page_policy(page: Any) -> None:
    """Issue 17: the API docs load from this server only (the browser here has no network)
    and Swagger UI renders under the pages' Content-Security-Policy; before login, /docs
    leads to the login page."""
    page.goto("/docs")
    assert "/ui/login" in page.url
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("response", lambda r: errors.append(f"{r.status} {r.url}") if r.status >= 400
            else None)
    log_in(page)
    page.goto("/docs")
    from playwright.sync_api import TimeoutError as PageTimeout

    try:
        page.locator(".swagger-ui .info .title").wait_for(timeout=15_000)
    except PageTimeout:  # say what the page shows instead (e.g. an unsupported version)
        raise AssertionError((page.url, errors, page.inner_text("body")[:2000])) from None
    assert "notifier" in page.locator(".swagger-ui .info .title").inner_text()
    assert page.locator(".opblock-summary-path", has_text="/events").count() >= 1
    assert not [e for e in errors if "Content Security Policy" in e], errors
    shot(page, "api-docs")
