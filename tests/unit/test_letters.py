"""Letter templates and their catalog: every kind renders, states the right facts and dates,
escapes free text, refuses missing values, and matches its reviewed golden text.

Set ``UPDATE_GOLDEN=1`` to (re)write ``tests/unit/golden/<kind>.txt``; read the diff before
committing it.
"""

from __future__ import annotations

import copy
import difflib
import json
import os
import re
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from notifier.calendar import DanishCalendar
from notifier.delivery.context import jobcenter_context
from notifier.delivery.pdf import sha256
from notifier.delivery.pdf_typst import to_typst
from notifier.delivery.render import Rendered, Renderer
from notifier.errors import RenderError
from notifier.identifiers import looks_like_cpr
from notifier.models import Recipient
from notifier.planning.catalog import load_catalog
from notifier.planning.rules import load_rules
from notifier.settings import PACKAGE_DIR, Settings

LETTERS_DIR = PACKAGE_DIR / "letters" / "da"
RULES_DIR = PACKAGE_DIR / "schedules"
GOLDEN_DIR = Path(__file__).parent / "golden"
ZONE = ZoneInfo("Europe/Copenhagen")

CATALOG = load_catalog(LETTERS_DIR)
RULES = load_rules(RULES_DIR)
KINDS = sorted(CATALOG.kinds)
EXTRA_KINDS = {"adhoc", "delivery_failed"}  # not planned by the rules
ALERT_KINDS = sorted(k for k, e in CATALOG.kinds.items() if Recipient.CASEWORKER in e.recipients)
EMPLOYER_KINDS = sorted(
    k for k, e in CATALOG.kinds.items() if e.recipients == (Recipient.EMPLOYER,)
)
CITIZEN_KINDS = sorted(k for k, e in CATALOG.kinds.items() if Recipient.CITIZEN in e.recipients)
RESTART_HEADING = "Sådan kan du få sygedagpenge igen"


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(LETTERS_DIR, CATALOG, ZONE)


def context(kind: str, **changes: Any) -> dict[str, Any]:
    """The catalog sample of ``kind`` plus the jobcenter, with ``changes`` by path (``a__b``).

    A change to ``...`` (Ellipsis) deletes the key.
    """
    ctx = copy.deepcopy(CATALOG[kind].sample)
    ctx["jobcenter"] = jobcenter_context(Settings())
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        target = ctx
        for part in parents:
            target = target[part]
        if value is ...:
            del target[last]
        else:
            target[last] = value
    return ctx


def render(renderer: Renderer, kind: str, **changes: Any) -> Rendered:
    return renderer.render(kind, context(kind, **changes))


