"""Fuzzing template data (hypothesis): free text from events (names, addresses, meeting
places, agendas, decision texts, cancellation reasons) is printed literally and escaped,
never evaluated: ``{{ 7*7 }}`` stays ``{{ 7*7 }}`` and markup adds no element or attribute.

Each example runs a whole case through the real planner, store and Deliverer (fakeredis,
a recording channel at the Channel seam) with hostile text in every free-text field, and
compares every letter with the same case run with harmless markers.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import fakeredis
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from notifier.channels.base import Outgoing
from notifier.clock import SimulatedClock
from notifier.delivery.render import html_to_text
from notifier.intake.events import parse_event
from notifier.intake.plaintext import script_problem, text_problem
from notifier.models import ChannelName, Receipt
from notifier.runtime import build_runtime
from notifier.settings import load_settings
from tests.support.env import without_notifier_env
from tests.support.fuzz import START, valid_event

# field name -> (event type, path inside data)
FIELDS: dict[str, tuple[str, tuple[str | int, ...]]] = {
    "citizen_name": ("sick_leave_reported", ("citizen", "name")),
    "street": ("sick_leave_reported", ("citizen", "address", "street")),
    "city": ("sick_leave_reported", ("citizen", "address", "city")),
    "employer_name": ("sick_leave_reported", ("employer", "name")),
    "caseworker_name": ("sick_leave_reported", ("caseworker", "name")),
    "caseworker_phone": ("sick_leave_reported", ("caseworker", "phone")),
    "location": ("meeting_booked", ("location",)),
    "agenda": ("meeting_booked", ("agenda",)),
    "decision_title": ("decision_made", ("title",)),
    "decision_text": ("decision_made", ("decision_text",)),
    "reasoning": ("decision_made", ("reasoning",)),
    "legal_basis": ("decision_made", ("legal_basis", 0)),
    "cancel_reason": ("meeting_cancelled", ("reason",)),
}
MULTI_LINE = {"agenda", "decision_text", "reasoning", "cancel_reason"}  # LongText fields
STEPS = ["sick_leave_reported", "early_followup_requested", "meeting_booked",
         "decision_made", "meeting_cancelled"]
MARKUP = [
    "{{ 7*7 }}",
    "{% if true %}ja{% endif %}",
    "{{ config }}{{ self.__init__.__globals__ }}",
    "<script>alert('x')</script>",
    '"><img src=x onerror=alert(1)>',
    "</p><h1>Falsk overskrift</h1><p>",
    "&lt;b&gt; &amp; &#60;i&#62;",
    "Søren & Åse <søren@eksempel.dk>",
    "${7*7} #{7*7} <%= 7*7 %>",
]
ROUND_ALPHABET = [*"<>&\"'{}%#/=;:!()[] abcæøåÆØÅ\n\t-", "{{", "}}", "{%", "%}", "{#"]


# Latin, Greek, Cyrillic and punctuation: what the letter fonts print (plaintext.py).
PRINTED = st.characters(max_codepoint=0x04FF)


def _text(multiline: bool = True) -> st.SearchStrategy[str]:
    """Hostile markup that intake accepts: control characters (and, in one-line fields,
    line breaks), CPR numbers and characters the fonts cannot print are refused at intake
    since issue 17, so they never reach a template; tabs and newlines of one-line fields
    become spaces."""
    free = st.lists(st.sampled_from(ROUND_ALPHABET), min_size=1, max_size=40).map("".join)
    return st.one_of(st.sampled_from(MARKUP), free,
                     st.text(PRINTED, min_size=1, max_size=40)).map(
        lambda t: t if multiline else re.sub("[\t\n]", " ", t)).filter(
        lambda t: len(t.strip()) > 0 and not t.strip().startswith("https://")
        # Checked unstripped: Python's strip() drops controls such as U+001F that intake
        # (which strips whitespace only) refuses.
        and text_problem(t, multiline=multiline) is None and script_problem(t) is None)


class Recorder:
    """The Channel seam: keeps what each letter looked like, delivers nowhere."""

    wants_pdf = False

    def __init__(self, name: ChannelName) -> None:
        self.name = name
        self.html: dict[str, str] = {}

    def close(self) -> None:
        pass

    def deliver(self, outgoing: Outgoing) -> Receipt:
        self.html[outgoing.letter.letter_id] = outgoing.rendered.html
        return Receipt(self.name.value, f"test:{outgoing.letter.letter_id}", outgoing.created)


@pytest.fixture(scope="module")
def harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    with without_notifier_env():
        yield Harness(tmp_path_factory.mktemp("outbox"))


class Harness:
    """One runtime (fakeredis, recording channels, simulated clock), reset per case: building
    it compiles every template, which would dominate the fuzzing time."""

    def __init__(self, outbox: Path) -> None:
        self.recorders = {name: Recorder(name) for name in ChannelName}
        self.clock = SimulatedClock(START)
        self.runtime = build_runtime(load_settings(outbox_dir=outbox), clock=self.clock,
                                     client=fakeredis.FakeRedis(),
                                     channels=dict(self.recorders))

    def run_case(self, texts: dict[str, str]) -> dict[str, str]:
        """The case, with ``texts`` in its free-text fields, until every letter went out;
        returns letter id -> rendered HTML."""
        self.runtime.client.flushall()
        for recorder in self.recorders.values():
            recorder.html.clear()
        for number, type_ in enumerate(STEPS):
            occurred = START + timedelta(days=number)
            raw = valid_event(type_, event_id=f"evt-{number}", occurred=occurred)
            for field, (event_type, path) in FIELDS.items():
                if event_type == type_:
                    _put(raw["data"], path, texts[field])
            self.clock.set(occurred)
            self._deliver_due(until=occurred)
            self.runtime.store.apply_event(parse_event(raw), self.runtime.planner, occurred)
        self._deliver_due(until=START + timedelta(days=365))
        return {i: html for r in self.recorders.values() for i, html in r.html.items()}

    def _deliver_due(self, until: datetime) -> None:
        store = self.runtime.store
        while (due := store.next_due()) is not None and due <= until:
            self.clock.set(max(due, self.clock.now()))
            now = self.clock.now()
            for letter_id in store.claim_due(now, now + timedelta(minutes=5), 1000):
                self.runtime.deliverer.deliver(letter_id)


def _put(data: dict[str, Any], path: tuple[str | int, ...], value: str) -> None:
    node: Any = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


class _Structure(HTMLParser):
    """The elements and attributes of a document, without its text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.items: list[tuple[str, str, tuple[tuple[str, str | None], ...]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.items.append(("start", tag, tuple(attrs)))

    def handle_endtag(self, tag: str) -> None:
        self.items.append(("end", tag, ()))


def structure(html: str) -> list[tuple[str, str, tuple[tuple[str, str | None], ...]]]:
    parser = _Structure()
    parser.feed(html)
    parser.close()
    return parser.items


def _shown(value: str) -> str:
    """How a value reads in the letter's text: stripped (as events store it), with runs of
    whitespace as one space (as the text version lays out HTML)."""
    return re.sub(r"\s+", " ", value).strip()


MARKERS = {field: f"Feltværdi{n}" for n, field in enumerate(FIELDS)}


@pytest.fixture(scope="module")
def reference(harness: Harness) -> dict[str, str]:
    """The same case with harmless marker texts."""
    return harness.run_case(MARKERS)


def test_reference_case_shows_every_field_somewhere(reference: dict[str, str]) -> None:
    """The fuzzed fields are really printed: each marker appears in at least one letter
    (otherwise the fuzz test below would prove nothing about that field)."""
    letters = reference
    assert len(letters) >= 10
    texts = [html_to_text(html) for html in letters.values()]
    missing = [field for field, marker in MARKERS.items() if not any(marker in t for t in texts)]
    assert not missing


@settings(deadline=None, max_examples=30,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(texts=st.fixed_dictionaries({field: _text(field in MULTI_LINE) for field in FIELDS}))
@example(texts={field: MARKUP[n % len(MARKUP)] for n, field in enumerate(FIELDS)})
def test_free_text_is_printed_literally_and_escaped(harness: Harness, reference: dict[str, str],
                                                   texts: dict[str, str]) -> None:
    """Given hostile text (Jinja, HTML, entities, quotes) in every free-text field of a
    case, every letter has exactly the elements and attributes it has with harmless text,
    and each field reads literally in its text: nothing was evaluated or injected."""
    expected = reference
    letters = harness.run_case(texts)
    assert set(letters) == set(expected)
    for letter_id, html in letters.items():
        assert structure(html) == structure(expected[letter_id])
        text = html_to_text(html)
        for field, marker in MARKERS.items():
            if marker in html_to_text(expected[letter_id]):
                assert _shown(texts[field]) in text, (field, texts[field])
    rendered = " ".join(letters.values())
    assert "<script" not in rendered.lower() or "<script" in " ".join(expected.values())


def test_jinja_in_data_is_not_evaluated(harness: Harness) -> None:
    """The plainest case, spelled out: a decision text ``{{ 7*7 }}`` and a citizen named
    ``<script>`` come out as written, escaped in the HTML, and no 49 appears for them."""
    texts = copy.deepcopy(MARKERS)
    texts["decision_text"] = "Beløb: {{ 7*7 }} kr."
    texts["citizen_name"] = "<script>alert(1)</script>"
    letters = harness.run_case(texts)
    decision = next(h for h in letters.values() if "Beløb:" in h)
    assert "Beløb: {{ 7*7 }} kr." in decision and "Beløb: 49" not in decision
    named = [h for h in letters.values() if "alert(1)" in h]
    assert named
    assert all("&lt;script&gt;alert(1)&lt;/script&gt;" in h and "<script>" not in h
               for h in named)
