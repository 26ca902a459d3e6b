"""Ad-hoc letters: a caseworker sends any catalog kind, or free text (kind ``adhoc``), now
or at a chosen time, and previews it first with the very renderer the real send uses.

The letter id is derived from the case and an idempotency key (the client's, or a hash
of the request), so a retried request finds the letter it already created.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
)

from notifier.api.cases import check_case_id, find_case
from notifier.api.letters import letter_view
from notifier.calendar import Roll
from notifier.delivery.context import jobcenter_context, letter_context
from notifier.delivery.render import Rendered, missing_values
from notifier.errors import ConflictError, FieldError, InputError, RenderError
from notifier.identifiers import letter_id as derive_letter_id
from notifier.intake.bounds import horizon_errors
from notifier.intake.events import CASE_ID, AwareDateTime, Id, IsoDate
from notifier.intake.plaintext import (
    NO_CPR,
    not_blank,
    one_line,
    script_problem,
    text_problem,
    unix_newlines,
)
from notifier.models import CaseState, Letter, Recipient, Status
from notifier.planning.catalog import LetterKind
from notifier.planning.planner import MissingReference
from notifier.planning.rules import SCOPES
from notifier.runtime import Runtime

ADHOC = "adhoc"
Paragraph = Annotated[str, BeforeValidator(unix_newlines),
                      StringConstraints(strip_whitespace=True, min_length=1, max_length=5000),
                      AfterValidator(not_blank)]
Subject = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
# Which request field to fix when the template misses a value under this context root.
_FIELD_FOR = {"adhoc": "paragraphs", "meeting": "meeting_id", "decision": "decision_id",
              "employer": "recipient"}


class LetterRequest(BaseModel):
    """``POST /cases/{case_id}/letters`` and ``notifier send``."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(max_length=64, description="A catalog letter kind, or 'adhoc'",
                      examples=["adhoc", "meeting_summons", "decision", "information_form"])
    recipient: Literal["citizen", "employer"] | None = Field(
        default=None, description="Default: the kind's recipient (citizen if both)")
    subject: Subject | None = Field(default=None, description="adhoc: the heading")
    paragraphs: list[Paragraph] = Field(default_factory=list, max_length=50,
                                        description="adhoc: the text, one item a paragraph")
    deadline: IsoDate | None = Field(
        default=None, description="adhoc: an answer deadline (moved to a working day)")
    meeting_id: Id | None = Field(default=None, description="For a kind about a meeting")
    decision_id: Id | None = Field(default=None, description="For a kind about a decision")
    send_at: AwareDateTime | None = Field(
        default=None, description="Not before; the send window applies unless immediate")
    immediate: StrictBool = Field(default=False, description="Ignore the send window")
    idempotency_key: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{1,128}$"),
                               AfterValidator(one_line)] | None = Field(
        default=None, description="Same key, same letter: a retried request creates none")


class PreviewRequest(LetterRequest):
    """``POST /letters/preview``: a letter request rendered, never stored or sent."""

    case_id: Annotated[str, StringConstraints(pattern=CASE_ID.pattern)] | None = Field(
        default=None, description="The case to take data from; without it, sample data",
        examples=["SDP-2026-0042"])
    format: Literal["html", "pdf"] = "html"


@dataclass(frozen=True)
class Draft:
    letter: Letter
    rendered: Rendered


def create_letter(runtime: Runtime, case_id: str, request: LetterRequest, *, by: str
                  ) -> tuple[dict[str, Any], bool]:
    """Plan the letter; returns (its view, created). A repeated request returns the letter
    it created the first time, unchanged, whatever has happened to it since."""
    now = runtime.clock.now()
    letter_id = derive_letter_id(check_case_id(case_id), ADHOC, _key(request))
    existing = runtime.store.letter(letter_id)
    if existing is None:
        draft = draft_letter(runtime, case_id, request, now, by=by)
        created = runtime.store.add_letter(draft.letter, now, why="adhoc_planned",
                                           audit={"by": by})
        existing = runtime.store.letter(letter_id)
        assert existing is not None
    else:
        created = False
        if existing.kind != request.kind:
            raise ConflictError.single("idempotency_key", "already used for another letter")
    runtime.store.confirm_letter(letter_id)  # issue 15: on the replicas before the answer
    catalog, calendar = runtime.renderer.catalog, runtime.planner.calendar
    return letter_view(existing, catalog, calendar), created


