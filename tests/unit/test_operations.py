"""Issue 13: the operator role, the operations page and API (retry a dead letter, replay
callbacks), the sweeper repairing stranded letters and callbacks exactly once, the
certificate's expiry, and begin_send's too-many-attempts path audited and alerted."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import fakeredis
import pytest
from fastapi.testclient import TestClient

from notifier.api.app import create_app
from notifier.api.auth import hash_token
from notifier.clock import SimulatedClock
from notifier.delivery.deliverer import failure_alert
from notifier.models import Letter, Recipient, Status
from notifier.operations import survey as survey_module
from notifier.operations.survey import retry_dead_letter
from notifier.operations.sweeper import FOUND, LAST, LOCK, Sweeper, last_report
from notifier.records.callbacks import CallbackOutbox
from notifier.runtime import Runtime, build_runtime
from notifier.settings import load_settings
from notifier.store import CALLBACKS_DUE, DUE, INFLIGHT
from tests.unit.test_api_helpers import BASE, CASE, CASEWORKER, TOKENS, Api

OPERATOR_TOKEN = "unit-operator-token-abcdefghijklmnopqrstuvw"
OPERATOR = {"Authorization": f"Bearer {OPERATOR_TOKEN}"}
SAME_ORIGIN = {"Origin": BASE}
URL = "http://127.0.0.1:9/callbacks"
SECRET = "whsec_" + "bWJtYm1ibWJtYm1ibWJtYm1ibWJtYm1ibWJtYm1i"


@pytest.fixture
def api(tmp_path: Path, clean_env: None, clock: SimulatedClock) -> Api:
    settings = load_settings(outbox_dir=tmp_path / "outbox", callback_url=URL,
                             callback_secrets=SECRET, api_tokens=TOKENS + f",operator:olga:"
                             f"{hash_token(OPERATOR_TOKEN)}")
    runtime = build_runtime(settings, clock=clock, client=fakeredis.FakeRedis())
    api = Api(runtime, TestClient(create_app(runtime), base_url=BASE), clock)
    api.open_case()
    return api


def citizen_letter(runtime: Runtime) -> Letter:
    letters = runtime.store.case_letters(CASE).values()
    return next(x for x in letters if x.recipient is Recipient.CITIZEN
                and x.status is Status.SCHEDULED)


def kill(runtime: Runtime, letter: Letter, reason: str = "Digital Post: permanent fejl") -> None:
    """A letter dead the way the worker makes one (the transition with its reason)."""
    assert runtime.store.transition(letter, (Status.SCHEDULED,), Status.DEAD,
                                    runtime.clock.now(), fields={"reason": reason},
                                    audit={"reason": reason})


def sent_count(api: Api, letter_id: str) -> int:
    """Files the letter left in the Digital Post outbox (one per send)."""
    outbox = Path(api.runtime.settings.outbox_dir)
    return sum(1 for p in outbox.rglob("*") if p.is_file() and letter_id in p.name
               and p.suffix == ".xml")


def test_operations_api_needs_the_operator_role_and_lists_a_dead_letter(api: Api) -> None:
    """GET /operations answers an operator token with the dead letter and its reason, the
    heartbeat, queue depth and callbacks; a caseworker token gets 403, and the operator
    token gets 403 on the caseworkers' API."""
    letter = citizen_letter(api.runtime)
    kill(api.runtime, letter)
    assert api.client.get("/operations", headers=CASEWORKER).status_code == 403
    assert api.client.get(f"/cases/{CASE}", headers=OPERATOR).status_code == 403
    response = api.client.get("/operations", headers=OPERATOR)
    assert response.status_code == 200, response.text
    view = response.json()
    [dead] = view["dead"]
    assert dead["letter_id"] == letter.letter_id and dead["reason"].startswith("Digital Post")
    assert view["dead_count"] == 1 and view["queue_depth"] == 0
    assert view["callbacks"]["enabled"] and view["certificate"] is None
    assert "dispatcher_heartbeat_age_seconds" in view


