"""A template change never alters a letter already sent (issue 14): its document is stored
as sent, the PDF is rebuilt from that HTML and still matches the hash kept at sending,
and the letter keeps the template version it was rendered with; letters sent after the
change carry the new wording and a new template version."""

from __future__ import annotations

import shutil
from pathlib import Path

import fakeredis

from notifier.clock import SimulatedClock
from notifier.delivery.pdf import sha256
from notifier.settings import PACKAGE_DIR
from tests.unit.test_api_helpers import CASEWORKER, make_api

OLD = "Derfor beder vi dig udfylde et oplysningsskema."
NEW = "Derfor skal du nu udfylde et oplysningsskema."


def test_sent_letters_survive_a_template_change(tmp_path: Path, clean_env: None,
                                                clock: SimulatedClock) -> None:
    """Send the information form, reword its template (and the shared base), restart on
    the same Redis: the sent document, its PDF hash and its template version are as sent."""
    letters = tmp_path / "letters"
    shutil.copytree(PACKAGE_DIR / "letters" / "da", letters)
    server = fakeredis.FakeServer()
    before = make_api(tmp_path, clock, server, letters_dir=letters)
    before.open_case()
    before.deliver_due()
    form = next(x for x in before.letters() if x["kind"] == "information_form")
    assert form["status"] == "sent"
    sent_html = before.client.get(f"/letters/{form['letter_id']}/document",
                                  headers=CASEWORKER).text
    assert OLD in sent_html

    template = letters / "information_form.html"
    template.write_text(template.read_text(encoding="utf-8").replace(OLD, NEW),
                        encoding="utf-8")
    base = letters / "base.html"
    base.write_text(base.read_text(encoding="utf-8") + "\n<!-- omskrevet -->\n",
                    encoding="utf-8")
    after = make_api(tmp_path, clock, server, letters_dir=letters)

    document = f"/letters/{form['letter_id']}/document"
    assert after.client.get(document, headers=CASEWORKER).text == sent_html
    pdf = after.client.get(f"{document}?format=pdf", headers=CASEWORKER)
    assert pdf.status_code == 200
    stored = after.runtime.store.document(form["letter_id"])
    assert stored is not None and sha256(pdf.content) == stored["pdf_sha256"]
    again = next(x for x in after.letters() if x["letter_id"] == form["letter_id"])
    assert again["template_version"] == form["template_version"]
    assert after.runtime.renderer.template_version("information_form") != \
        form["template_version"]

    # A new case's form is rendered with the new wording and records the new version.
    after.open_case(case_id="SDP-2026-0043", event_id="evt-43")
    after.deliver_due()
    new_case = after.client.get("/cases/SDP-2026-0043", headers=CASEWORKER).json()
    new_form = next(x for x in new_case["letters"] if x["kind"] == "information_form")
    assert new_form["template_version"] == after.runtime.renderer.template_version(
        "information_form")
    new_html = after.client.get(f"/letters/{new_form['letter_id']}/document",
                                headers=CASEWORKER).text
    assert NEW in new_html and OLD not in new_html
