"""The caseworker pages without a browser: login, lookup, compose (the no-script path),
cancel, the sent document, and the guards (cookie, origin, CPR never in a URL)."""

from __future__ import annotations

from pathlib import Path

import pytest

from notifier.clock import SimulatedClock
from tests.unit.test_api_helpers import BASE, CASE, CASEWORKER_TOKEN, SYSTEM_TOKEN, Api, make_api

SAME_ORIGIN = {"Origin": BASE}


@pytest.fixture
def api(tmp_path: Path, clean_env: None, clock: SimulatedClock) -> Api:
    api = make_api(tmp_path, clock)
    api.open_case()
    return api


@pytest.fixture
def ui(api: Api) -> Api:
    """The same app, logged in as the caseworker."""
    response = api.client.post("/ui/login", data={"token": CASEWORKER_TOKEN, "next": "/ui"},
                               headers=SAME_ORIGIN, follow_redirects=False)
    assert response.status_code == 303
    return api


def compose(ui: Api, **fields: str) -> dict[str, str]:
    return {"kind": "adhoc", "recipient": "citizen", "when": "window",
            "idempotency_key": "ui-test-1", **fields}


def test_pages_need_a_login_and_come_back_after_it(api: Api) -> None:
    """A page without login redirects to the login form, which returns to that page;
    the cookie is HttpOnly, SameSite=Strict and scoped to /ui."""
    response = api.client.get(f"/ui/cases/{CASE}", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/ui/login?next=/ui/cases/{CASE}"
    login = api.client.post("/ui/login", headers=SAME_ORIGIN, follow_redirects=False,
                            data={"token": CASEWORKER_TOKEN, "next": f"/ui/cases/{CASE}"})
    assert login.headers["location"] == f"/ui/cases/{CASE}"
    cookie = login.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/ui" in cookie
    assert api.client.get(f"/ui/cases/{CASE}").status_code == 200


@pytest.mark.parametrize(("token", "words"), [
    ("wrong", "Adgangsnøglen er ukendt"),
    (SYSTEM_TOKEN, "giver ikke adgang til sagsbehandlersiderne"),
])
def test_login_refuses_unknown_and_system_tokens(api: Api, token: str, words: str) -> None:
    """A wrong token, or a system token, does not log in; the page says why in Danish."""
    response = api.client.post("/ui/login", data={"token": token}, headers=SAME_ORIGIN)
    assert response.status_code == 401 and words in response.text
    assert "set-cookie" not in response.headers


def test_login_never_redirects_off_site(api: Api) -> None:
    """The next parameter only ever leads to a page of ours."""
    response = api.client.post("/ui/login", headers=SAME_ORIGIN, follow_redirects=False,
                               data={"token": CASEWORKER_TOKEN, "next": "//evil.example/ui"})
    assert response.headers["location"] == "/ui"


def test_cross_site_form_post_is_refused(ui: Api) -> None:
    """A form posted from another origin is refused (403) and changes nothing."""
    form = next(x for x in ui.letters() if x["kind"] == "information_form")
    response = ui.client.post(f"/ui/letters/{form['letter_id']}/cancel",
                              headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    assert next(x for x in ui.letters() if x["kind"] == "information_form")["status"] == \
        "scheduled"


def test_lookup_redirects_by_case_id_and_keeps_cpr_out_of_urls(ui: Api) -> None:
    """Looking up a case id redirects to its page; a CPR number typed instead is refused
    on the page itself (never a redirect carrying it), and is not echoed back."""
    found = ui.client.post("/ui/cases", data={"case_id": CASE}, headers=SAME_ORIGIN,
                           follow_redirects=False)
    assert found.headers["location"] == f"/ui/cases/{CASE}"
    cpr = ui.client.post("/ui/cases", data={"case_id": "070685-1234"}, headers=SAME_ORIGIN,
                         follow_redirects=False)
    assert cpr.status_code == 422 and "location" not in cpr.headers
    assert "ligner et CPR-nummer" in cpr.text and "070685" not in cpr.text
    unknown = ui.client.post("/ui/cases", data={"case_id": "SDP-NOPE"}, headers=SAME_ORIGIN)
    assert unknown.status_code == 404 and "Der findes ingen sag" in unknown.text


def test_case_page_lists_letters_in_danish(ui: Api) -> None:
    """The case page shows the citizen, the letters' titles and Danish statuses, and no
    CPR number."""
    page = ui.client.get(f"/ui/cases/{CASE}")
    assert page.status_code == 200
    assert "Mette Hansen" in page.text and "Oplysningsskema om din sygemelding" in page.text
    assert "Planlagt" in page.text and "0706851234" not in page.text
    assert 'lang="da"' in page.text


def test_compose_preview_then_send_without_script(ui: Api) -> None:
    """The no-script path: 'Vis forhåndsvisning' renders the escaped letter into the page;
    'Send brevet' stores it once and redirects to the case with a notice."""
    fields = compose(ui, subject="Om mødet", text="Første afsnit\r\n\r\n<i>Andet</i>")
    preview = ui.client.post(f"/ui/cases/{CASE}/letters", headers=SAME_ORIGIN,
                             data={**fields, "action": "preview"})
    assert preview.status_code == 200
    assert "srcdoc=" in preview.text and "&amp;lt;i&amp;gt;Andet" in preview.text
    sent = ui.client.post(f"/ui/cases/{CASE}/letters", headers=SAME_ORIGIN,
                          data={**fields, "action": "send"}, follow_redirects=False)
    assert sent.status_code == 303 and "besked=planlagt" in sent.headers["location"]
    again = ui.client.post(f"/ui/cases/{CASE}/letters", headers=SAME_ORIGIN,
                           data={**fields, "action": "send"}, follow_redirects=False)
    assert "besked=findes" in again.headers["location"]  # a double submit makes no second
    adhoc = [x for x in ui.letters() if x["kind"] == "adhoc"]
    assert len(adhoc) == 1
    stored = ui.runtime.store.letter(adhoc[0]["letter_id"])
    assert stored is not None and stored.params["adhoc"] == "Første afsnit\n\n<i>Andet</i>"
    page = ui.client.get(sent.headers["location"])
    assert "er oprettet og sendes" in page.text


def test_compose_errors_are_danish_and_keep_the_input(ui: Api) -> None:
    """A letter with no text and a time in the past is re-shown (422) with Danish
    messages per field and the subject still filled in."""
    response = ui.client.post(f"/ui/cases/{CASE}/letters", headers=SAME_ORIGIN, data={
        **compose(ui, subject="Bevar mig", text="x", when="at", send_at="2026-11-20T10:00"),
        "action": "send"})
    assert response.status_code == 422
    assert "Tidspunktet er allerede passeret." in response.text
    assert 'value="Bevar mig"' in response.text
    empty = ui.client.post(f"/ui/cases/{CASE}/letters", headers=SAME_ORIGIN,
                           data={**compose(ui), "action": "send"})
    assert "Skriv mindst ét afsnit." in empty.text and 'aria-invalid="true"' in empty.text


def test_live_preview_answers_json(ui: Api) -> None:
    """The script's preview call gets the letter HTML, or Danish errors, as JSON."""
    ok = ui.client.post(f"/ui/cases/{CASE}/letters/preview", headers=SAME_ORIGIN,
                        data=compose(ui, text="Hej <b>x</b>"))
    assert ok.json()["ok"] is True and "Hej &lt;b&gt;x&lt;/b&gt;" in ok.json()["html"]
    bad = ui.client.post(f"/ui/cases/{CASE}/letters/preview", headers=SAME_ORIGIN,
                         data=compose(ui, kind="meeting_summons"))
    assert bad.status_code == 422
    assert bad.json()["errors"] == [{"field": "meeting_id", "label": "Møde",
                                     "message": "Vælg et af sagens møder."}]


def test_cancel_through_the_pages(ui: Api) -> None:
    """The confirmation page names the letter; confirming cancels it with the reason."""
    form = next(x for x in ui.letters() if x["kind"] == "information_form")
    confirm = ui.client.get(f"/ui/letters/{form['letter_id']}/cancel")
    assert "Annullér brevet?" in confirm.text and "Oplysningsskema" in confirm.text
    done = ui.client.post(f"/ui/letters/{form['letter_id']}/cancel", headers=SAME_ORIGIN,
                          data={"reason": "fejl"}, follow_redirects=False)
    assert done.headers["location"] == (f"/ui/cases/{CASE}?besked=annulleret&brev="
                                        f"{form['letter_id']}")
    assert next(x for x in ui.letters() if x["kind"] == "information_form")["status"] == \
        "cancelled"


def test_sent_document_is_served_sandboxed(ui: Api) -> None:
    """The sent letter opens as it was sent, under a policy that runs nothing in it."""
    form = next(x for x in ui.letters() if x["kind"] == "information_form")
    ui.deliver_due()
    page = ui.client.get(f"/ui/letters/{form['letter_id']}")
    assert "Det sendte brev" in page.text
    document = ui.client.get(f"/ui/letters/{form['letter_id']}/document")
    assert document.text == ui.runtime.store.document(form["letter_id"])["html"]
    policy = document.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "sandbox" in policy
    pdf = ui.client.get(f"/ui/letters/{form['letter_id']}/document.pdf")
    assert pdf.headers["content-type"] == "application/pdf"


def test_unknown_page_and_letter_are_danish_errors(ui: Api) -> None:
    """Errors on the pages are pages, in Danish, not JSON."""
    missing = ui.client.get("/ui/letters/00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 404 and "Der findes intet brev" in missing.text
    nowhere = ui.client.get("/ui/nowhere")
    assert nowhere.status_code == 404 and "Siden findes ikke" in nowhere.text