def test_retry_requeues_a_dead_letter_once_under_its_id_with_an_audit_entry(api: Api) -> None:
    """Retrying a dead letter makes it scheduled and due now under the same id, with an
    audit entry naming the operator; retrying again changes nothing; it is sent once."""
    letter = citizen_letter(api.runtime)
    kill(api.runtime, letter)
    url = f"/operations/letters/{letter.letter_id}/retry"
    first = api.client.post(url, headers=OPERATOR).json()
    again = api.client.post(url, headers=OPERATOR).json()
    assert (first["outcome"], again["outcome"]) == ("retried", "already_retried")
    retried = api.runtime.store.letter(letter.letter_id)
    assert retried is not None and retried.status is Status.SCHEDULED and retried.attempts == 0
    assert api.runtime.client.zscore(DUE, letter.letter_id) == api.clock.now().timestamp()
    [entry] = [e for e in api.runtime.store.audit(CASE) if e["what"] == "retried"]
    assert entry["by"] == "operator:olga" and entry["letter_id"] == letter.letter_id
    assert letter.letter_id in api.deliver_due()
    api.deliver_due()
    final = api.runtime.store.letter(letter.letter_id)
    assert final is not None and final.status is Status.SENT
    assert sent_count(api, letter.letter_id) == 1


def test_a_retried_letter_that_dies_again_alerts_its_caseworker_again(api: Api) -> None:
    """Given a dead letter whose caseworker was alerted, when an operator retries it and it
    dies again, then a second delivery_failed alert is planned (its own id), not swallowed
    as a repeat of the first; the retry is counted on the letter."""
    catalog, now = api.runtime.renderer.catalog, api.clock.now()
    letter = citizen_letter(api.runtime)
    kill(api.runtime, letter)
    first = failure_alert(catalog, letter, "permanent", now)
    assert first is not None and api.runtime.store.add_letter(first, now, why="alert_planned")
    api.client.post(f"/operations/letters/{letter.letter_id}/retry", headers=OPERATOR)
    retried = api.runtime.store.letter(letter.letter_id)
    assert retried is not None and retried.retries == 1
    kill_again = api.runtime.store.transition(retried, (Status.SCHEDULED,), Status.DEAD, now,
                                              fields={"reason": "again"})
    assert kill_again
    second = failure_alert(catalog, retried, "again", now)
    assert second is not None and second.letter_id != first.letter_id
    assert api.runtime.store.add_letter(second, now, why="alert_planned")


def test_retry_refuses_a_letter_that_was_never_dead(api: Api) -> None:
    """A scheduled letter cannot be 'retried': 409, and it stays as it was."""
    letter = citizen_letter(api.runtime)
    response = api.client.post(f"/operations/letters/{letter.letter_id}/retry",
                               headers=OPERATOR)
    assert response.status_code == 409
    assert api.runtime.store.letter(letter.letter_id) == letter


def test_operator_pages_login_confirm_and_retry(api: Api) -> None:
    """An operator logging in lands on /ui/drift, which lists the dead letter in Danish;
    the retry goes through a confirmation page; a cross-site post is refused; a
    caseworker session never sees the page."""
    letter = citizen_letter(api.runtime)
    kill(api.runtime, letter, "Modtageren findes ikke")
    login = api.client.post("/ui/login", data={"token": OPERATOR_TOKEN, "next": "/ui"},
                            headers=SAME_ORIGIN, follow_redirects=False)
    assert login.status_code == 303 and login.headers["location"] == "/ui/drift"
    page = api.client.get("/ui/drift")
    assert page.status_code == 200
    assert "Døde breve" in page.text and "Modtageren findes ikke" in page.text
    assert api.client.get("/ui", follow_redirects=False).headers["location"] == "/ui/drift"
    confirm = api.client.get(f"/ui/drift/letters/{letter.letter_id}/retry")
    assert "Ja, send brevet igen" in confirm.text
    cross = api.client.post(f"/ui/drift/letters/{letter.letter_id}/retry",
                            headers={"Origin": "https://evil.example"}, follow_redirects=False)
    assert cross.status_code == 403
    done = api.client.post(f"/ui/drift/letters/{letter.letter_id}/retry",
                           headers=SAME_ORIGIN, follow_redirects=False)
    assert done.headers["location"] == "/ui/drift?besked=genforsoegt"
    stored = api.runtime.store.letter(letter.letter_id)
    assert stored is not None and stored.status is Status.SCHEDULED
    api.client.cookies.clear()
    api.client.post("/ui/login", data={"token": "unit-caseworker-token-abcdefghijklmnopqrstu",
                                       "next": "/ui"}, headers=SAME_ORIGIN)
    assert api.client.get("/ui/drift", follow_redirects=False).status_code == 303


