"""The operations data and actions as JSON, for the ``operator`` role (issue 13): the same
view and actions as the operations page (``ui_operations.py``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends
from pydantic import BaseModel, ConfigDict, Field

from notifier.api.access import RuntimeDep, require
from notifier.api.auth import Principal, Role
from notifier.api.letters import find_letter
from notifier.operations.survey import (
    dead_callback_ids,
    operations_view,
    replay_callbacks,
    retry_dead_letter,
)

router = APIRouter(prefix="/operations", tags=["operations"])
Operator = Annotated[Principal, Depends(require(Role.OPERATOR))]


class ReplayRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[str] | None = Field(
        default=None, max_length=10_000,
        description="Callback item ids (<letter id>.<sequence>); omitted: every dead one")


@router.get("")
def get_operations(runtime: RuntimeDep, _: Operator, live: bool = False) -> dict[str, Any]:
    """Dead, uncertain, held, overdue and stranded letters, callbacks, the dispatcher's
    heartbeat, queue depth, certificate expiry and the last sweep. With many letters (the
    last sweep's survey took over 2 s, within the hour), the dead, uncertain and held
    letters are those that survey found, each read again now (``survey.by`` is ``sweep``;
    letters stranded since are the sweeper's to repair); ``live=true`` surveys every letter
    now."""
    return operations_view(runtime, live=live)


@router.post("/letters/{letter_id}/retry")
def post_retry(runtime: RuntimeDep, who: Operator, letter_id: str) -> dict[str, Any]:
    """Requeue a dead letter under its own id (409 if it was never dead)."""
    find_letter(runtime.store, letter_id)
    done = retry_dead_letter(runtime, letter_id, by=who.label)
    return {"letter_id": letter_id, "outcome": "retried" if done else "already_retried"}


@router.post("/callbacks/replay")
def post_replay(runtime: RuntimeDep, who: Operator,
                body: Annotated[ReplayRequest | None, Body()] = None) -> dict[str, Any]:
    """Send callback items again under their own webhook-id."""
    items = body.items if body and body.items is not None else dead_callback_ids(runtime.store)
    return {"replayed": replay_callbacks(runtime, items, by=who.label)}
