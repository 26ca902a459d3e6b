"""Issue 17, finding 1: dates out of range get a 422 naming the field, never a 500, and a
list of events is stored all or nothing whatever fails (a failure injected at every
position of the batch, at every step: planning, queuing the writes, executing them)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis

from notifier.api import intake
from notifier.clock import SimulatedClock
from notifier.intake.events import Event
from notifier.planning.planner import Planner
from notifier.store import Store
from tests.conftest import BASE_OPEN
from tests.unit.test_api_events import form_returned, snapshot
from tests.unit.test_api_helpers import CASEWORKER, SYSTEM, Api, make_api
from tests.unit.test_pipeline import deliver_due

SAME_ORIGIN = {"Origin": "https://testserver"}


@pytest.fixture
def api(tmp_path: Path, clean_env: None, clock: SimulatedClock) -> Api:
    return make_api(tmp_path, clock)


def opening(event_id: str, case_id: str, **data: Any) -> dict[str, Any]:
    raw = copy.deepcopy(BASE_OPEN)
    raw.update(event_id=event_id, case_id=case_id)
    raw["data"].update(data)
    return raw


def test_the_reported_batch_is_refused_whole(api: Api) -> None:
    """The review's curl: a list whose second event has first_absence_day 9999-12-31 was a
    500 with the first event stored; now 422 naming [1].data.first_absence_day, nothing
    stored."""
    before = snapshot(api)
    bad = opening("evt-2", "SDP-2026-0043", first_absence_day="9999-12-31")
    response = api.client.post("/events", json=[BASE_OPEN, bad], headers=SYSTEM)
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["[1].data.first_absence_day"]
    assert snapshot(api) == before


@pytest.mark.parametrize("value", ["9999-12-31", "0001-01-01", "1999-12-31", "2101-01-01"])
def test_event_dates_outside_2000_to_2100_are_refused(api: Api, value: str) -> None:
    """A date field out of the plausible years is a 422 naming it."""
    response = api.client.post("/events", headers=SYSTEM,
                               json=opening("evt-1", "SDP-1", first_absence_day=value))
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "data.first_absence_day"
    assert "2000-2100" in response.json()["errors"][0]["message"]


@pytest.mark.parametrize("value", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+01:00",
                                   "2100-12-31T23:59:59-23:59"])
def test_occurred_at_out_of_range_or_overflowing_is_a_422(api: Api, value: str) -> None:
    """An instant whose offset pushes it past the range (or past datetime.max) is refused
    as the field, not a 500 from the conversion."""
    raw = {**BASE_OPEN, "occurred_at": value}
    response = api.client.post("/events", json=raw, headers=SYSTEM)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "occurred_at"


def test_an_event_years_ahead_of_now_is_refused(api: Api) -> None:
    """An event dated more than five years after the Clock's now (it would make every later
    event of its case a 409) is a 422; one a year ahead is still accepted."""
    year = api.clock.now().year
    far = {**BASE_OPEN, "occurred_at": f"{year + 6}-01-05T10:00:00+01:00"}
    response = api.client.post("/events", json=far, headers=SYSTEM)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "occurred_at"
    near = {**BASE_OPEN, "occurred_at": f"{year + 1}-01-05T10:00:00+01:00"}
    assert api.client.post("/events", json=near, headers=SYSTEM).status_code == 202


# --- all or nothing, whatever fails ------------------------------------------------------
def batch() -> list[Event]:
    """Five events over two cases, one a duplicate and one cancelling letters of the first."""
    raws = [opening("evt-a1", "SDP-A"), opening("evt-b1", "SDP-B"),
            form_returned("evt-a2", case_id="SDP-A"), opening("evt-a1", "SDP-A"),
            form_returned("evt-b2", case_id="SDP-B")]
    return intake.parse_batch(raws, intake.in_list)


class Injected(RuntimeError):
    """The failure the tests inject."""


def fail_on_call(target: Any, name: str, position: int,
                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``target.name`` raise Injected on its ``position``-th call (0-based)."""
    original = getattr(target, name)
    calls = iter(range(10_000))

    def failing(*args: Any, **kwargs: Any) -> Any:
        if next(calls) == position:
            raise Injected(f"{name} #{position}")
        return original(*args, **kwargs)

    monkeypatch.setattr(target, name, failing)


