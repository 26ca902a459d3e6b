"""Log-leak check on the demo: `notifier demo` with JSON logs at debug level, every line it
writes and every e-mail it sends, searched for CPR-shaped numbers.

The demo's cases carry CPR numbers (asserted below, so the check has something to find).
"CPR-shaped" is what the redaction masks (notifier.identifiers.looks_like_cpr). UUIDs are
taken out first: they are letter ids, and a hex group like ``ab010190-1234`` looks like
DDMMYY-SSSS. The rest of the suite is guarded by tests/support/log_leak.py.
"""

from __future__ import annotations

import json
import os
import subprocess
from email import message_from_bytes, policy
from email.message import EmailMessage
from importlib import resources
from pathlib import Path

import pytest

from notifier.identifiers import looks_like_cpr
from tests.integration.conftest import NOTIFIER
from tests.support.log_leak import UUID

pytestmark = pytest.mark.integration


def demo_cprs() -> set[str]:
    text = resources.files("notifier").joinpath("scenarios", "demo.jsonl").read_text("utf-8")
    events = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    return {e["data"]["citizen"]["cpr"] for e in events if e["type"] == "sick_leave_reported"}


def shaped(text: str) -> bool:
    return looks_like_cpr(UUID.sub("", text))


def mail_texts(path: Path) -> list[str]:
    """An .eml's headers and each decoded part (a base64 or quoted-printable body would
    hide a number from a plain search of the file)."""
    message = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(message, EmailMessage)
    texts = [f"{k}: {v}" for k, v in message.items()]
    texts += [part.get_content() for part in message.walk() if not part.is_multipart()]
    return [t if isinstance(t, str) else t.decode("utf-8", "replace") for t in texts]


def test_demo_logs_and_mails_carry_no_cpr(tmp_path: Path) -> None:
    """Given the demo's three cases (each with a citizen's CPR), when `notifier demo` runs
    with JSON logs at debug level, then it logs and mails, and no log line, printed line or
    e-mail (headers and decoded bodies) contains a CPR-shaped number or one of the CPRs."""
    cprs = demo_cprs()
    assert cprs and all(looks_like_cpr(c) for c in cprs)
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("NOTIFIER_")}
    env.update(NOTIFIER_LOG_LEVEL="debug", NOTIFIER_LOG_FORMAT="json")
    result = subprocess.run([NOTIFIER, "demo"], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    records = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert any(r.get("event") == "letter.sent" for r in records), "the demo logged nothing"
    mails = sorted((tmp_path / "outbox" / "mail").glob("*.eml"))
    assert mails, "the demo sent no e-mail"
    lines = [("log", line) for line in result.stderr.splitlines()]
    lines += [("stdout", line) for line in result.stdout.splitlines()]
    lines += [(m.name, text) for m in mails for text in mail_texts(m)]
    leaked = [f"{where}: {text[:120]}" for where, text in lines
              if shaped(text) or any(c in text or f"{c[:6]}-{c[6:]}" in text for c in cprs)]
    assert leaked == []