def draft_letter(runtime: Runtime, case_id: str, request: LetterRequest, now: datetime, *,
                 by: str) -> Draft:
    """The letter the request asks for, checked and rendered as it would be sent."""
    case = find_case(runtime, case_id)
    if case.closed:
        raise ConflictError.single("case_id", "the case is closed; it gets no more letters")
    entry = _kind(runtime, request)
    _check_text(request, runtime.settings.letter_max_chars)
    _check_horizon(request, now)
    recipient = _recipient(entry, request, case)
    scope = _scope(runtime, request, case)
    send_at = _send_at(runtime, request, now)
    letter = Letter(
        letter_id=derive_letter_id(case_id, ADHOC, _key(request)),
        case_id=case_id,
        kind=entry.kind,
        recipient=recipient,
        channel=runtime.planner.channel_for(recipient, case),
        send_at=send_at,
        status=Status.SCHEDULED,
        cause=by,
        scope=scope,
        deadline=_deadline(runtime, request, send_at),
        params=_params(request, case, scope),
    )
    return Draft(letter, compose(runtime, letter, case))


def preview(runtime: Runtime, request: PreviewRequest) -> Rendered:
    """Render without storing: from the case's data if a case is given, else the sample."""
    if request.case_id is not None:
        return draft_letter(runtime, request.case_id, request, runtime.clock.now(),
                            by="preview").rendered
    entry = _kind(runtime, request)
    _check_text(request, runtime.settings.letter_max_chars)
    _check_horizon(request, runtime.clock.now())
    context = copy.deepcopy(entry.sample)
    context["jobcenter"] = jobcenter_context(runtime.settings)
    if request.kind == ADHOC and request.paragraphs:
        context["adhoc"] = {"subject": request.subject or "",
                            "paragraphs": _paragraphs(request.paragraphs)}
    return _render(runtime, entry.kind, context)


def compose(runtime: Runtime, letter: Letter, case: CaseState) -> Rendered:
    """What the worker would render for ``letter`` if it went out on its send date."""
    send_date = runtime.planner.calendar.local_date(letter.send_at)
    letters = runtime.store.case_letters(case.case_id)
    try:
        deadlines = runtime.planner.deadlines(letter, case, letters, send_date)
    except MissingReference as exc:
        raise InputError.single("kind", f"cannot be sent ad hoc for this case: {exc}") from None
    context = letter_context(letter, case, runtime.settings, send_date, deadlines)
    missing = missing_values(runtime.renderer.catalog[letter.kind].required, context)
    if missing:
        raise InputError([FieldError(_field_for(path), f"{letter.kind} needs {path}, which "
                                     "this request and case do not give") for path in missing])
    return _render(runtime, letter.kind, context)


def _render(runtime: Runtime, kind: str, context: dict[str, Any]) -> Rendered:
    try:
        return runtime.renderer.render(kind, context)
    except RenderError as exc:
        raise InputError.single("kind", f"cannot be rendered: {exc}") from None


def _key(request: LetterRequest) -> str:
    if request.idempotency_key:
        return "key:" + request.idempotency_key
    body = request.model_dump(mode="json", exclude={"idempotency_key", "case_id", "format"})
    return "body:" + hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _kind(runtime: Runtime, request: LetterRequest) -> LetterKind:
    catalog = runtime.renderer.catalog
    sendable = sorted(k for k, v in catalog.kinds.items()
                      if set(v.recipients) - {Recipient.CASEWORKER})
    if request.kind not in sendable:
        raise InputError.single("kind", "must be a letter kind for a citizen or employer: "
                                + ", ".join(sendable))
    return catalog[request.kind]


