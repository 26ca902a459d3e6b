"""A rig for fault tests: real `notifier worker` and `notifier scheduler` processes on a
Redis of the test's own, delivering to the fake SF1601 gateway and a real SMTP server,
where every delivery is counted per letter id; and the ledger that checks the outcome.

The exactly-once check counts at the transports, not in the store: a letter is sent when
the fake Serviceplatformen accepted it (it does not de-duplicate: no source says the real
one does) or when the SMTP server received it. A letter whose worker died after its
request left turns ``uncertain``; the rig plays the Beskedfordeler and pushes a
PKO_PostStatus for every letter the platform accepted, which settles it as sent. So a
request reaches the platform more than once only for a letter that was uncertain and
waited out its receipt (``resends``), with the same ids. Mail keeps at-least-once: a
letter a second worker took over (``attempts`` > 1) may arrive twice with the same
Message-ID, which a mail system can spot; SMTP itself cannot refuse the repeat.
"""

from __future__ import annotations

import copy
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import trustme

from notifier.clock import SimulatedClock, SystemClock
from notifier.identifiers import letter_id, looks_like_cpr
from notifier.intake.events import Event
from notifier.logging import redact_text
from notifier.models import ChannelName, Letter, Recipient, Status
from notifier.records.beskedfordeler import accept_post_status
from notifier.runtime import Runtime, build_runtime
from notifier.settings import load_settings
from notifier.store import LETTER
from tests.conftest import event, opening_event
from tests.integration.conftest import RedisServer, notifier_env, start_notifier
from tests.support.env import without_notifier_env
from tests.support.gateway import FakeGateway, modtag_besked_input
from tests.support.log_leak import UUID
from tests.support.smtp import SmtpServer

# Events are planned on a clock in the past, so every letter they plan is due at once for
# the processes, which run on the real clock (whatever the hour, working day or not).
PAST = datetime(2020, 1, 6, 9, 0, tzinfo=UTC)  # a Monday, 10:00 in Copenhagen
OPENED = {"occurred_at": "2020-01-06T10:00:00+01:00", "data": {"first_absence_day": "2019-11-25"}}


def opening(n: int, prefix: str) -> Event:
    """Case ``n``'s opening event; all six letters it plans are due before 2021."""
    return opening_event(event_id=f"open-{prefix}-{n}", case_id=f"SDP-{prefix}-{n:05d}",
                         **copy.deepcopy(OPENED))


def wait_for(predicate: Callable[[], bool], timeout: float, what: Callable[[], str]) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s: {what()}")
        time.sleep(0.25)


@dataclass
class Proc:
    role: str  # worker | scheduler
    index: int
    log: Path
    popen: subprocess.Popen[bytes] | None = None
    kills: int = 0
    log_offset: int = 0  # where this incarnation's log lines start

    @property
    def name(self) -> str:
        return f"{self.role}-{self.index}"

    def up(self) -> bool:
        """Whether this incarnation has started (imports done, Redis reached, running)."""
        if not self.log.exists():
            return False
        with self.log.open("rb") as handle:
            handle.seek(self.log_offset)
            return f'"{self.role}.started"'.encode() in handle.read()


