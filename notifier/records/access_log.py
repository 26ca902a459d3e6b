"""The access log (tilgangslog, issue 14): who read which case's personal data, when, why.

Every read of a case timeline, a letter, a sent document, a preview with case data or an
export appends one entry, through the API, the caseworker pages or the CLI. The API and
/ui record through the dependencies in ``notifier/api/reads.py``; the CLI through
``cli_read`` here. Nothing else writes these keys.

Storage (a contract with the retention/archive work, issue 14a; keep it exactly):
  access:case:<case id>      list, the case's entries (compact JSON, RPUSH: append-only)
  access:user:<principal>    list, the same entries by who read
An entry: ``at`` (UTC, from the Clock, to the second), ``principal``, ``role``,
``case_id``, ``what``, ``via`` (api|ui|cli) and, when given, ``purpose`` and
``letter_id``. Every text field passes the CPR recogniser: a CPR number is masked, never
stored. Entries older than NOTIFIER_ACCESS_LOG_RETENTION_DAYS are dropped from the head of
a list when it is next written, and a list nobody writes to expires when its newest entry
reaches that age.
"""

from __future__ import annotations

import csv
import getpass
import io
import json
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import redis

from notifier import names
from notifier.clock import Clock
from notifier.errors import InputError
from notifier.identifiers import mask_cpr
from notifier.intake.plaintext import control_problem
from notifier.store.replication import Durability

if TYPE_CHECKING:
    from notifier.runtime import Runtime

CASE_KEY = names.KEY_PREFIX + "access:case:"
USER_KEY = names.KEY_PREFIX + "access:user:"
# Reads of a purged case's archive: kept apart, so they never bring back the case's own
# list the purge removed (that list is access-log.json in the archive).
ARCHIVE_KEY = names.KEY_PREFIX + "access:archive:"
MASK = "[CPR]"
PURPOSE_MAX = 200
COLUMNS = ("at", "principal", "role", "case_id", "what", "letter_id", "purpose", "via")
CLI_ROLE = "shell"  # someone with a shell and the Redis URL: no token, so no API role

# Append to both lists, drop entries past retention from their heads, and keep each list
# alive for the retention period after its newest entry. One script: both lists or none.
_APPEND = """
for i = 1, 2 do
  redis.call('RPUSH', KEYS[i], ARGV[1])
  while true do
    local head = redis.call('LINDEX', KEYS[i], 0)
    if not head or cjson.decode(head)['at'] >= ARGV[2] then break end
    redis.call('LPOP', KEYS[i])
  end
  redis.call('EXPIRE', KEYS[i], ARGV[3])
end
return 1
"""


class Via(StrEnum):
    API = "api"
    UI = "ui"
    CLI = "cli"


def check_purpose(purpose: str | None) -> str | None:
    """A purpose as given (trimmed), or None; InputError for control characters or length.
    A CPR number in it is masked when the entry is written, not refused: the read happens
    either way and must be logged."""
    if purpose is None or not purpose.strip():
        return None
    purpose = purpose.strip()
    problem = control_problem(purpose, multiline=False)
    if problem:
        raise InputError.single("purpose", problem)
    if len(purpose) > PURPOSE_MAX:
        raise InputError.single("purpose", f"at most {PURPOSE_MAX} characters")
    return purpose


class AccessLog:
    def __init__(self, client: redis.Redis, clock: Clock, *, retention_days: int,
                 coalesce_seconds: int = 0, durability: Durability | None = None) -> None:
        self.redis: Any = client
        self.clock = clock
        self.durability = durability or Durability()
        self.retention = timedelta(days=retention_days)
        self.coalesce = timedelta(seconds=coalesce_seconds)
        self._append = self.redis.register_script(_APPEND)

    def record(self, *, principal: str, role: str, case_id: str, what: str, via: Via,
               purpose: str | None = None, letter_id: str | None = None,
               archived: bool = False) -> dict[str, str]:
        """Append one entry (returned). The same read by the same person repeated within
        NOTIFIER_ACCESS_LOG_COALESCE_SECONDS (a reload, the live preview's keystrokes) is
        one entry: the log says who looked at what, not how often the page was drawn."""
        now = self.clock.now()
        entry = {"at": _stamp(now), "principal": principal, "role": role, "case_id": case_id,
                 "what": what, "via": via.value}
        if purpose:
            entry["purpose"] = purpose
        if letter_id:
            entry["letter_id"] = letter_id
        entry = {key: mask_cpr(value, MASK) for key, value in entry.items()}
        user_key = USER_KEY + entry["principal"]
        case_key = (ARCHIVE_KEY if archived else CASE_KEY) + entry["case_id"]
        if not (self.coalesce and self._repeats(user_key, entry, now)):
            self._append(keys=[case_key, user_key],
                         args=[json.dumps(entry, separators=(",", ":"), ensure_ascii=False),
                               _stamp(now - self.retention),
                               max(int(self.retention.total_seconds()), 1)])
        # Issue 15: nothing is shown until the entry is on the replicas (NotReplicated, a
        # Redis timeout: 503), or a failover could lose the record of a read that happened.
        # A coalesced repeat confirms the entry it repeats: its own first read may have
        # been refused for want of a replica.
        self.durability.confirm(self.redis, [case_key, user_key])
        return entry

    def _repeats(self, user_key: str, entry: dict[str, str], now: datetime) -> bool:
        last = self.redis.lindex(user_key, -1)
        if last is None:
            return False
        previous = json.loads(last)
        same = {k: v for k, v in previous.items() if k != "at"} == {
            k: v for k, v in entry.items() if k != "at"}
        return same and datetime.fromisoformat(previous["at"]) > now - self.coalesce

    def for_case(self, case_id: str) -> list[dict[str, str]]:
        return self._read(CASE_KEY + case_id)

    def for_archive(self, case_id: str) -> list[dict[str, str]]:
        return self._read(ARCHIVE_KEY + case_id)

    def for_user(self, principal: str) -> list[dict[str, str]]:
        return self._read(USER_KEY + principal)

    def _read(self, key: str) -> list[dict[str, str]]:
        return [json.loads(raw) for raw in self.redis.lrange(key, 0, -1)]


def _stamp(instant: datetime) -> str:
    # Fixed width, to the second, in UTC: the Lua trim compares these as strings.
    return instant.astimezone(UTC).isoformat(timespec="seconds")


def export(entries: Iterable[dict[str, str]], fmt: str) -> str:
    """Entries as CSV (a header, one row each) or JSON (a list), for GDPR art. 15 access
    requests (per case) and security audits (per user)."""
    rows = list(entries)
    if fmt == "json":
        return json.dumps(rows, ensure_ascii=False, indent=1) + "\n"
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore",
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def access_log(runtime: Runtime) -> AccessLog:
    settings = runtime.settings
    return AccessLog(runtime.client, runtime.clock,
                     retention_days=settings.access_log_retention_days,
                     coalesce_seconds=settings.access_log_coalesce_seconds,
                     durability=runtime.store.durability)


def cli_user() -> str:
    """Who runs the command: the login name (the CLI has no token)."""
    return getpass.getuser()


def cli_read(runtime: Runtime, case_id: str, what: str, purpose: str | None = None,
             letter_id: str | None = None, *, archived: bool = False) -> None:
    """The CLI's one way to log a read of personal data (as the API's dependency)."""
    access_log(runtime).record(principal=cli_user(), role=CLI_ROLE, case_id=case_id,
                               what=what, via=Via.CLI, purpose=check_purpose(purpose),
                               letter_id=letter_id, archived=archived)