def test_replay_through_the_page_sends_dead_callbacks_again_and_audits(api: Api) -> None:
    """A dead callback item is listed and replayed after confirmation: pending again under
    its own id, with an audit entry naming the operator."""
    letter = citizen_letter(api.runtime)
    kill(api.runtime, letter)
    outbox = CallbackOutbox(api.runtime.store)
    [item] = [i.decode() for i in api.runtime.client.zrange(CALLBACKS_DUE, 0, -1)]
    assert outbox.dead(item, api.clock.now(), "HTTP 500")
    api.client.post("/ui/login", data={"token": OPERATOR_TOKEN, "next": "/ui/drift"},
                    headers=SAME_ORIGIN)
    assert item in api.client.get("/ui/drift").text
    assert "1 tilbagemeldinger" in api.client.get("/ui/drift/callbacks/replay").text
    done = api.client.post("/ui/drift/callbacks/replay", data={"confirm": "ja"},
                           headers=SAME_ORIGIN, follow_redirects=False)
    assert done.headers["location"].endswith("besked=genafsendt&antal=1")
    assert outbox.counts() == {"pending": 1, "dead": 0}
    [entry] = [e for e in api.runtime.store.audit(CASE) if e["what"] == "callback_replayed"]
    assert entry["by"] == "operator:olga" and entry["callback"] == item


def test_sweeper_repairs_each_stranded_state_exactly_once(api: Api) -> None:
    """Strand a scheduled letter (due entry deleted), a queued one (lease dropped) and a
    callback item (due entry dropped): one sweep repairs each, a second sweep finds
    nothing, the counters say 1 each, and every letter is then sent exactly once. The
    letter killed with a transport's reason gets no alert from the sweeper (every way to
    dead but the take's plans its alert first)."""
    runtime = api.runtime
    sweeper = Sweeper(runtime.store, runtime.clock, runtime.settings)
    letters = sorted((x for x in runtime.store.case_letters(CASE).values()
                      if x.status is Status.SCHEDULED), key=lambda x: x.send_at)
    assert len(letters) >= 3, "the opening plans at least three letters"
    first, second = letters[0], letters[1]
    runtime.client.zrem(DUE, first.letter_id)  # stranded: scheduled, in no set
    # stranded: claimed (queued, out of the due set) and its lease dropped
    runtime.client.zrem(DUE, second.letter_id)
    runtime.client.hset(f"notifier:letter:{second.letter_id}", "status", "queued")
    # its letter.dead callback item is the one to strand
    kill(runtime, next(x for x in letters[2:] if x.recipient is not Recipient.CASEWORKER))
    [item] = [i.decode() for i in runtime.client.zrange(CALLBACKS_DUE, 0, -1)]
    runtime.client.zrem(CALLBACKS_DUE, item)
    report = sweeper.sweep()
    assert report.repaired == {"due": 1, "lease": 1, "callback": 1, "alert": 0}
    assert sweeper.sweep().repaired == {"due": 0, "lease": 0, "callback": 0, "alert": 0}
    stats = runtime.store.stats()
    assert (stats["swept|due"], stats["swept|lease"], stats["swept|callback"]) == (1, 1, 1)
    assert runtime.client.zscore(CALLBACKS_DUE, item) is not None
    # past both send times and the fresh lease
    api.clock.set(max(api.clock.now(), second.send_at) + timedelta(minutes=6))
    for _ in range(3):
        runtime.store.reap_expired(api.clock.now(), api.clock.now() + timedelta(minutes=5),
                                   100)
        for letter_id in [m.decode() for m in runtime.client.zrange(INFLIGHT, 0, -1)]:
            runtime.deliverer.deliver(letter_id)
        api.deliver_due()
    for letter in (first, second):
        done = runtime.store.letter(letter.letter_id)
        assert done is not None and done.status is Status.SENT
        assert sent_count(api, letter.letter_id) == 1


def test_sweeper_alerts_an_uncertain_letter_without_a_resend(api: Api) -> None:
    """An uncertain letter in neither set is not repaired (resending is not safe to
    decide) but reported: the last sweep names it, /metrics counts it."""
    runtime = api.runtime
    letter = citizen_letter(runtime)
    runtime.client.hset(f"notifier:letter:{letter.letter_id}", "status", "uncertain")
    runtime.client.zrem(DUE, letter.letter_id)
    report = Sweeper(runtime.store, runtime.clock, runtime.settings).sweep()
    assert report.unrepaired == [{"what": "uncertain_without_resend",
                                  "letter_id": letter.letter_id, "case_id": CASE}]
    assert runtime.client.zscore(DUE, letter.letter_id) is None
    assert last_report(runtime.store) == json.loads(json.dumps(report.as_json()))
    metrics = api.client.get("/metrics", headers=OPERATOR).text
    assert "notifier_sweeper_unrepaired 1.0" in metrics


