"""Issue 11 in the planner (pure; no Redis): standby revives the summons, stop decisions for
a meeting the citizen never heard of are held, paper post is dated by its arrival, and the
new legal letters (partshøring, complaints, cooperation resumed, closing).

Dates were checked by hand against a printed calendar; RULES.md is the contract. Postal
days: the default 5 working days."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

from notifier.models import ChannelName, Letter, Status
from notifier.planning.simulation import NumberedEvent, Simulation
from tests.unit.test_planner import CASE, PLANNER, at, booked, ev, of_kind, one, opened, simulate


def stop(event_id: str, when: str, decision_id: str = "d-stop",
         meeting_id: str | None = None) -> Any:
    data: dict[str, Any] = {
        "decision_id": decision_id, "title": "Afgørelse om stop af sygedagpenge",
        "outcome": "stopped", "decision_text": "Dine sygedagpenge stopper.",
        "reasoning": "Du er ikke mødt til samtalen.", "legal_basis": ["Sygedagpengeloven § 21"],
        "stop_reason": "non_cooperation"}
    if meeting_id:
        data["meeting_id"] = meeting_id
    return ev(event_id, "decision_made", when, data)


def standby_chain(*, digital_post: bool) -> list[Any]:
    """The demo's SDP-2026-0043 story: opened Thu 3 Dec 2026, standby Mon 7 Dec, a video
    meeting booked Wed 9 Dec for Tue 15 Dec 10:00, standby ended Thu 10 Dec 10:00."""
    return [
        opened("2026-12-03 16:30", "2026-12-02", digital_post=digital_post, employer=False),
        ev("sb", "standby_granted", "2026-12-07 10:00", {"decided_on": "2026-12-07"}),
        booked("bk", "2026-12-09 10:00", "m1", "2026-12-15 10:00"),
        ev("sbe", "standby_ended", "2026-12-10 10:00", {"decided_on": "2026-12-10"}),
    ]


# --- standby -------------------------------------------------------------------------------


def test_standby_end_revives_summons_and_reminder_digital() -> None:
    """Given a meeting (Tue 15 Dec) booked while on standby (suppressed summons and reminder),
    When standby ends Thu 10 Dec 10:00,
    Then a new summons goes then and a reminder Mon 14 Dec 09:00; the suppressed ones stay
    suppressed (the record that nothing went out); a later stop naming the meeting is sent,
    not held, because the citizen was told."""
    letters = simulate(*standby_chain(digital_post=True), stop("st", "2026-12-21 10:00",
                                                               meeting_id="m1"))
    summons = {x.cause: x for x in of_kind(letters, "meeting_summons")}
    assert summons["bk"].status is Status.SUPPRESSED
    assert (summons["sbe"].status, summons["sbe"].send_at) == (Status.SENT, at("2026-12-10 10:00"))
    reminders = {x.cause: x for x in of_kind(letters, "meeting_reminder")}
    assert reminders["bk"].status is Status.SUPPRESSED
    assert (reminders["sbe"].status, reminders["sbe"].send_at) == (
        Status.SENT, at("2026-12-14 09:00"))
    assert one(letters, "decision").status is Status.SENT
    assert not of_kind(letters, "decision_held")
    assert not of_kind(letters, "meeting_phone_contact")
    assert [x.status for x in of_kind(letters, "standby_started")] == [Status.SENT]
    assert [x.status for x in of_kind(letters, "standby_ended")] == [Status.SENT]


def test_standby_end_paper_summons_too_late_alerts_and_holds_the_stop() -> None:
    """Given the same chain for a citizen exempt from Digital Post,
    When standby ends Thu 10 Dec, the revived summons is printed that day and arrives
    Thu 17 Dec (Fri 11, Mon 14, Tue 15, Wed 16, Thu 17) – after the meeting on Tue 15 Dec;
    Then the caseworker is told at once to phone the citizen, no reminder is planned (posted
    5 working days before Mon 14 Dec 09:00 = Mon 7 Dec, before the summons), and the stop
    decision of Mon 21 Dec naming that meeting is held with a decision_held alert."""
    letters = simulate(*standby_chain(digital_post=False), stop("st", "2026-12-21 10:00",
                                                                meeting_id="m1"))
    revived = [x for x in of_kind(letters, "meeting_summons") if x.cause == "sbe"]
    assert [(x.channel, x.status) for x in revived] == [(ChannelName.PRINT, Status.SENT)]
    phone = {x.cause: (x.status, x.send_at) for x in of_kind(letters, "meeting_phone_contact")}
    assert phone == {"bk": (Status.SUPPRESSED, at("2026-12-09 10:00")),  # with its summons
                     "sbe": (Status.SENT, at("2026-12-10 10:00"))}
    assert not of_kind(letters, "meeting_reminder")  # neither at booking nor at revival
    decision = one(letters, "decision")
    assert decision.status is Status.HELD
    held = one(letters, "decision_held")
    assert (held.status, held.send_at, held.scope) == (Status.SENT, at("2026-12-21 10:00"),
                                                       "d-stop")


def test_meeting_already_past_when_standby_ends_is_not_revived_and_its_stop_is_held() -> None:
    """Given a meeting on Fri 11 Dec booked during standby,
    When standby ends on Mon 14 Dec (the meeting is past),
    Then no summons is revived (nobody can attend the past), and a stop naming it is held."""
    letters = simulate(
        opened("2026-12-03 10:00", "2026-12-02"),
        ev("sb", "standby_granted", "2026-12-07 10:00", {"decided_on": "2026-12-07"}),
        booked("bk", "2026-12-08 10:00", "m1", "2026-12-11 10:00", with_employer=True),
        ev("sbe", "standby_ended", "2026-12-14 10:00", {"decided_on": "2026-12-14"}),
        stop("st", "2026-12-15 10:00", meeting_id="m1"),
    )
    assert [x.status for x in of_kind(letters, "meeting_summons")] == [Status.SUPPRESSED]
    assert [x.status for x in of_kind(letters, "meeting_summons_employer")] == [
        Status.SUPPRESSED]
    assert one(letters, "decision").status is Status.HELD


def test_summons_cancelled_by_standby_is_revived_with_the_employer_invitation() -> None:
    """Given a summons and employer invitation booked Sat 12 Dec (waiting for Mon 08:00),
    When standby is granted Sun 13 Dec (both cancelled) and ends Tue 15 Dec 11:00,
    Then both are planned anew Tue 15 Dec 11:00 for the meeting on Mon 21 Dec, and the
    reminder Fri 18 Dec 09:00."""
    letters = simulate(
        opened("2026-12-03 10:00", "2026-12-02"),
        booked("bk", "2026-12-12 10:00", "m1", "2026-12-21 10:00", with_employer=True),
        ev("sb", "standby_granted", "2026-12-13 10:00", {"decided_on": "2026-12-13"}),
        ev("sbe", "standby_ended", "2026-12-15 11:00", {"decided_on": "2026-12-15"}),
    )
    for kind in ("meeting_summons", "meeting_summons_employer"):
        found = {x.cause: (x.status, x.send_at) for x in of_kind(letters, kind)}
        assert found["bk"][0] is Status.CANCELLED, kind
        assert found["sbe"] == (Status.SENT, at("2026-12-15 11:00")), kind
    reminder = [x for x in of_kind(letters, "meeting_reminder") if x.cause == "sbe"]
    assert [(x.status, x.send_at) for x in reminder] == [(Status.SENT, at("2026-12-18 09:00"))]


def test_standby_end_revives_a_reminder_whose_summons_went_before_standby() -> None:
    """Given a summons sent Fri 4 Dec for a meeting Tue 15 Dec, and standby granted Mon 7
    Dec (the pending reminder cancelled), When standby ends Thu 10 Dec, Then the reminder
    is planned again for Mon 14 Dec 09:00 (the citizen-protective reading: RULES.md revives
    summons and reminder only where the summons was kept back), and no second summons."""
    letters = simulate(
        opened("2026-12-03 10:00", "2026-12-02", employer=False),
        booked("bk", "2026-12-04 10:00", "m1", "2026-12-15 10:00"),
        ev("sb", "standby_granted", "2026-12-07 10:00", {"decided_on": "2026-12-07"}),
        ev("sbe", "standby_ended", "2026-12-10 10:00", {"decided_on": "2026-12-10"}),
    )
    assert [x.status for x in of_kind(letters, "meeting_summons")] == [Status.SENT]
    reminders = {x.cause: (x.status, x.send_at) for x in of_kind(letters, "meeting_reminder")}
    assert reminders["bk"][0] is Status.CANCELLED
    assert reminders["sbe"] == (Status.SENT, at("2026-12-14 09:00"))


def test_a_reminder_already_sent_before_standby_is_not_sent_again() -> None:
    """Given the reminder went (Mon 14 Dec) before standby was granted the same day, When
    standby ends before the meeting, Then no second reminder: nothing was kept back."""
    letters = simulate(
        opened("2026-12-03 10:00", "2026-12-02", employer=False),
        booked("bk", "2026-12-04 10:00", "m1", "2026-12-16 10:00"),
        ev("sb", "standby_granted", "2026-12-15 10:00", {"decided_on": "2026-12-15"}),
        ev("sbe", "standby_ended", "2026-12-15 12:00", {"decided_on": "2026-12-15"}),
    )
    assert [x.status for x in of_kind(letters, "meeting_reminder")] == [Status.SENT]


# --- held decisions ---------------------------------------------------------------------------


def test_stop_for_a_meeting_whose_summons_failed_is_held() -> None:
    """Given a summons sent by Digital Post whose business receipt came back failed,
    When a non-cooperation stop names that meeting,
    Then the decision is held and the caseworker alerted; a stop without meeting_id, or a
    refusal naming the same meeting, is not held (only non-cooperation stops are)."""
    sim = Simulation(PLANNER)
    sim.run([NumberedEvent(1, opened("2026-12-03 10:00", "2026-12-02")),
             NumberedEvent(2, booked("bk", "2026-12-04 10:00", "m1", "2026-12-10 10:00"))])
    letters = sim.letters[CASE]
    summons = one(list(letters.values()), "meeting_summons")
    letters[summons.letter_id] = replace(summons, receipt_status="failed")
    refusal = ev("rf", "decision_made", "2026-12-11 10:00", {
        "decision_id": "d-ref", "title": "Afslag", "outcome": "refused",
        "decision_text": "Afslag.", "reasoning": "Begrundelse.",
        "legal_basis": ["Sygedagpengeloven § 7"], "meeting_id": "m1"})
    done = sim.run([NumberedEvent(3, stop("st", "2026-12-11 11:00", meeting_id="m1")),
                    NumberedEvent(4, stop("st2", "2026-12-11 12:00", decision_id="d-2")),
                    NumberedEvent(5, refusal)])
    status = {x.scope: x.status for x in of_kind(done, "decision")}
    assert status == {"d-stop": Status.HELD, "d-2": Status.SENT, "d-ref": Status.SENT}
    assert [x.scope for x in of_kind(done, "decision_held")] == ["d-stop"]


def test_case_closed_cancels_a_held_decision() -> None:
    """Given a held stop decision,
    When the case closes,
    Then the held letter is cancelled by the close (it will never be released)."""
    letters = simulate(
        *standby_chain(digital_post=False), stop("st", "2026-12-21 10:00", meeting_id="m1"),
        ev("cc", "case_closed", "2027-01-29 10:00", {"closed_on": "2027-01-29",
                                                      "reason": "other"}))
    decision = one(letters, "decision")
    assert (decision.status, decision.cancelled_by) == (Status.CANCELLED, "cc")


def test_second_non_cooperation_stop_is_counted() -> None:
    """Given a first non-cooperation stop (sent) and cooperation resumed,
    When a second non-cooperation stop is made,
    Then the letters carry stop numbers 1 and 2 (the second says no restart)."""
    letters = simulate(
        opened("2026-12-03 10:00", "2026-12-02"),
        stop("st1", "2026-12-07 10:00", decision_id="d-1"),
        ev("res", "cooperation_resumed", "2026-12-09 10:00", {"resumed_on": "2026-12-09"}),
        stop("st2", "2027-01-11 10:00", decision_id="d-2"),
    )
    numbers = {x.scope: x.params.get("stop_number") for x in of_kind(letters, "decision")}
    assert numbers == {"d-1": "1", "d-2": "2"}


# --- paper post ----------------------------------------------------------------------------


def test_paper_form_deadline_counts_from_arrival() -> None:
    """RULES.md example: a form printed Thu 3 Dec 2026 arrives Thu 10 Dec (5 working days)
    -> deadline Fri 18 Dec 2026; its reminder (3 working days before: Thu 17, Wed 16, Tue 15
    Dec 09:00) is posted 5 working days earlier (Mon 14, Fri 11, Thu 10, Wed 9, Tue 8) =
    Tue 8 Dec 09:00, so it arrives Tue 15 Dec. Overdue alert: Mon 21 Dec 09:00.
    The Digital Post form of the same day has deadline Fri 11 Dec."""
    paper = simulate(opened("2026-12-03 10:00", "2026-12-02", digital_post=False))
    form = one(paper, "information_form")
    assert (form.channel, form.deadline) == (ChannelName.PRINT, date(2026, 12, 18))
    assert one(paper, "information_form_reminder").send_at == at("2026-12-08 09:00")
    assert one(paper, "information_form_overdue").send_at == at("2026-12-21 09:00")
    digital = simulate(opened("2026-12-03 10:00", "2026-12-02"))
    assert one(digital, "information_form").deadline == date(2026, 12, 11)


def test_paper_decision_complaint_and_restart_deadlines_count_from_arrival() -> None:
    """RULES.md example: a decision printed Fri 4 Dec 2026 arrives Fri 11 Dec -> complaint
    deadline Fri 8 Jan 2027 (Digital Post: 1 Jan 2027 is a holiday -> Mon 4 Jan 2027); the
    restart deadline of a first non-cooperation stop counts the same way."""
    paper = simulate(opened("2026-12-03 10:00", "2026-12-02", digital_post=False),
                     stop("st", "2026-12-04 10:00"))
    decision = one(paper, "decision")
    assert decision.deadline == date(2027, 1, 8)
    assert PLANNER.deadlines(decision, _case(paper), {}, date(2026, 12, 4)) == {
        "deadline": date(2027, 1, 8), "restart": date(2027, 1, 8)}
    digital = simulate(opened("2026-12-03 10:00", "2026-12-02"), stop("st", "2026-12-04 10:00"))
    assert one(digital, "decision").deadline == date(2027, 1, 4)


def _case(letters: list[Letter]) -> Any:
    """The case state the simulation ends with (for recomputing deadlines)."""
    events = [opened("2026-12-03 10:00", "2026-12-02", digital_post=False)]
    return PLANNER.apply(None, {}, events[0], events[0].occurred_at).case


def test_paper_early_followup_notice_alerts_caseworker_to_phone() -> None:
    """Given a citizen exempt from Digital Post,
    When the employer asks for early follow-up (Tue 8 Dec 2026 10:00),
    Then the printed notice keeps the legal deadline (2 bank days after sending: Thu 10 Dec)
    and the caseworker is alerted at once to phone the citizen, with that deadline."""
    letters = simulate(
        opened("2026-12-03 10:00", "2026-12-02", digital_post=False),
        ev("req", "early_followup_requested", "2026-12-08 10:00",
           {"requested_by": "employer", "requested_on": "2026-12-08"}))
    assert one(letters, "early_followup_notice").deadline == date(2026, 12, 10)
    phone = one(letters, "early_followup_phone_contact")
    assert (phone.send_at, phone.deadline) == (at("2026-12-08 10:00"), date(2026, 12, 10))
    digital = simulate(
        opened("2026-12-03 10:00", "2026-12-02"),
        ev("req", "early_followup_requested", "2026-12-08 10:00",
           {"requested_by": "employer", "requested_on": "2026-12-08"}))
    assert not of_kind(digital, "early_followup_phone_contact")


# --- partshøring, complaints, cooperation --------------------------------------------------


HEARING = {"hearing_id": "h-1", "subject": "Stop", "facts": "Du kom ikke.",
           "intended_decision": "Vi vil stoppe dine sygedagpenge.",
           "legal_basis": ["Sygedagpengeloven § 21"]}


def test_hearing_deadline_over_christmas_on_paper() -> None:
    """Given a hearing started Thu 3 Dec 2026,
    Then by Digital Post the deadline is Thu 17 Dec (+14 days) and the unanswered alert Fri
    18 Dec 09:00; by paper it arrives Thu 10 Dec, +14 = Thu 24 Dec (closed) -> Fri 25, Sat,
    Sun -> Mon 28 Dec, alert Tue 29 Dec 09:00. An answer cancels the alert."""
    digital = simulate(opened("2026-12-03 09:00", "2026-12-02"),
                       ev("hs", "hearing_started", "2026-12-03 10:00", HEARING))
    assert one(digital, "hearing").deadline == date(2026, 12, 17)
    assert one(digital, "hearing_unanswered").send_at == at("2026-12-18 09:00")
    paper = simulate(opened("2026-12-03 09:00", "2026-12-02", digital_post=False),
                     ev("hs", "hearing_started", "2026-12-03 10:00", HEARING),
                     ev("ha", "hearing_answered", "2026-12-20 10:00",
                        {"hearing_id": "h-1", "answered_on": "2026-12-20"}))
    assert one(paper, "hearing").deadline == date(2026, 12, 28)
    alert = one(paper, "hearing_unanswered")
    assert (alert.send_at, alert.status, alert.cancelled_by) == (
        at("2026-12-29 09:00"), Status.CANCELLED, "ha")


def test_complaint_reconsideration_alert_and_forwarding() -> None:
    """Given a complaint received Mon 14 Dec 2026 about decision d-1,
    Then the citizen gets complaint_received at once; the caseworker's reconsideration alert
    is due 09:00 on the 5th working day before Mon 11 Jan 2027 (+4 weeks): Fri 8, Thu 7,
    Wed 6, Tue 5, Mon 4 Jan 2027. Forwarding (Wed 30 Dec) tells the citizen and cancels it."""
    letters = simulate(
        opened("2026-12-03 09:00", "2026-12-02"),
        stop("st", "2026-12-04 10:00", decision_id="d-1"),
        ev("kr", "complaint_received", "2026-12-14 10:00",
           {"complaint_id": "k-1", "decision_id": "d-1", "received_on": "2026-12-14"}),
        ev("kf", "complaint_forwarded", "2026-12-30 10:00",
           {"complaint_id": "k-1", "forwarded_on": "2026-12-30"}))
    assert one(letters, "complaint_received").send_at == at("2026-12-14 10:00")
    due = one(letters, "complaint_reconsideration_due")
    assert (due.send_at, due.deadline, due.status, due.cancelled_by) == (
        at("2027-01-04 09:00"), date(2027, 1, 11), Status.CANCELLED, "kf")
    assert one(letters, "complaint_forwarded").status is Status.SENT


def test_stop_pauses_citizen_notices_until_cooperation_resumes() -> None:
    """Given first absence Mon 5 Jan 2026 (broad-assessment notice Sun 5 Apr = Easter
    -> Easter Monday -> Tue 7 Apr 09:00),
    When a stop is made Mon 2 Feb, the notice is cancelled; when cooperation resumes Mon 9
    Feb, it is planned again for Tue 7 Apr; a resume after that time plans none."""
    letters = simulate(
        opened("2026-01-05 10:00", "2026-01-05"),
        stop("st", "2026-02-02 10:00"),
        ev("res", "cooperation_resumed", "2026-02-09 10:00", {"resumed_on": "2026-02-09"}))
    found = {x.cause: (x.status, x.send_at) for x in of_kind(letters, "broad_assessment_notice")}
    assert found == {"open": (Status.CANCELLED, at("2026-04-07 09:00")),
                     "res": (Status.SENT, at("2026-04-07 09:00"))}
    late = simulate(
        opened("2026-01-05 10:00", "2026-01-05"),
        stop("st", "2026-02-02 10:00"),
        ev("res", "cooperation_resumed", "2026-04-20 10:00", {"resumed_on": "2026-04-20"}))
    assert [x.cause for x in of_kind(late, "broad_assessment_notice")] == ["open"]


# --- what the letters say ------------------------------------------------------------------


def _render(kind: str, **letter: Any) -> str:
    from notifier.delivery.context import jobcenter_context
    from notifier.delivery.preview import renderer_for
    from notifier.settings import load_settings

    settings = load_settings()
    renderer = renderer_for(settings)
    context = dict(renderer.catalog[kind].sample)
    context["letter"] = {**context["letter"], **letter}
    context["jobcenter"] = jobcenter_context(settings)
    return renderer.render(kind, context).text


def test_second_stop_letter_promises_no_restart(clean_env: None) -> None:
    """Given a non-cooperation stop letter,
    When it is the second stop (stop_number 2),
    Then it says the right cannot be restarted in this sick leave and prints no restart
    deadline; the first stop prints the restart deadline."""
    second = _render("decision", params={"stop_number": "2", "stop_reason": "non_cooperation"})
    assert "kan du ikke få sygedagpenge igen i dette sygeforløb" in second
    assert "Du skal give os besked senest" not in second
    first = _render("decision", params={"stop_number": "1", "stop_reason": "non_cooperation"})
    assert "Du skal give os besked senest mandag den 4. januar 2027" in first


def test_paper_letters_give_address_and_phone_not_mitid_or_secure_mail(clean_env: None) -> None:
    """Given a citizen exempt from Digital Post,
    When the information form, its reminder and a decision are rendered for print,
    Then none mentions MitID or "sikker post"; all give the postal address, and the form
    encloses its questions to fill in and says the deadline counts from arrival; the
    printed early follow-up notice says the caseworker will phone."""
    form = _render("information_form", channel="print")
    decision = _render("decision", channel="print")
    reminder = _render("information_form_reminder", channel="print")
    notice = _render("early_followup_notice", channel="print")
    assert "Din sagsbehandler ringer til dig" in notice
    assert "MitID" not in notice and "sikker post" not in notice.lower()
    for text in (form, decision, reminder):
        assert "MitID" not in text and "sikker post" not in text.lower()
        assert "Rådhuspladsen 1, 2630 Eksempelby" in text
    assert "Oplysningsskema – udfyld og send tilbage" in form
    assert "8 dage fra den dag, du får dette brev med posten" in form
    digital = _render("information_form")
    assert "Log på med MitID" in digital and "udfyld og send tilbage" not in digital


def test_memo_notifications_are_generic() -> None:
    """Given every letter kind that sets a MeMo notification (it may show on a lock screen),
    Then it is the generic "Du har fået post fra jobcentret." and never names the subject
    of the case (sygemelding, afgørelse, påmindelse)."""
    from tests.unit.test_letters import CATALOG

    notifications = {e.notification for e in CATALOG.kinds.values() if e.notification}
    assert notifications == {"Du har fået post fra jobcentret."}


def test_decision_separates_facts_from_what_was_weighed(clean_env: None) -> None:
    """Given a decision event with facts (forvaltningsloven § 24),
    Then the letter shows "Oplysninger i sagen" and then "Det har vi lagt vægt på"; without
    facts it keeps the single "Begrundelse" section."""
    from notifier.delivery.context import jobcenter_context
    from notifier.delivery.preview import renderer_for
    from notifier.settings import load_settings

    settings = load_settings()
    renderer = renderer_for(settings)
    context = dict(renderer.catalog["decision"].sample)
    context["jobcenter"] = jobcenter_context(settings)
    context["decision"] = {**context["decision"], "facts": "Du kom ikke til samtalen."}
    text = renderer.render("decision", context).text
    assert text.index("Oplysninger i sagen") < text.index("Det har vi lagt vægt på")
    assert "Begrundelse\n" not in text
    assert "Begrundelse" in _render("decision")