class Rig:
    """Redis (owned by the test), gateway, SMTP server, and the notifier processes."""

    def __init__(self, tmp_path: Path, redis: RedisServer, *, lease_seconds: int = 5,
                 threads: int = 2, redis_env: dict[str, str] | None = None) -> None:
        self.tmp_path = tmp_path
        self.redis = redis
        self.gateway = FakeGateway(validate=False).start()  # no XSD per request: throughput
        self.smtp = SmtpServer(trustme.CA(), tls=False).start()
        self.outbox = tmp_path / "outbox"
        self.threads = threads
        self.env = notifier_env(
            redis.url, self.outbox,
            NOTIFIER_LEASE_SECONDS=str(lease_seconds), NOTIFIER_DISPATCH_INTERVAL="0.2",
            NOTIFIER_CLAIM_BATCH="100", NOTIFIER_LOG_LEVEL="info",
            # HTML main documents: PDF rendering would make these tests about CPU, not faults.
            NOTIFIER_DIGITAL_POST_PDF="false",
            **self.gateway.env(), NOTIFIER_UNCERTAIN_WAIT_SECONDS="60",
            NOTIFIER_DIGITAL_POST_TRANSPORT="http",
            NOTIFIER_GATEWAY_TIMEOUT="10", NOTIFIER_MAIL_TRANSPORT="smtp",
            NOTIFIER_SMTP_HOST="127.0.0.1", NOTIFIER_SMTP_PORT=str(self.smtp.port),
            NOTIFIER_SMTP_TLS="none", NOTIFIER_SMTP_TIMEOUT="10",
        )
        # redis_env: the NOTIFIER_REDIS_* settings to use instead of redis.url (Sentinel)
        redis_settings: dict[str, object] = {"redis_url": redis.url}
        if redis_env:
            del self.env["NOTIFIER_REDIS_URL"]
            self.env.update(redis_env)
            redis_settings = {k.removeprefix("NOTIFIER_").lower(): v
                              for k, v in redis_env.items()}
        self.clock = SimulatedClock(PAST)
        with without_notifier_env():
            settings = load_settings(outbox_dir=self.outbox, lease_seconds=lease_seconds,
                                     **redis_settings)
        self.runtime: Runtime = build_runtime(settings, clock=self.clock)
        self.procs: list[Proc] = []

    # --- processes ----------------------------------------------------------------------
    def start(self, role: str, count: int) -> None:
        for _ in range(count):
            index = sum(1 for p in self.procs if p.role == role) + 1
            proc = Proc(role, index, self.tmp_path / f"{role}-{index}.log")
            self.procs.append(proc)
            self._spawn(proc)

    def _spawn(self, proc: Proc) -> None:
        args = [proc.role] + (["--threads", str(self.threads)] if proc.role == "worker" else [])
        proc.log_offset = proc.log.stat().st_size if proc.log.exists() else 0
        proc.popen = start_notifier(args, self.env, proc.log)

    def running(self) -> list[Proc]:
        return [p for p in self.procs if p.up()]

    def kill(self, proc: Proc) -> None:
        """SIGKILL, then start a fresh process in its place."""
        assert proc.popen is not None
        proc.popen.send_signal(signal.SIGKILL)
        proc.popen.wait(30)
        proc.kills += 1
        self._spawn(proc)

    def crashed(self) -> list[str]:
        """Processes that exited by themselves (we only ever SIGKILL and restart them)."""
        return [f"{p.name} exited with {p.popen.returncode}" for p in self.procs
                if p.popen is not None and p.popen.poll() is not None]

    def stop(self) -> None:
        for proc in self.procs:
            if proc.popen is not None and proc.popen.poll() is None:
                proc.popen.send_signal(signal.SIGTERM)
        for proc in self.procs:
            if proc.popen is None:
                continue
            try:
                proc.popen.wait(30)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait(10)

    def close(self) -> None:
        self.stop()
        self.runtime.close()
        self.gateway.stop()
        self.smtp.stop()

    def logs(self) -> Iterator[tuple[str, str]]:
        for proc in self.procs:
            if proc.log.exists():
                yield proc.name, proc.log.read_text(encoding="utf-8", errors="replace")

    # --- letters ------------------------------------------------------------------------
    def open_cases(self, count: int, first: int = 0) -> list[str]:
        """Open ``count`` cases by real events (each plans the rules' letters for an
        opening, all due at once); returns the case ids."""
        cases = []
        for n in range(first, first + count):
            opened = opening(n, "CHAOS")
            self.runtime.store.apply_event(opened, self.runtime.planner, self.clock.now())
            cases.append(opened.case_id)
        return cases

    def planned_by_opening(self) -> int:
        """How many letters the rules plan for one case opening (a dry run of the pure
        planner): the tests count with it instead of a number that changes with the rules."""
        probe = opening(0, "PROBE")
        return len(self.runtime.planner.apply(None, {}, probe, self.clock.now()).planned)

    def close_case(self, case_id: str) -> set[str]:
        """Apply ``case_closed``; returns the letter ids its result lists as cancelled."""
        return self._cancelling(event(
            f"close-{case_id}", "case_closed", "2020-01-07T10:00:00+01:00",
            {"closed_on": "2020-01-07", "reason": "recovered"}, case_id=case_id))

    def form_returned(self, case_id: str) -> set[str]:
        """Apply ``information_form_returned`` (cancels the form's reminder and overdue
        alert); returns the letter ids its result lists as cancelled."""
        return self._cancelling(event(
            f"returned-{case_id}", "information_form_returned", "2020-01-07T10:00:00+01:00",
            {"returned_on": "2020-01-07"}, case_id=case_id))

    def _cancelling(self, cancelling: Event) -> set[str]:
        applied = self.runtime.store.apply_event(cancelling, self.runtime.planner,
                                                 PAST + timedelta(days=1))
        assert not applied.duplicate
        return {x.letter_id for x in applied.cancelled}

    def add_spread(self, case_id: str, count: int, start: datetime, seconds: float,
                   uniform: Callable[[], float]) -> None:
        """``count`` Digital Post letters on ``case_id``, due at random moments within
        ``seconds`` from ``start`` (wall clock), as letters come due in a real day."""
        for n in range(count):
            send_at = start + timedelta(seconds=uniform() * seconds)
            self.runtime.store.add_letter(Letter(
                letter_id=letter_id("chaos", case_id, str(n)), case_id=case_id,
                kind="broad_assessment_notice", recipient=Recipient.CITIZEN,
                channel=ChannelName.DIGITAL_POST, send_at=send_at, status=Status.SCHEDULED,
                cause=f"open-{case_id}"), self.clock.now(), why="chaos_letter")

    # --- the outcome --------------------------------------------------------------------
    def letters(self) -> dict[str, Letter]:
        store = self.runtime.store
        out = {}
        for key in store.redis.scan_iter(match=LETTER + "*", count=1000):
            found = store.letter(key.decode().removeprefix(LETTER))
            if found is not None:
                out[found.letter_id] = found
        return out

    def settled(self) -> bool:
        """Nothing due or in flight (every letter in these tests is due by now), after the
        PKO_PostStatus of every uncertain letter the platform has was pushed."""
        self.push_statuses()
        store = self.runtime.store
        return store.due_count() == 0 and store.inflight_count() == 0

    def push_statuses(self) -> None:
        """Play the Beskedfordeler: 'Afleveret Digital Post' for each uncertain letter the
        platform accepted (an uncertain one it never got waits out its receipt)."""
        store = self.runtime.store
        for letter_id_ in list(self.gateway.accepted):
            found = store.letter(letter_id_)
            if found is not None and found.status is Status.UNCERTAIN:
                # Received now (the rig's clock stays in the past so letters are due).
                accept_post_status(store, self.runtime.renderer.catalog,
                                   modtag_besked_input(letter_id_), SystemClock().now())

    def progress(self) -> str:
        counts = Counter(x.status.value for x in self.letters().values())
        return (f"letters by status {dict(counts)}, due {self.runtime.store.due_count()}, "
                f"in flight {self.runtime.store.inflight_count()}; {self.crashed()}")