def at_its_last_attempt(runtime: Runtime, now: datetime) -> Letter:
    """A claimed citizen or employer letter whose next take is one attempt too many."""
    claimed = [runtime.store.letter(i)
               for i in runtime.store.claim_due(now, now + timedelta(minutes=5), 1000)]
    letter = next(x for x in claimed if x and x.recipient is not Recipient.CASEWORKER)
    runtime.client.hset(f"notifier:letter:{letter.letter_id}", "attempts",
                        runtime.settings.max_attempts)
    return letter


def test_too_many_attempts_is_audited_alerted_and_reported(api: Api) -> None:
    """begin_send's too-many-attempts path: dead with an audit entry, the caseworker's
    delivery_failed alert planned, a letter.dead callback and the dead counter."""
    runtime, now = api.runtime, api.clock.now()
    letter = at_its_last_attempt(runtime, now)
    assert runtime.deliverer.deliver(letter.letter_id) is Status.DEAD
    [entry] = [e for e in runtime.store.audit(CASE)
               if e["what"] == "dead" and e.get("letter_id") == letter.letter_id]
    assert entry["reason"] == "too many attempts" and entry["kind"] == letter.kind
    alerts = [x for x in runtime.store.case_letters(CASE).values()
              if x.kind == "delivery_failed" and x.cause == letter.letter_id]
    assert len(alerts) == 1
    outbox = CallbackOutbox(runtime.store)
    types = [(outbox.item(i) or {}).get("type") for i in outbox.letter_items(letter.letter_id)]
    assert "letter.dead" in types
    assert any(k.startswith("dead|") for k in runtime.store.stats())


def test_a_letter_dead_from_its_take_gets_its_alert_from_the_sweeper_once(api: Api) -> None:
    """Given a letter the take marked dead for too many attempts, whose worker died before
    planning the caseworker's alert, when the sweeper runs, then it plans that alert
    under the id the worker would have used (an audit entry says by whom), once: a second
    sweep and the worker's own late attempt plan no second one."""
    runtime, now = api.runtime, api.clock.now()
    letter = at_its_last_attempt(runtime, now)
    status, _ = runtime.store.begin_send(letter.letter_id, now + timedelta(minutes=5),
                                         runtime.settings.max_attempts, now=now)
    assert status is Status.DEAD  # and the worker died here, before planning the alert
    sweeper = Sweeper(runtime.store, runtime.clock, runtime.settings)
    assert sweeper.sweep().repaired["alert"] == 1
    assert sweeper.sweep().repaired["alert"] == 0
    dead = runtime.store.letter(letter.letter_id)
    expected = failure_alert(runtime.renderer.catalog, dead, "too many attempts", now)  # type: ignore[arg-type]
    assert expected is not None
    assert not runtime.store.add_letter(expected, now, why="alert_planned")  # the same id
    alerts = [x for x in runtime.store.case_letters(CASE).values()
              if x.kind == "delivery_failed" and x.cause == letter.letter_id]
    assert [x.letter_id for x in alerts] == [expected.letter_id]
    assert alerts[0].params["failed_reason"] == "too many attempts"
    assert any(e["what"] == "alert_planned" and e.get("by") == "sweeper"
               for e in runtime.store.audit(CASE))


def test_the_sweeper_plans_no_alert_for_a_letter_retried_meanwhile(api: Api) -> None:
    """Given a letter dead from its take and read by the sweeper's survey, when an
    operator retries it before the sweeper plans the alert, then the alert is not
    planned: the letter is no longer dead as read."""
    runtime, now = api.runtime, api.clock.now()
    letter = at_its_last_attempt(runtime, now)
    runtime.store.begin_send(letter.letter_id, now + timedelta(minutes=5),
                             runtime.settings.max_attempts, now=now)
    as_read = runtime.store.letter(letter.letter_id)
    assert as_read is not None and as_read.status is Status.DEAD
    api.client.post(f"/operations/letters/{letter.letter_id}/retry", headers=OPERATOR)
    alert = failure_alert(runtime.renderer.catalog, as_read, "too many attempts", now)
    assert alert is not None
    assert not runtime.store.add_alert_if_dead(as_read, alert, now, why="alert_planned")
    assert runtime.store.letter(alert.letter_id) is None


