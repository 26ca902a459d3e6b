"""The pipeline on fakeredis: store, dispatcher claim/lease/reap, delivery, cancellation."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import fakeredis
import pytest

from notifier.clock import SimulatedClock
from notifier.errors import ConflictError, PermanentError, TransientError
from notifier.models import ChannelName, Receipt, Status
from notifier.runtime import Runtime, build_channels, build_runtime
from notifier.settings import Settings
from tests.conftest import CITIZEN_CPR, event, local, opening_event


class ScriptedChannel:
    """A channel fake that fails as told, then delegates to the real outbox channel."""

    def __init__(self, real: object, failures: list[Exception]) -> None:
        self.real = real
        self.failures = failures
        self.name = real.name  # type: ignore[attr-defined]
        self.wants_pdf = real.wants_pdf  # type: ignore[attr-defined]
        self.calls = 0

    def close(self) -> None:
        self.real.close()  # type: ignore[attr-defined]

    def deliver(self, outgoing: object) -> Receipt:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return self.real.deliver(outgoing)  # type: ignore[attr-defined]


@pytest.fixture
def runtime(settings: Settings, clock: SimulatedClock) -> Runtime:
    return build_runtime(settings, clock=clock, client=fakeredis.FakeRedis())


def letters_by_kind(runtime: Runtime, case_id: str = "SDP-2026-0042") -> dict[str, list]:
    out: dict[str, list] = {}
    for letter in runtime.store.case_letters(case_id).values():
        out.setdefault(letter.kind, []).append(letter)
    return out


def deliver_due(runtime: Runtime) -> list[str]:
    """One dispatcher tick, then deliver what it claimed in this thread (no broker worker)."""
    ids = runtime.store.claim_due(runtime.clock.now(), runtime.clock.now() + timedelta(minutes=5),
                                  100)
    for letter_id in ids:
        runtime.deliverer.deliver(letter_id)
    return ids


def test_apply_event_persists_letters_due_set_and_audit(runtime: Runtime) -> None:
    """Given a new case, when the opening event is applied, then its letters, due entries
    and an audit entry exist, and re-submitting the same event id changes nothing."""
    first = runtime.store.apply_event(opening_event(), runtime.planner, runtime.clock.now())
    assert first.outcome == "accepted"
    kinds = {letter.kind for letter in first.planned}
    assert {"information_form", "information_form_reminder", "first_meeting_due"} <= kinds
    assert runtime.store.due_count() == len(first.planned)
    keys_before = sorted(runtime.client.keys("*"))
    again = runtime.store.apply_event(opening_event(), runtime.planner, runtime.clock.now())
    assert again.outcome == "duplicate"
    assert sorted(runtime.client.keys("*")) == keys_before
    audit = runtime.store.audit("SDP-2026-0042")
    assert [entry["what"] for entry in audit] == ["event_applied"]


def test_refused_event_writes_nothing(runtime: Runtime) -> None:
    """A ConflictError (unknown meeting) leaves Redis exactly as it was."""
    runtime.store.apply_event(opening_event(), runtime.planner, runtime.clock.now())
    snapshot = {k: runtime.client.dump(k) for k in runtime.client.keys("*")}
    bad = event("evt-2", "meeting_cancelled", "2026-11-24T10:00:00+01:00", {"meeting_id": "nope"})
    with pytest.raises(ConflictError) as err:
        runtime.store.apply_event(bad, runtime.planner, runtime.clock.now())
    assert err.value.errors[0].field == "data.meeting_id"
    assert {k: runtime.client.dump(k) for k in runtime.client.keys("*")} == snapshot


def test_claim_is_exclusive_between_dispatchers(runtime: Runtime) -> None:
    """Two dispatchers claiming the same due letters never both get one."""
    runtime.store.apply_event(opening_event(), runtime.planner, runtime.clock.now())
    now = runtime.clock.now()
    first = runtime.store.claim_due(now, now + timedelta(minutes=5), 100)
    second = runtime.store.claim_due(now, now + timedelta(minutes=5), 100)
    assert len(first) == 1 and second == []
    letter = runtime.store.letter(first[0])
    assert letter is not None and letter.status is Status.QUEUED


def test_delivery_sends_once_and_is_safe_to_repeat(runtime: Runtime, settings: Settings) -> None:
    """The form is rendered and written as MeMo; delivering the same id again is a no-op."""
    runtime.store.apply_event(opening_event(), runtime.planner, runtime.clock.now())
    (letter_id,) = deliver_due(runtime)
    letter = runtime.store.letter(letter_id)
    assert letter is not None and letter.status is Status.SENT
    memo = Path(settings.outbox_dir) / "digital_post" / f"{letter_id}.xml"
    text = memo.read_text(encoding="utf-8")
    assert f"<memo:messageUUID>{letter_id}</memo:messageUUID>" in text
    assert runtime.deliverer.deliver(letter_id) is Status.SENT
    assert letter.attempts == 1
    assert runtime.store.document(letter_id)["title"]


def test_deadline_is_computed_from_actual_send_date(runtime: Runtime) -> None:
    """Planned for Monday 23 Nov (deadline 1 Dec), the form actually goes out Wednesday
    25 Nov: its recorded and printed deadline is 25 Nov + 8 days = Thursday 3 Dec."""
    applied = runtime.store.apply_event(opening_event(), runtime.planner, runtime.clock.now())
    form = next(x for x in applied.planned if x.kind == "information_form")
    assert form.deadline == date(2026, 12, 1)
    runtime.clock.set(local("2026-11-25 10:00"))
    deliver_due(runtime)
    sent = runtime.store.letter(form.letter_id)
    assert sent is not None and sent.deadline == date(2026, 12, 3)
    assert "torsdag den 3. december 2026" in runtime.store.document(form.letter_id)["text"]


def test_cancelled_after_claim_is_never_sent(runtime: Runtime, settings: Settings) -> None:
    """A reminder claimed by the dispatcher, then cancelled by information_form_returned
    before a worker takes it, is skipped by the worker and never written."""
    runtime.store.apply_event(opening_event(), runtime.planner, runtime.clock.now())
    deliver_due(runtime)  # the form itself
    runtime.clock.set(local("2026-11-26 09:00"))
    now = runtime.clock.now()
    (reminder_id,) = runtime.store.claim_due(now, now + timedelta(minutes=5), 100)
    returned = event("evt-2", "information_form_returned", "2026-11-26T09:00:00+01:00",
                     {"returned_on": "2026-11-26"})
    applied = runtime.store.apply_event(returned, runtime.planner, now)
    assert reminder_id in {x.letter_id for x in applied.cancelled}
    assert runtime.deliverer.deliver(reminder_id) is Status.CANCELLED
    assert not (Path(settings.outbox_dir) / "digital_post" / f"{reminder_id}.xml").exists()
    assert runtime.store.inflight_count() == 0


def test_expired_lease_is_requeued_and_delivered_once(runtime: Runtime) -> None:
    """A letter claimed by a dispatcher that died before enqueueing is re-queued after its
    lease and then delivered exactly once."""
    runtime.store.apply_event(opening_event(), runtime.planner, runtime.clock.now())
    now = runtime.clock.now()
    (letter_id,) = runtime.store.claim_due(now, now + timedelta(seconds=300), 100)
    assert runtime.store.reap_expired(now, now + timedelta(seconds=300), 100) == []
    later = now + timedelta(seconds=301)
    assert runtime.store.reap_expired(later, later + timedelta(seconds=300), 100) == [letter_id]
    assert runtime.deliverer.deliver(letter_id) is Status.SENT
    assert runtime.deliverer.deliver(letter_id) is Status.SENT  # the stale duplicate message
    assert runtime.store.letter(letter_id).attempts == 1


def _runtime_with(settings: Settings, clock: SimulatedClock, failures: list[Exception]
                  ) -> tuple[Runtime, ScriptedChannel]:
    channels = build_channels(settings, clock)
    scripted = ScriptedChannel(channels[ChannelName.DIGITAL_POST], failures)
    channels[ChannelName.DIGITAL_POST] = scripted  # type: ignore[assignment]
    return build_runtime(settings, clock=clock, client=fakeredis.FakeRedis(),
                         channels=channels), scripted


def test_transient_failure_retries_with_backoff_same_id(settings: Settings,
                                                         clock: SimulatedClock) -> None:
    """A 5xx-like failure puts the letter back in the due set with backoff; the retry
    delivers it under the same letter id."""
    runtime, channel = _runtime_with(settings, clock, [TransientError("gateway 503")])
    runtime.store.apply_event(opening_event(), runtime.planner, clock.now())
    (letter_id,) = deliver_due(runtime)
    letter = runtime.store.letter(letter_id)
    assert letter.status is Status.SCHEDULED
    assert runtime.store.next_due() == clock.now() + timedelta(seconds=30)
    clock.advance(timedelta(seconds=30))
    assert deliver_due(runtime) == [letter_id]
    assert runtime.store.letter(letter_id).status is Status.SENT
    assert channel.calls == 2


def test_permanent_failure_is_dead_with_reason_and_alert(settings: Settings,
                                                         clock: SimulatedClock) -> None:
    """A permanent failure makes the letter dead with its reason, and plans a caseworker
    alert that carries no CPR number."""
    runtime, _ = _runtime_with(settings, clock, [PermanentError("recipient not found")])
    runtime.store.apply_event(opening_event(), runtime.planner, clock.now())
    (letter_id,) = deliver_due(runtime)
    letter = runtime.store.letter(letter_id)
    assert letter.status is Status.DEAD and letter.reason == "recipient not found"
    alerts = letters_by_kind(runtime)["delivery_failed"]
    assert alerts[0].channel is ChannelName.MAIL
    (alert_id,) = deliver_due(runtime)
    assert alert_id == alerts[0].letter_id
    mail = (Path(settings.outbox_dir) / "mail" / f"{alert_id}.eml").read_text()
    assert "recipient not found" in mail and CITIZEN_CPR not in mail


def test_retries_stop_after_the_bounded_time(settings: Settings, clock: SimulatedClock) -> None:
    """Transient failures beyond retry_max_seconds end as dead, not as endless retries."""
    many = [TransientError("down")] * 50
    runtime, channel = _runtime_with(settings, clock, many)
    runtime.store.apply_event(opening_event(), runtime.planner, clock.now())
    for _ in range(50):
        if runtime.store.next_due() is None:
            break
        clock.set(max(clock.now(), runtime.store.next_due()))
        form = [x for x in deliver_due(runtime)]
        if not form:
            break
    form_letter = letters_by_kind(runtime)["information_form"][0]
    assert runtime.store.letter(form_letter.letter_id).status is Status.DEAD
    assert "gave up retrying" in runtime.store.letter(form_letter.letter_id).reason
    assert channel.calls < 50


def test_case_closed_cancels_everything_pending(runtime: Runtime) -> None:
    """Closing a case cancels every pending letter and refuses later events; only the
    letter telling the citizen the case is closed (planned by the close) is due."""
    runtime.store.apply_event(opening_event(), runtime.planner, runtime.clock.now())
    closed = event("evt-9", "case_closed", "2026-11-24T10:00:00+01:00",
                   {"closed_on": "2026-11-24", "reason": "recovered"})
    applied = runtime.store.apply_event(closed, runtime.planner, runtime.clock.now())
    assert [x.kind for x in applied.planned] == ["case_closed"]
    due = {m.decode() for m in runtime.store.redis.zrange("notifier:due", 0, -1)}
    assert due == {applied.planned[0].letter_id}
    assert all(x.status is Status.CANCELLED for x in applied.cancelled)
    later = event("evt-10", "information_form_returned", "2026-11-25T10:00:00+01:00",
                  {"returned_on": "2026-11-25"})
    with pytest.raises(ConflictError):
        runtime.store.apply_event(later, runtime.planner, runtime.clock.now())


def test_an_overdue_alert_does_not_wait_for_a_delayed_form(runtime: Runtime) -> None:
    """Given the information form is still on its way when its overdue alert comes due
    (issue 15's note feared a delayed form would kill its alert), then the alert goes,
    with the form's deadline as planned: a deadline is fixed when the form is planned,
    not when it is sent, so the reference resolves while the form is pending."""
    store, clock = runtime.store, runtime.clock
    store.apply_event(opening_event(), runtime.planner, clock.now())
    [overdue] = letters_by_kind(runtime)["information_form_overdue"]
    [form] = letters_by_kind(runtime)["information_form"]
    clock.advance(overdue.send_at - clock.now())  # type: ignore[attr-defined]
    claimed = store.claim_due(clock.now(), clock.now() + timedelta(minutes=5), 100)
    assert {form.letter_id, overdue.letter_id} <= set(claimed)
    assert runtime.deliverer.deliver(overdue.letter_id) is Status.SENT
    pending_form = store.letter(form.letter_id)
    assert pending_form is not None and pending_form.status is Status.QUEUED
    sent = store.letter(overdue.letter_id)
    assert sent is not None and form.deadline is not None
    assert sent.deadline == form.deadline