def _keys(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [k for key, v in value.items() for k in (key, *_keys(v))]
    if isinstance(value, list):
        return [k for v in value for k in _keys(v)]
    return []


# --- every kind ----------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_sample_renders_without_cpr(renderer: Renderer, kind: str) -> None:
    """Each catalog kind renders its sample; the output has no CPR-shaped number and no None."""
    out = render(renderer, kind)
    assert out.title == CATALOG[kind].title
    assert out.text.strip()
    assert not looks_like_cpr(out.text)
    assert not looks_like_cpr(out.html)
    assert "None" not in out.text
    assert '<html lang="da">' in out.html


@pytest.mark.parametrize("kind", KINDS)
def test_catalog_entry_is_clean(kind: str) -> None:
    """Titles (MeMo labels) and notifications carry no CPR; samples have no ``cpr`` key."""
    entry = CATALOG[kind]
    assert not looks_like_cpr(entry.title)
    assert not looks_like_cpr(entry.notification or "")
    assert "cpr" not in {k.lower() for k in _keys(entry.sample)}
    assert entry.sample["letter"]["kind"] == kind
    assert entry.sample["letter"]["recipient"] in {r.value for r in entry.recipients}


def test_rules_and_catalog_cover_the_same_kinds() -> None:
    """Every kind the rules plan has a template and a catalog entry, and vice versa."""
    planned = set(RULES.letters)
    for kind in planned:
        assert (LETTERS_DIR / f"{kind}.html").is_file(), f"no template for {kind}"
        assert kind in CATALOG.kinds, f"no catalog entry for {kind}"
    assert set(CATALOG.kinds) - EXTRA_KINDS == planned
    for kind in EXTRA_KINDS:
        assert (LETTERS_DIR / f"{kind}.html").is_file()


@pytest.mark.parametrize("kind", sorted(RULES.letters))
def test_catalog_recipient_matches_rules(kind: str) -> None:
    """The catalog sends each planned kind to the recipient the rules plan it for."""
    assert CATALOG[kind].recipients == (RULES.letters[kind].recipient,)


def test_sensitivity_and_legal_notification() -> None:
    """Citizen and employer letters never go by e-mail; alerts may; only decisions are legal."""
    for kind, entry in CATALOG.kinds.items():
        assert entry.sensitive is (Recipient.CASEWORKER not in entry.recipients), kind
        assert entry.legal_notification is (kind == "decision"), kind
    assert {k for k, e in CATALOG.kinds.items() if e.action} == {
        "information_form",
        "early_followup_notice",
    }


@pytest.mark.parametrize(
    "kind",
    sorted(k for k, r in RULES.letters.items() if r.deadline and r.deadline.base == "send_date"),
)
def test_sample_deadlines_follow_the_rules(kind: str) -> None:
    """Sample deadlines counted from the sample's send date agree with the calendar."""
    calendar = DanishCalendar(ZONE)
    rule = RULES.letters[kind]
    letter = CATALOG[kind].sample["letter"]
    assert rule.deadline is not None and rule.deadline.offset is not None
    expected = calendar.roll(
        calendar.add(letter["send_date"], rule.deadline.offset), rule.deadline.roll
    )
    assert letter["deadline"] == expected
    assert letter["deadlines"]["deadline"] == expected
    for name, when in rule.extra_deadlines.items():
        assert when.offset is not None
        extra = calendar.roll(calendar.add(letter["send_date"], when.offset), when.roll)
        assert letter["deadlines"][name] == extra


# --- information form --------------------------------------------------------------------------
def test_information_form_states_weekday_deadline(renderer: Renderer) -> None:
    """The form letter prints 'senest <weekday date>' and the consequence of answering late."""
    out = render(
        renderer,
        "information_form",
        letter__send_date=date(2026, 11, 23),
        letter__deadline=date(2026, 12, 1),
    )
    assert "senest tirsdag den 1. december 2026" in out.text
    assert "Dato: mandag den 23. november 2026" in out.text
    assert "miste retten til sygedagpenge" in out.text
    assert "§ 11, stk. 3" in out.text
    assert "https://selvbetjening.eksempel.dk/sygedagpenge" in out.text


def test_information_form_reminder_states_same_deadline(renderer: Renderer) -> None:
    """The reminder repeats the form's deadline and the consequence."""
    out = render(renderer, "information_form_reminder", letter__deadline=date(2026, 12, 1))
    assert "senest tirsdag den 1. december 2026" in out.text
    assert "miste retten til sygedagpenge" in out.text


# --- decision ----------------------------------------------------------------------------------
def test_decision_has_complaint_guidance_and_legal_basis(renderer: Renderer) -> None:
    """A decision states complaint deadline, the route via the jobcenter to Ankestyrelsen and
    the legal basis."""
    out = render(renderer, "decision", letter__deadline=date(2027, 1, 4))
    text = out.text
    assert "Afgørelse: Dine sygedagpenge stopper" in text
    assert "Vi skal have din klage senest mandag den 4. januar 2027" in text
    assert "Ankestyrelsen" in text
    assert "Klagevejledning" in text
    for rule in CATALOG["decision"].sample["decision"]["legal_basis"]:
        assert rule in text
    assert "Begrundelse" in text
    assert CATALOG["decision"].sample["decision"]["reasoning"] in text
    assert "Afgørelsen gælder fra mandag den 7. december 2026" in text


def test_decision_non_cooperation_explains_restart(renderer: Renderer) -> None:
    """A stop for non-cooperation says how and until when the benefit can restart."""
    out = render(
        renderer,
        "decision",
        letter__deadlines={"deadline": date(2027, 1, 4), "restart": date(2027, 1, 5)},
    )
    assert RESTART_HEADING in out.text
    assert "fra dagen efter, at du har givet os besked" in out.text
    assert "senest tirsdag den 5. januar 2027" in out.text
    assert "ikke muligt at få dem igen" in out.text


def test_decision_granted_has_no_restart_text(renderer: Renderer) -> None:
    """A granted decision without stop_reason (absent, as the context leaves it) has no
    restart section and needs no effective_from."""
    decision = {
        "decision_id": "afg-0008",
        "title": "Du får sygedagpenge",
        "outcome": "granted",
        "decision_text": "Du har ret til sygedagpenge.",
        "reasoning": "Du opfylder betingelserne.",
        "legal_basis": ["Lov om sygedagpenge § 7"],
    }
    out = render(renderer, "decision", decision=decision, letter__deadlines={})
    assert RESTART_HEADING not in out.text
    assert "Afgørelsen gælder fra" not in out.text
    assert "Lov om sygedagpenge § 7" in out.text
    assert "Ankestyrelsen" in out.text


# --- meetings ----------------------------------------------------------------------------------
def test_meeting_summons_mentions_bisidder_and_local_time(renderer: Renderer) -> None:
    """The summons names the local meeting time (given in UTC), the bisidder right and the duty."""
    out = render(
        renderer, "meeting_summons", meeting__starts_at=datetime(2026, 12, 8, 9, 30, tzinfo=UTC)
    )
    assert "tirsdag den 8. december 2026 kl. 10.30" in out.text
    assert "bisidder" in out.text
    assert "pligt til at deltage" in out.text
    assert "miste retten til sygedagpenge" in out.text
    assert "Nordisk Træ ApS" in out.text  # with_employer


@pytest.mark.parametrize(
    ("form", "location", "expected"),
    [
        ("in_person", "", "Sted: Rådhuspladsen 1, 2630 Eksempelby"),
        ("phone", "", "Vi ringer til dig"),
        ("video", "https://video.eksempel.dk/m/1", "https://video.eksempel.dk/m/1"),
        ("video", "", "Vi sender dig et link til videomødet"),
    ],
)
def test_meeting_forms(renderer: Renderer, form: str, location: str, expected: str) -> None:
    """Each meeting form tells the citizen how the meeting takes place."""
    out = render(renderer, "meeting_summons", meeting__form=form, meeting__location=location)
    assert expected in out.text


def test_meeting_rescheduled_shows_new_and_old_time(renderer: Renderer) -> None:
    """The move letter states the new time and the time that no longer applies."""
    out = render(renderer, "meeting_rescheduled")
    assert "torsdag den 10. december 2026 kl. 13.00" in out.text
    assert "tirsdag den 8. december 2026 kl. 10.30" in out.text
    bare = render(
        renderer, "meeting_rescheduled", letter__params={}, meeting__previous_starts_at=None
    )
    assert "Den tidligere tid gælder ikke længere" in bare.text


def test_meeting_cancelled_reason_is_optional(renderer: Renderer) -> None:
    """A cancellation prints the reason when given and renders without it."""
    assert "Årsag:" in render(renderer, "meeting_cancelled").text
    assert "Årsag:" not in render(renderer, "meeting_cancelled", letter__params={}).text


# --- recipients --------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", EMPLOYER_KINDS)
def test_employer_letters_address_the_company(renderer: Renderer, kind: str) -> None:
    """Employer letters carry the company name and CVR, not the citizen's address or agenda."""
    out = render(renderer, kind)
    assert "Nordisk Træ ApS\nCVR-nr. 35420037" in out.text
    assert "Søndergade" not in out.text
    assert CATALOG["meeting_summons"].sample["meeting"]["agenda"] not in out.text


@pytest.mark.parametrize("kind", ALERT_KINDS)
def test_caseworker_alerts_carry_no_personal_data(renderer: Renderer, kind: str) -> None:
    """Alerts name the case and link to it, but never the citizen or the address."""
    out = render(renderer, kind)
    sample = CATALOG[kind].sample
    assert sample["case"]["case_id"] in out.text
    assert sample["case"]["url"] in out.html
    assert sample["citizen"]["name"] not in out.text
    assert sample["citizen"]["address"]["street"] not in out.text
    assert "Med venlig hilsen" not in out.text


@pytest.mark.parametrize(
    "kind", [k for k in CITIZEN_KINDS if "employer.name" not in CATALOG[k].required]
)
def test_citizen_letters_render_without_employer(renderer: Renderer, kind: str) -> None:
    """Citizen letters work for a citizen sick from unemployment (no employer)."""
    out = render(renderer, kind, employer=None)
    assert CATALOG[kind].sample["citizen"]["address"]["street"] in out.text
    assert "Nordisk Træ" not in out.text


def test_print_letter_mentions_ordinary_post(renderer: Renderer) -> None:
    """A citizen exempt from Digital Post is told to watch their ordinary post."""
    out = render(renderer, "information_form", citizen__digital_post=False)
    assert "holde øje med din post" in out.text
    assert "e-Boks" not in out.text


# --- safety ------------------------------------------------------------------------------------
def test_adhoc_free_text_is_escaped(renderer: Renderer) -> None:
    """Caseworker free text cannot inject markup or template code."""
    out = render(
        renderer,
        "adhoc",
        adhoc__paragraphs=["<script>alert(1)</script>{{ 7*7 }}"],
        adhoc__subject="<b>Emne</b>",
    )
    assert "<script>" not in out.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;{{ 7*7 }}" in out.html
    assert "<b>Emne</b>" not in out.html
    assert "49" not in out.text
    assert "<script>alert(1)</script>{{ 7*7 }}" in out.text


def test_missing_required_value_names_kind_and_field(renderer: Renderer) -> None:
    """A required value that is None is refused with the template and the field named."""
    with pytest.raises(RenderError, match=r"information_form\.html.*letter\.deadline"):
        render(renderer, "information_form", letter__deadline=None)
    with pytest.raises(RenderError, match=r"decision\.html.*decision\.reasoning"):
        render(renderer, "decision", decision__reasoning="")


def test_missing_key_names_template_and_variable(renderer: Renderer) -> None:
    """A value the template reads but the context lacks is an error, never a blank."""
    with pytest.raises(RenderError, match=r"meeting_summons\.html: undefined variable.*address"):
        render(renderer, "meeting_summons", citizen__address=...)


def test_the_form_states_the_deadline_the_rules_compute() -> None:
    """information_form.html says the deadline in words ("Fristen er 8 dage ...") while
    the rules compute its date. Every rule set a case can be planned under (the base and
    each dated overlay) must give the form the number of days the letter states, or a
    citizen would read one deadline in the sentence and another in the date."""
    source = (LETTERS_DIR / "information_form.html").read_text("utf-8")
    stated = {int(n) for n in re.findall(r"Fristen er (\d+) dage", source)}
    assert stated, "the form no longer states its deadline in days: update this test"
    rule_sets = [RULES, *(RULES.for_opening(o.effective_from) for o in RULES.overlays)]
    for rules in rule_sets:
        deadline = rules.letters["information_form"].deadline
        assert deadline is not None and deadline.offset is not None
        assert (str(deadline.offset.unit), {deadline.offset.n}) == ("days", stated), (
            f"rules {rules.version}: the form's deadline is {deadline.offset}; the letter "
            f"says {sorted(stated)} days")


# --- golden files ------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_golden_text(renderer: Renderer, kind: str) -> None:
    """The text of each sample letter equals its reviewed golden file."""
    path = GOLDEN_DIR / f"{kind}.txt"
    text = render(renderer, kind).text
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN_DIR.mkdir(exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.is_file(), f"{path} missing; run with UPDATE_GOLDEN=1 and review it"
    golden = path.read_text(encoding="utf-8")
    # Issue 14: CI prints every wording change as a diff a reviewer can read.
    diff = "".join(difflib.unified_diff(golden.splitlines(keepends=True),
                                        text.splitlines(keepends=True),
                                        f"golden/{kind}.txt", f"{kind}.html rendered now"))
    assert text == golden, f"the wording of {kind} changed (UPDATE_GOLDEN=1 accepts it):\n{diff}"


TYPST_GOLDEN = GOLDEN_DIR / "typst-sha256.json"


def test_golden_typst_markup(renderer: Renderer) -> None:
    """Issue 16: the Typst markup of each citizen letter's sample (what its PDF is made
    from) has its reviewed SHA-256. A change of lxml, of the HTML-to-Typst conversion or
    of a template changes the PDF's bytes, and the SHA-256 kept for every sent PDF would
    no longer match a rebuild (aktindsigt, retention's archive): this makes it a
    reviewed change, never a silent one."""
    hashes = {kind: sha256(to_typst(r.html, r.title).encode())
              for kind in CITIZEN_KINDS for r in [render(renderer, kind)]}
    if os.environ.get("UPDATE_GOLDEN") == "1":
        TYPST_GOLDEN.write_text(json.dumps(hashes, indent=1, sort_keys=True) + "\n",
                                encoding="utf-8")
        return
    assert TYPST_GOLDEN.is_file(), f"{TYPST_GOLDEN} missing; run with UPDATE_GOLDEN=1"
    golden = json.loads(TYPST_GOLDEN.read_text(encoding="utf-8"))
    changed = sorted(k for k in hashes.keys() | golden.keys() if hashes.get(k) != golden.get(k))
    assert not changed, (f"the Typst markup (so the PDF bytes) of {changed} changed; "
                         "UPDATE_GOLDEN=1 accepts it, but PDFs already sent would then fail "
                         "their kept SHA-256 when rebuilt")


def test_every_golden_file_belongs_to_a_letter_kind() -> None:
    """A golden file of a kind that no longer exists is an unreviewed leftover (issue 14)."""
    assert sorted(p.stem for p in GOLDEN_DIR.glob("*.txt")) == KINDS