def steps() -> Iterator[tuple[str, int]]:
    # planner.apply runs once per new event (4), _write_plan once per new event (4);
    # the pipeline's execute is the one EXEC, after the reads.
    yield from (("apply", i) for i in range(4))
    yield from (("_write_plan", i) for i in range(4))
    yield ("execute", 0)


@pytest.mark.parametrize(("step", "position"), list(steps()))
def test_a_failure_at_any_position_stores_nothing(api: Api, step: str, position: int,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever fails, wherever in the batch (planning event k, queuing its writes, or the
    EXEC itself), the keyspace afterwards is exactly what it was before."""
    store, planner = api.runtime.store, api.runtime.planner
    api.open_case()  # something stored already, which must survive unchanged
    before = snapshot(api)
    if step == "apply":
        fail_on_call(planner, "apply", position, monkeypatch)
    elif step == "_write_plan":
        fail_on_call(store, "_write_plan", position, monkeypatch)
    else:
        exec_ = redis.client.Pipeline.execute

        def failing_exec(pipe: Any, *args: Any, **kwargs: Any) -> Any:
            if pipe.explicit_transaction:  # the MULTI/EXEC, not a read pipeline
                pipe.reset()
                raise redis.ConnectionError("connection lost at EXEC")
            return exec_(pipe, *args, **kwargs)

        monkeypatch.setattr(redis.client.Pipeline, "execute", failing_exec)
    events = batch()
    with pytest.raises((Injected, redis.RedisError)):
        intake.ingest(store, planner, events, api.clock.now(), intake.in_list)
    assert snapshot(api) == before


def test_the_same_batch_without_failures_equals_one_by_one(tmp_path: Path, clean_env: None,
                                                           clock: SimulatedClock) -> None:
    """The atomic batch stores exactly what applying the events one at a time stores (so
    the injection test above is of the real write path, not a shortcut)."""
    together, apart = make_api(tmp_path / "a", clock), make_api(tmp_path / "b", clock)
    intake.ingest(together.runtime.store, together.runtime.planner, batch(), clock.now(),
                  intake.in_list)
    store: Store = apart.runtime.store
    planner: Planner = apart.runtime.planner
    for event in sorted(batch(), key=lambda e: e.occurred_at):
        store.apply_event(event, planner, clock.now())
    assert snapshot(together) == snapshot(apart)


# --- letters, previews, the pages, receipts -------------------------------------------
@pytest.mark.parametrize(("body", "field"), [
    ({"kind": "adhoc", "paragraphs": ["Hej"], "deadline": "9999-12-31"}, "deadline"),
    ({"kind": "adhoc", "paragraphs": ["Hej"], "send_at": "9999-12-31T23:59:59+01:00"},
     "send_at"),
    ({"kind": "adhoc", "paragraphs": ["Hej"], "send_at": "2026-12-01T10:00:00-23:59",
      "deadline": "2100-12-31"}, "deadline"),
])
def test_letter_dates_out_of_range_or_too_far_ahead(api: Api, body: dict[str, Any],
                                                    field: str) -> None:
    """Ad-hoc letters and previews: a date out of range, or more than five years ahead,
    is a 422 naming the field (the review saw 500s)."""
    api.open_case()
    for path, extra in (("/letters/preview", {"case_id": BASE_OPEN["case_id"]}),
                        ("/letters/preview", {}),
                        (f"/cases/{BASE_OPEN['case_id']}/letters", {})):
        response = api.client.post(path, json={**body, **extra}, headers=CASEWORKER)
        assert response.status_code == 422, (path, response.text)
        assert field in [e["field"] for e in response.json()["errors"]], path


def test_ui_preview_with_year_one_is_a_422(api: Api) -> None:
    """The /ui live preview with send_at=0001-01-01T00:00 (a 500 in the review)."""
    from tests.unit.test_api_helpers import CASEWORKER_TOKEN

    api.open_case()
    api.client.post("/ui/login", data={"token": CASEWORKER_TOKEN}, headers=SAME_ORIGIN)
    response = api.client.post(f"/ui/cases/{BASE_OPEN['case_id']}/letters/preview",
                               headers=SAME_ORIGIN,
                               data={"kind": "adhoc", "text": "Hej", "when": "at",
                                     "send_at": "0001-01-01T00:00"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "send_at"


def test_an_arithmetic_error_is_a_422_not_a_500(api: Api,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The safety net: should a check be missing, an OverflowError still answers 422."""
    from notifier.api import adhoc

    def overflow(*_: Any) -> Any:
        raise OverflowError("date value out of range")

    monkeypatch.setattr(adhoc, "preview", overflow)
    response = api.client.post("/letters/preview", json={"kind": "adhoc", "paragraphs": ["x"]},
                               headers=CASEWORKER)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "(date)"


def test_receipt_dated_9999_is_refused_and_the_case_stays_readable(api: Api) -> None:
    """The review's receipt (received_at 9999-12-31T23:59:59-23:59) is a 422 naming the
    field; the case and letter pages still answer 200 afterwards."""
    api.open_case()
    (form_id,) = deliver_due(api.runtime)
    response = api.client.post("/receipts", headers=SYSTEM, json={
        "message_uuid": form_id, "status": "delivered",
        "received_at": "9999-12-31T23:59:59-23:59"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "received_at"
    assert api.client.get(f"/cases/{BASE_OPEN['case_id']}", headers=CASEWORKER).status_code \
        == 200
    assert api.client.get(f"/letters/{form_id}", headers=CASEWORKER).status_code == 200


def test_receipts_only_for_digital_post_and_print(api: Api) -> None:
    """A receipt for a letter that went by e-mail (a caseworker alert) is refused (409)."""
    api.open_case()
    deliver_due(api.runtime)
    api.clock.advance(timedelta(days=40))  # past every reminder: alerts go by mail
    deliver_due(api.runtime)
    mailed = [x for x in api.letters() if x["channel"] == "mail" and x["status"] == "sent"]
    assert mailed, "the scenario must send a caseworker e-mail"
    response = api.client.post("/receipts", headers=SYSTEM, json={
        "message_uuid": mailed[0]["letter_id"], "status": "delivered",
        "received_at": "2026-11-23T10:20:00+01:00"})
    assert response.status_code == 409
    assert "only Digital Post and print" in response.json()["detail"]


def test_a_date_stored_before_the_fix_answers_422_not_500(api: Api) -> None:
    """A receipt time stored before these checks (9999-12-31T23:59:59-23:59 on a letter)
    made GET /cases, /letters and both /ui pages answer 500; now the safety net answers
    422 naming a date, and nothing crashes."""
    from notifier.store import LETTER
    from tests.unit.test_api_helpers import CASEWORKER_TOKEN

    api.open_case()
    letter_id = api.letters()[0]["letter_id"]
    api.runtime.client.hset(LETTER + letter_id, "receipt_at", "9999-12-31T23:59:59-23:59")
    api.client.post("/ui/login", data={"token": CASEWORKER_TOKEN}, headers=SAME_ORIGIN)
    for path, headers in ((f"/cases/{BASE_OPEN['case_id']}", CASEWORKER),
                          (f"/letters/{letter_id}", CASEWORKER),
                          (f"/ui/cases/{BASE_OPEN['case_id']}", {}),
                          (f"/ui/letters/{letter_id}", {})):
        response = api.client.get(path, headers=headers)
        assert response.status_code == 422, path