class Stopwatch:
    """A fake timer for one sweep, read at the sweep's start, its survey's start and end,
    and the sweep's end; at the first reading it notes the sweep lock's time to live."""

    def __init__(self, runtime: Runtime, start: float, survey: float, end: float) -> None:
        self.runtime = runtime
        self.readings = [start, start, start + survey, end]
        self.lock_at_start: list[int] = []

    def __call__(self) -> float:
        if len(self.readings) == 4:
            self.lock_at_start.append(int(self.runtime.store.redis.ttl(LOCK)))
        return self.readings.pop(0)


def test_a_slow_sweep_spaces_the_next_one(api: Api) -> None:
    """Given an interval of 60 s and a sweep that takes 30 s (many letters kept), when it
    ends, then the next sweep may start only 300 s after this one started (the sweeper
    keeps to a tenth of the time), so the lock holds 270 s more; the report and /metrics
    say 30 s."""
    runtime = api.runtime
    assert runtime.settings.sweep_interval == 60
    report = Sweeper(runtime.store, runtime.clock, runtime.settings,
                     timer=Stopwatch(runtime, 1000.0, 29.0, 1030.0)).safe_sweep()
    assert report is not None and report.seconds == 30.0
    assert 265 < runtime.store.redis.ttl(LOCK) <= 270
    assert last_report(runtime.store)["seconds"] == 30.0  # type: ignore[index]
    metrics = api.client.get("/metrics", headers=OPERATOR).text
    assert "notifier_sweeper_last_run_duration_seconds 30.0" in metrics


def test_the_lock_covers_a_sweep_as_long_as_the_last_one(api: Api) -> None:
    """Given the last sweep took 30 s, when a scheduler starts the next, then its lock is
    taken for 300 s, so no other scheduler starts a second sweep while this one runs; a
    quick sweep then shortens it to the interval from its start."""
    runtime = api.runtime
    runtime.store.redis.set(LAST, json.dumps({"at": api.clock.now().isoformat(),
                                              "repaired": {}, "unrepaired": [],
                                              "letters_scanned": 3_000_000, "seconds": 30.0}))
    stopwatch = Stopwatch(runtime, 0.0, 0.4, 0.5)
    assert Sweeper(runtime.store, runtime.clock, runtime.settings,
                   timer=stopwatch).safe_sweep() is not None
    assert stopwatch.lock_at_start == [300]
    assert 55 < runtime.store.redis.ttl(LOCK) <= 59


def test_a_stalled_sweep_or_a_bad_report_never_stops_the_sweeper(api: Api) -> None:
    """Given a sweep that took an hour, the next comes at most 30 minutes after it
    started; given a last report whose duration is missing, null, not a number, infinite
    or not JSON at all, the next sweep still runs, one interval on."""
    runtime = api.runtime
    sweeper = Sweeper(runtime.store, runtime.clock, runtime.settings)
    assert sweeper.spacing(3600.0) == 1800 and sweeper.spacing(0.0) == 60
    for bad in ('{"at": "x"}', '{"seconds": null}', '{"seconds": "soon"}',
                '{"seconds": Infinity}', '{"seconds": -5}', "[1]", "not json"):
        runtime.store.redis.set(LAST, bad)
        runtime.store.redis.delete(LOCK)
        stopwatch = Stopwatch(runtime, 0.0, 0.05, 0.1)
        assert Sweeper(runtime.store, runtime.clock, runtime.settings,
                       timer=stopwatch).safe_sweep() is not None, bad
        assert stopwatch.lock_at_start == [60], bad


def test_a_quick_last_sweep_keeps_the_interval(api: Api) -> None:
    """Given the last sweep was quick (a few letters), when a scheduler sweeps, then the
    next may start one interval later, as configured."""
    runtime = api.runtime
    Sweeper(runtime.store, runtime.clock, runtime.settings).sweep()
    assert Sweeper(runtime.store, runtime.clock, runtime.settings).safe_sweep() is not None
    assert 50 < runtime.store.redis.ttl(LOCK) <= 60


def test_the_operations_page_counts_every_repair_of_the_last_sweep(api: Api) -> None:
    """Given a sweep whose only repair was a caseworker's missing alert, when an operator
    opens the operations page, then the last sweep shows 1 repair, not 0."""
    runtime, now = api.runtime, api.clock.now()
    letter = at_its_last_attempt(runtime, now)
    runtime.store.begin_send(letter.letter_id, now + timedelta(minutes=5),
                             runtime.settings.max_attempts, now=now)
    repaired = Sweeper(runtime.store, runtime.clock, runtime.settings).sweep().repaired
    assert repaired == {"due": 0, "lease": 0, "callback": 0, "alert": 1}
    api.client.post("/ui/login", data={"token": OPERATOR_TOKEN, "next": "/ui/drift"},
                    headers=SAME_ORIGIN)
    page = api.client.get("/ui/drift").text
    assert ": 1 rettet, 0 kræver handling (varede " in page


