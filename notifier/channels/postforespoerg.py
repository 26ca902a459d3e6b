"""SF1601 PostForespoerg: can this citizen receive Digital Post?

``GET <postforespoerg_url>/digitalpost?cprNumber=…`` with the same token flow as the kombi
call (entity id ``http://entityid.kombit.dk/service/postforespoerg/1``), the same
``x-TransaktionsId``/``x-TransaktionsTid`` headers, answered with JSON
``{"result": true|false}`` (itk-dev/serviceplatformen ``SF1601::postForespoerg``; the
KOMBIT documentation names more fields that no public client reads).

The URL carries a CPR number: it is never logged, and errors name only the step. Answers
are cached for ``NOTIFIER_POSTFORESPOERG_CACHE_SECONDS`` under a hash of the number, so a
burst of letters to one citizen asks once.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from datetime import datetime, timedelta

import httpx

from notifier.channels.gateway import Sf1601Gateway, transaction_time
from notifier.channels.sts import ENTITY_POSTFORESPOERG
from notifier.errors import ConfigError, TransientError
from notifier.settings import Settings


class PostForespoerg:
    def __init__(self, settings: Settings, gateway: Sf1601Gateway) -> None:
        if not settings.postforespoerg_url:
            raise ConfigError("NOTIFIER_POSTFORESPOERG_URL: required to ask SF1601")
        self.url = settings.postforespoerg_url.rstrip("/") + "/digitalpost"
        self.gateway = gateway
        self.ttl = timedelta(seconds=settings.postforespoerg_cache_seconds)
        self.cache: dict[str, tuple[bool, datetime]] = {}
        self.lock = threading.Lock()

    def can_receive(self, cpr: str) -> bool:
        """True if the citizen can receive Digital Post; TransientError if unknown now."""
        key = hashlib.sha256(cpr.encode()).hexdigest()
        now = self.gateway.clock.now()
        with self.lock:
            cached = self.cache.get(key)
        if cached is not None and now < cached[1]:
            return cached[0]
        answer = self._ask(cpr)
        with self.lock:
            self.cache[key] = (answer, now + self.ttl)
        return answer

    def _ask(self, cpr: str) -> bool:
        tokens = self.gateway.tokens
        for attempt in range(2):
            headers = {
                "Accept": "application/json",
                "Authorization": tokens.authorization(ENTITY_POSTFORESPOERG),
                "x-TransaktionsId": str(uuid.uuid4()),
                "x-TransaktionsTid": transaction_time(self.gateway.clock.now()),
            }
            try:
                response = self.gateway.client.get(self.url, params={"cprNumber": cpr},
                                                   headers=headers)
            except httpx.TransportError as exc:
                raise TransientError(f"PostForespoerg: no answer ({type(exc).__name__})") \
                    from None
            if response.status_code == 401 and attempt == 0:
                tokens.invalidate(ENTITY_POSTFORESPOERG)
                continue
            break
        if response.status_code != 200:
            raise TransientError(f"PostForespoerg: HTTP {response.status_code}")
        try:
            result = response.json().get("result")
        except (ValueError, AttributeError):
            result = None
        if not isinstance(result, bool):
            raise TransientError("PostForespoerg: the answer has no boolean 'result'")
        return result
