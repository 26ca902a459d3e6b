"""The document handed to SF1601, kept until the send is known (issue 13's gap from issue
12): a letter whose send turned ``uncertain`` and is later settled as sent by its
PKO_PostStatus had no stored document, so aktindsigt had none and its ``letter.sent``
callback carried ``document: null``. The deliverer now keeps the document it is about
to hand over (``doc-pending:<letter id>``); settling the letter adopts it as the sent
document (``doc:<letter id>``), unless one is stored already.

A resend after the uncertain wait renders again (its send date may differ) and replaces
the pending document: the one adopted is the last handed over. If the platform took the
first request, the two differ at most in the dates the send day decides.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from notifier.store.keys import DOC
from notifier.store.keys import DOC_PENDING as PENDING


def keep_pending(client: Any, letter_id: str, document: Mapping[str, str]) -> None:
    with client.pipeline(transaction=True) as pipe:
        pipe.delete(PENDING + letter_id)
        pipe.hset(PENDING + letter_id, mapping=dict(document))
        pipe.execute()


def adopt_pending(client: Any, letter_id: str) -> bool:
    """Store the pending document as the sent one if none is stored; True if it was. The
    pending copy goes once the sent one is there (a crash in between leaves it for the
    next settle, which finds the sent one and only drops the copy)."""
    pending = client.hgetall(PENDING + letter_id)
    if not pending:
        return False
    adopted = not client.exists(DOC + letter_id)
    with client.pipeline(transaction=True) as pipe:
        if adopted:
            pipe.hset(DOC + letter_id, mapping=pending)
        pipe.delete(PENDING + letter_id)
        pipe.execute()
    return adopted


def drop_pending(client: Any, letter_id: str) -> None:
    client.delete(PENDING + letter_id)