def scheduled_letters(runtime: Runtime, count: int) -> list[Letter]:
    letters = sorted((x for x in runtime.store.case_letters(CASE).values()
                      if x.status is Status.SCHEDULED), key=lambda x: x.letter_id)
    assert len(letters) >= count
    return letters[:count]


def dead_ids(view: dict[str, Any]) -> set[str]:
    return {row["letter_id"] for row in view["dead"]}


def test_with_many_letters_a_view_shows_the_last_sweeps_survey_read_again(api: Api) -> None:
    """Given a sweep whose survey took 30 s (about three million letters) and found two
    dead letters, when an operator retries one and a third dies, then a view lists only
    the one still dead (read again now, so the retried one is gone) and says its letters
    come from that sweep; a view asking for a live survey lists the third too."""
    runtime = api.runtime
    first, second, third = scheduled_letters(runtime, 3)
    kill(runtime, first)
    kill(runtime, second)
    Sweeper(runtime.store, runtime.clock, runtime.settings,
            timer=Stopwatch(runtime, 0.0, 29.0, 30.0)).sweep()
    retry_dead_letter(runtime, first.letter_id, by="operator:olga")
    kill(runtime, third)
    view = api.client.get("/operations", headers=OPERATOR).json()
    assert dead_ids(view) == {second.letter_id} and view["dead_count"] == 1
    assert view["survey"]["by"] == "sweep" and view["survey"]["seconds"] == 29.0
    live = api.client.get("/operations?live=true", headers=OPERATOR).json()
    assert dead_ids(live) == {second.letter_id, third.letter_id}
    assert live["survey"]["by"] == "view"
    api.client.post("/ui/login", data={"token": OPERATOR_TOKEN, "next": "/ui/drift"},
                    headers=SAME_ORIGIN)
    page = api.client.get("/ui/drift").text
    assert "ved oprydningen" in page and 'href="/ui/drift?alle=1"' in page
    assert "kommer først med efter næste oprydning" in page
    assert third.letter_id not in page and second.letter_id in page
    assert third.letter_id in api.client.get("/ui/drift?alle=1").text


def test_with_few_letters_each_view_surveys_every_letter_now(api: Api) -> None:
    """Given a quick sweep (a few letters), when a letter dies after it, then the next
    view lists it: each view takes its own survey."""
    runtime = api.runtime
    Sweeper(runtime.store, runtime.clock, runtime.settings,
            timer=Stopwatch(runtime, 0.0, 0.4, 0.5)).sweep()
    (letter,) = scheduled_letters(runtime, 1)
    kill(runtime, letter)
    view = api.client.get("/operations", headers=OPERATOR).json()
    assert dead_ids(view) == {letter.letter_id} and view["survey"]["by"] == "view"


def test_a_kept_survey_that_is_old_unreadable_or_too_long_is_not_shown(
        api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """Given a slow sweep's kept survey, a view surveys every letter itself when that
    survey is over an hour old (the sweeper may have stopped), when the kept value is
    not one the sweeper writes, or when it found more letters than a view reads again."""
    runtime = api.runtime
    (letter,) = scheduled_letters(runtime, 1)
    kill(runtime, letter)

    def by() -> str:
        return str(api.client.get("/operations", headers=OPERATOR).json()["survey"]["by"])

    Sweeper(runtime.store, runtime.clock, runtime.settings,
            timer=Stopwatch(runtime, 0.0, 29.0, 30.0)).sweep()
    assert by() == "sweep"
    monkeypatch.setattr(survey_module, "KEPT_SURVEY_MAX_IDS", 0)
    assert by() == "view"
    monkeypatch.undo()
    api.clock.advance(timedelta(hours=1, seconds=1))
    assert by() == "view"
    for bad in ("not json", "[1]", '{"at": "soon", "seconds": 30, "letters_scanned": 1, '
                '"ids": []}', '{"seconds": 30}', '{"at": "2026-11-23T10:00:00", "seconds": 30, '
                '"letters_scanned": 1, "ids": []}'):
        runtime.store.redis.set(FOUND, bad)
        assert by() == "view", bad