def _check_text(request: LetterRequest, max_chars: int) -> None:
    if request.kind != ADHOC:
        given = [f for f in ("subject", "paragraphs", "deadline") if getattr(request, f)]
        if given:
            raise InputError([FieldError(f, "only for kind adhoc; the template writes the "
                                         "text of this kind") for f in given])
        return
    if not request.paragraphs:
        raise InputError.single("paragraphs", "write at least one paragraph")
    texts = {"subject": request.subject or ""} | {
        f"paragraphs.{i}": p for i, p in enumerate(request.paragraphs)}
    problems = {name: text_problem(text, multiline=name != "subject") or script_problem(text)
                for name, text in texts.items()}
    bad = [FieldError(name, problem + ("; letters never print one" if problem == NO_CPR
                                       else "")) for name, problem in problems.items() if problem]
    if bad:
        raise InputError(bad)
    size = sum(map(len, texts.values()))
    if size > max_chars:  # bounds the render time and the PDF (NOTIFIER_LETTER_MAX_CHARS)
        raise InputError.single("paragraphs", f"too long: {size} characters in all; a letter "
                                f"holds at most {max_chars}")


def _check_horizon(request: LetterRequest, now: datetime) -> None:
    ahead = horizon_errors({"deadline": request.deadline, "send_at": request.send_at}, now)
    if ahead:
        raise InputError(ahead)


def _recipient(entry: LetterKind, request: LetterRequest, case: CaseState) -> Recipient:
    allowed = [r for r in entry.recipients if r is not Recipient.CASEWORKER]
    recipient = Recipient(request.recipient) if request.recipient else allowed[0]
    if recipient not in allowed:
        raise InputError.single("recipient", f"{entry.kind} goes to "
                                + " or ".join(r.value for r in allowed))
    if recipient is Recipient.EMPLOYER and not case.parties.get("employer"):
        raise InputError.single("recipient", "the case has no employer")
    return recipient


def _scope(runtime: Runtime, request: LetterRequest, case: CaseState) -> str:
    """The meeting or decision a kind is about, which must exist on the case."""
    rule = runtime.planner.rules.letters.get(request.kind)
    wanted = SCOPES.get(rule.scope or "") if rule else None
    known: dict[str, dict[str, Any]] = {"meeting_id": dict(case.meetings),
                                        "decision_id": case.decisions}
    for name, items in known.items():
        value = getattr(request, name)
        if name != wanted:
            if value is not None:
                raise InputError.single(name, f"{request.kind} is not about a "
                                        f"{name.removesuffix('_id')}; leave it out")
            continue
        if value is None or value not in items:
            choices = ", ".join(sorted(items)) or "none"
            problem = "required" if value is None else "unknown for this case"
            raise InputError.single(name, f"{problem} for {request.kind} (the case has: "
                                    f"{choices})")
        return str(value)
    return ""


def _send_at(runtime: Runtime, request: LetterRequest, now: datetime) -> datetime:
    calendar = runtime.planner.calendar
    if request.send_at is not None and request.send_at < now:
        raise InputError.single("send_at", "is in the past")
    earliest = request.send_at or now
    return earliest.astimezone(UTC) if request.immediate else calendar.send_window(earliest)


def _deadline(runtime: Runtime, request: LetterRequest, send_at: datetime) -> date | None:
    """A citizen's deadline: after the send date, moved forward to a working day."""
    if request.deadline is None:
        return None
    calendar = runtime.planner.calendar
    if request.deadline <= calendar.local_date(send_at):
        raise InputError.single("deadline", "must be after the day the letter is sent "
                                f"({calendar.local_date(send_at).isoformat()})")
    return calendar.roll(request.deadline, Roll.FORWARD)


def _params(request: LetterRequest, case: CaseState, scope: str) -> dict[str, str]:
    if request.kind == ADHOC:
        return {"adhoc": "\n\n".join(_paragraphs(request.paragraphs)),
                "subject": request.subject or ""}
    meeting = case.meetings.get(scope) if scope else None
    if meeting is not None and meeting.previous_starts_at:  # as the planner gives it
        return {"previous_starts_at": meeting.previous_starts_at.isoformat()}
    return {}


def _paragraphs(paragraphs: list[str]) -> list[str]:
    """Blank lines inside an item split it: stored text is joined by blank lines."""
    text = "\n\n".join(paragraphs).replace("\r\n", "\n")
    return [part.strip() for part in text.split("\n\n") if part.strip()]


def _field_for(path: str) -> str:
    if path == "letter.deadline":
        return "deadline"
    return _FIELD_FOR.get(path.split(".")[0], "kind")