@dataclass
class Ledger:
    """What reached the transports, per letter id, checked against the store."""

    letters: dict[str, Letter]
    received: Counter[str]  # requests / mails that reached a transport
    platform: Counter[str]  # requests that reached the fake Serviceplatformen
    accepted: Counter[str]  # gateway acceptances; for mail every received mail
    # what the cancelling events' results listed: exactly the letters that end cancelled
    listed_cancelled: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, rig: Rig, listed_cancelled: set[str] | None = None) -> Ledger:
        # SMTP has no idempotency key: a repeat is a second mail with the same Message-ID
        # and X-Notifier-Letter-Id, which a mail system can spot; it counts as one letter.
        mails = Counter(rig.smtp.by_letter_id())
        return cls(rig.letters(), rig.gateway.received + mails, rig.gateway.received.copy(),
                   rig.gateway.accepted + Counter(dict.fromkeys(mails, 1)),
                   listed_cancelled or set())

    def problems(self) -> list[str]:
        """Every letter sent exactly once or cancelled and never delivered; [] if so."""
        out = []
        for letter_id_, letter in sorted(self.letters.items()):
            accepted, received = self.accepted[letter_id_], self.received[letter_id_]
            if letter.status is Status.SENT and accepted != 1:
                out.append(f"{letter_id_} ({letter.kind}) sent but delivered {accepted} times")
            elif letter.status is Status.CANCELLED and received:
                out.append(f"{letter_id_} ({letter.kind}) cancelled but reached a transport")
            elif letter.status not in (Status.SENT, Status.CANCELLED):
                out.append(f"{letter_id_} ({letter.kind}) ended {letter.status.value}")
            if received > 1 and letter.attempts < received:
                out.append(f"{letter_id_} reached its transport {received} times in "
                           f"{letter.attempts} attempts")
            if self.platform[letter_id_] > 1 + letter.resends:
                out.append(f"{letter_id_} reached the platform {self.platform[letter_id_]} "
                           f"times but waited out an uncertain send only {letter.resends}")
            listed = letter_id_ in self.listed_cancelled
            if listed != (letter.status is Status.CANCELLED):
                out.append(f"{letter_id_} ended {letter.status.value} but the events' results "
                           f"{'listed' if listed else 'did not list'} it as cancelled")
        unknown = set(self.received) - set(self.letters)
        out += [f"{x}: delivered but not a letter in the store" for x in sorted(unknown)]
        return out

    def summary(self) -> dict[str, int]:
        statuses = Counter(x.status.value for x in self.letters.values())
        return {**statuses, "taken over": sum(1 for x in self.letters.values()
                                              if x.attempts > 1),
                "repeated at the transport": sum(1 for n in self.received.values() if n > 1),
                "resent after an uncertain wait": sum(1 for x in self.letters.values()
                                                      if x.resends)}


def cpr_lines(texts: Iterator[tuple[str, str]]) -> list[str]:
    """Log lines that contain a CPR-shaped number (what the redaction would mask; UUIDs,
    the letter ids, taken out first)."""
    return [f"{name}: {redact_text(line)[:200]}" for name, text in texts
            for line in text.splitlines() if looks_like_cpr(UUID.sub("", line))]
