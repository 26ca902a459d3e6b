"""Issue 16: the worker's path in fewer steps. A take returns the letter with its case; the
sent document is stored in the same atomic step as the move to sent; the case's other
letters are read only where a deadline refers to them; a letter's HTML is parsed once."""

from __future__ import annotations

from datetime import timedelta

import fakeredis
import pytest

from notifier.clock import SimulatedClock
from notifier.delivery import html_tree
from notifier.delivery.pdf_typst import to_typst
from notifier.delivery.pending_document import PENDING, keep_pending
from notifier.delivery.render import html_to_text
from notifier.models import Status
from notifier.runtime import Runtime, build_runtime
from notifier.settings import Settings
from notifier.store import LETTER, Store
from tests.conftest import opening_event
from tests.unit.test_pipeline import deliver_due


@pytest.fixture
def runtime(settings: Settings, clock: SimulatedClock) -> Runtime:
    return build_runtime(settings, clock=clock, client=fakeredis.FakeRedis())


def _opened(runtime: Runtime) -> str:
    """A new case; the id of its information form, claimed for sending now."""
    planned = runtime.store.apply_event(opening_event(), runtime.planner, runtime.clock.now())
    form = next(x for x in planned.planned if x.kind == "information_form")
    now = runtime.clock.now()
    assert form.letter_id in runtime.store.claim_due(now, now + timedelta(minutes=5), 100)
    return form.letter_id


def test_a_take_returns_the_letter_and_its_case(runtime: Runtime) -> None:
    """Given a claimed form, when a worker takes it, then the take itself carries the
    letter (now sending, first attempt) and its case as stored; a second take of the same
    letter (a duplicate message) takes nothing and carries neither."""
    form_id = _opened(runtime)
    now = runtime.clock.now()
    taken = runtime.store.take(form_id, now + timedelta(minutes=5), 5, now=now)
    assert (taken.status, taken.attempts) == (Status.SENDING, 1)
    assert taken.letter == runtime.store.letter(form_id)
    assert taken.letter is not None and taken.letter.status is Status.SENDING
    assert taken.case == runtime.store.case(taken.letter.case_id)
    again = runtime.store.take(form_id, now + timedelta(minutes=5), 5, now=now)
    assert (again.status, again.attempts, again.letter, again.case) == \
        (Status.SENDING, 0, None, None)


def test_the_document_is_stored_in_the_same_step_as_sent(runtime: Runtime) -> None:
    """Given a form whose document was kept pending (a send to SF1601), when the worker
    records it as sent, then the sent document is stored, the pending copy is gone and
    the letter says sent."""
    form_id = _opened(runtime)
    keep_pending(runtime.client, form_id, {"title": "handed over", "html": "<p>x</p>"})
    runtime.deliverer.deliver(form_id)
    assert runtime.store.letter(form_id).status is Status.SENT  # type: ignore[union-attr]
    document = runtime.store.document(form_id)
    assert document is not None and "Oplysningsskema" in document["title"]
    assert not runtime.client.exists(PENDING + form_id)


def test_a_purged_letter_gets_no_document_back(runtime: Runtime) -> None:
    """Given a letter purged (retention) while it was being sent, when the send is
    recorded, then the transition reports it missing and writes no document: a purged
    letter's document is not brought back."""
    form_id = _opened(runtime)
    now = runtime.clock.now()
    taken = runtime.store.take(form_id, now + timedelta(minutes=5), 5, now=now)
    assert taken.letter is not None
    runtime.client.delete(LETTER + form_id)
    moved = runtime.store.transition(taken.letter, (Status.SENDING,), Status.SENT, now,
                                     document={"title": "t", "html": "<p>x</p>"})
    assert moved is False
    assert runtime.store.document(form_id) is None


class CountingStore(Store):
    """The real store, counting reads of a case's letters."""

    case_letter_reads = 0

    def case_letters(self, case_id: str) -> dict:  # type: ignore[type-arg]
        CountingStore.case_letter_reads += 1
        return super().case_letters(case_id)


def test_other_letters_are_read_only_where_a_deadline_refers_to_them(
        settings: Settings, clock: SimulatedClock) -> None:
    """Given a new case, when its form goes out, then the worker reads no other letter
    (the form's deadline counts from its own receipt date); when the reminder goes out,
    whose deadline is the form's, it reads them, and the reminder's deadline is the
    form's."""
    runtime = build_runtime(settings, clock=clock, client=fakeredis.FakeRedis())
    runtime.store = CountingStore(runtime.client)
    runtime.deliverer.store = runtime.store
    CountingStore.case_letter_reads = 0
    planned = runtime.store.apply_event(opening_event(), runtime.planner, clock.now())
    form, reminder = (next(x for x in planned.planned if x.kind == kind)
                      for kind in ("information_form", "information_form_reminder"))
    assert form.letter_id in deliver_due(runtime)
    assert CountingStore.case_letter_reads == 0
    clock.set(reminder.send_at)
    assert reminder.letter_id in deliver_due(runtime)
    assert CountingStore.case_letter_reads == 1
    sent_form, sent_reminder = (runtime.store.letter(x.letter_id) for x in (form, reminder))
    assert sent_reminder is not None and sent_reminder.status is Status.SENT
    assert sent_form is not None and sent_form.deadline is not None
    assert runtime.store.letter(reminder.letter_id).deadline == sent_form.deadline  # type: ignore[union-attr]


def test_a_letters_html_is_parsed_once_for_its_text_and_its_pdf(runtime: Runtime) -> None:
    """Given a rendered letter, then it carries the tree its text was made from; the
    Typst markup is made from that tree (a different tree gives a different title), and
    it is the markup that parsing the HTML again gives: the PDF needs no second parse."""
    from notifier.delivery.context import jobcenter_context

    entry = runtime.renderer.catalog["information_form"]
    rendered = runtime.renderer.render(
        "information_form", {"jobcenter": jobcenter_context(runtime.settings), **entry.sample})
    assert rendered.tree is not None and rendered.tree == html_tree.parse(rendered.html)
    assert rendered.text == html_to_text(rendered.html)
    markup = to_typst(rendered.html, rendered.title, rendered.tree)
    assert markup == to_typst(rendered.html, rendered.title)
    other = html_tree.parse("<html><head><title>Et andet brev</title></head><body></body></html>")
    assert 'title: "Et andet brev"' in to_typst(rendered.html, rendered.title, other)


def test_the_tree_leaves_out_comments_and_resolves_references() -> None:
    """Given HTML with a doctype, a comment, character references and <br>, the text
    variant and the Typst markup show the characters, never the comment or doctype."""
    html = ("<!DOCTYPE html><html lang=\"da\"><head><title>Brev &amp; svar</title></head>"
            "<body><h1>Brev</h1><!-- intern note --><p>A &lt;b&gt; &#230;&oslash;<br>"
            "ny linje</p></body></html>")
    text = html_to_text(html)
    assert text == "Brev\n====\n\nA <b> æø\nny linje\n"
    markup = to_typst(html, "reserve")
    assert 'title: "Brev & svar"' in markup and 'lang: "da"' in markup
    assert "intern note" not in markup and "DOCTYPE" not in markup
    assert '#"A <b> æø"#linebreak()#"ny linje"' in markup
